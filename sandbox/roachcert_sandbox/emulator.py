"""A local emulator of the CockroachDB Cloud client CA API, with fault knobs, for tests and the sandbox.
About 480 lines on purpose: one HTTP handler whose routes mirror the published API one to one, so the
OpenAPI check (tests/openapi_check.py) and a reader compare it with the document route by route.

API (Bearer key required): `GET /api/v1/clusters` (paginated, emulator_listing.py), `GET /api/v1/clusters/{id}`
and `GET|POST|PATCH|DELETE
/api/v1/clusters/{id}/client-ca-cert`, as reference/cockroach-cloud-client-ca.md describes.
Console (public, no key): `GET /clusters/{id}/cert`, the cluster's CA certificate as PEM ("Download CA
Cert"): one CA per emulator (cluster_ca.py), kept beside the state file.
Admin (loopback only, no key): `GET /_admin/health`, `GET|POST /_admin/clusters`, `POST /_admin/paging`
({"max_page_size": N}), `POST /_admin/server-cert` ({"hosts": [...]}: a server certificate and key signed by
the cluster CA, as Cockroach Cloud gives its nodes; the sandbox's PostgreSQL wears it),
`DELETE /_admin/clusters/{id}`, `GET|POST|DELETE /_admin/faults`, `GET|DELETE /_admin/requests`.
Fault knobs (POST /_admin/faults JSON, or RunningEmulator.set_faults): latency_seconds, fail_next,
fail_status, fail_method, fail_body, fail_location, drop_next, stuck_pending, end_failed,
answer_status, pending_seconds; and the modes for what no public source settles (emulator_state.MODES).
Answer log (tests): with ROACHCERT_EMULATOR_ANSWER_LOG=FILE (or `answer_log`), every API answer is also
appended to FILE as one JSON line {method, path, status, answer, json, deliberate}; the tests check each
against the API's published OpenAPI document (tests/openapi_check.py). `deliberate` names a knob that
answers outside the document on purpose (answer_status: a status value a later API version may add).
JWT mode (POST /_admin/jwt {"token", "vanity_name", "username"}): that bearer token is accepted too, but
only with matching Cc-Vanity-Name / Cc-Username headers, as the real API needs them for a JWT.
The request path is taken as sent: `//api/...` (a server URL with a trailing slash) is not an API path.

Run: `COCKROACH_API_KEY=... python -m roachcert_sandbox.emulator --state FILE --port N`; it prints
one line, `listening on URL`, and stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import contextlib
import hmac
import json
import os
import re
import signal
import socket
import sys
import threading
import time
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from roachcert_sandbox import cluster_ca, emulator_listing
from roachcert_sandbox.emulator_state import ApiProblem, Cluster, EmulatorState, Faults
from roachcert_sandbox.tls import Ca, make_server_tls

_CLUSTER = re.compile(r"^/api/v1/clusters/([^/]+)$")
_CLIENT_CA = re.compile(r"^/api/v1/clusters/([^/]+)/client-ca-cert$")
_CONSOLE_CERT = re.compile(r"^/clusters/([^/]+)/cert$")
ANSWER_LOG_ENV = "ROACHCERT_EMULATOR_ANSWER_LOG"
_FAULT_CODES = {429: 8, 500: 13, 502: 14, 503: 14, 401: 16, 403: 7, 404: 5}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Terraform refreshes ten resources at once; socketserver's backlog of 5 drops connections under load.
    request_queue_size = 128

    def __init__(
        self, port: int, state: EmulatorState, api_key: str, ca: Ca, answer_log: Path | None = None
    ) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.state = state
        self.api_key = api_key
        self.cluster_ca = ca
        # The Console's requests, apart from the API's log (they are no API calls): path and whether
        # an Authorization header came along (it never should).
        self.console_requests: list[dict[str, Any]] = []
        self.answer_log = answer_log
        self.answer_lock = threading.Lock()

    def record_answer(self, method: str, path: str, status: int, answer: Any, is_json: bool) -> None:
        """One line of the answer log; O_APPEND keeps lines whole when several emulators share the file."""
        if self.answer_log is None:
            return
        with self.state.lock:
            odd_status = self.state.faults.answer_status
        deliberate = "answer_status" if odd_status and status == 200 and _CLIENT_CA.match(path) else ""
        entry = {"method": method, "path": path, "status": status, "answer": answer, "json": is_json}
        line = json.dumps({**entry, "deliberate": deliberate})
        with self.answer_lock, self.answer_log.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, a keep-alive client (requests.Session)
    # waits for the delayed ACK: ~40 ms per request instead of ~1 ms.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request log is at /_admin/requests."""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _raw_path(self) -> str:
        # http.server folds a leading "//" in self.path; the request line keeps what the client sent.
        words = self.requestline.split()
        return (words[1] if len(words) >= 2 else self.path).split("?", 1)[0]

    def _dispatch(self, method: str) -> None:
        path = self._raw_path()
        if method == "GET" and (console := _CONSOLE_CERT.match(path)):
            self._console_cert(path, console.group(1))
            return
        if method == "POST" and path == "/_admin/server-cert":
            self._server_cert()
            return
        state = self.server.state
        admin = path.startswith("/_admin/")
        try:
            body = self._read_json()
            if not admin and state.take_drop(method):
                self._log(method, path, 0, None)
                self._drop()
                return
            if admin:
                status, answer = 200, _admin(state, method, path, body)
            else:
                status, answer = 200, self._api(method, path, body)
        except ApiProblem as problem:
            status, answer = problem.http_status, problem.body()
        except _Raw as raw:
            self._log(method, path, raw.status, None, is_json=False)
            self._send_raw(raw)
            return
        if not admin:
            self._log(method, path, status, answer)
        self._send(status, answer)

    def _console_cert(self, path: str, cluster_id: str) -> None:
        """The Console's "Download CA Cert": public, PEM, 404 for a cluster it does not know."""
        state = self.server.state
        with state.lock:
            known = cluster_id in state.clusters
            self.server.console_requests.append(
                {
                    "path": path,
                    "authorization": "Authorization" in self.headers,
                    "status": 200 if known else 404,
                }
            )
        if known:
            self._send_raw(_Raw(200, self.server.cluster_ca.cert_pem, ""), "application/x-pem-file")
        else:
            self._send_raw(_Raw(404, "Not Found\n", ""), "text/plain; charset=utf-8")

    def _server_cert(self) -> None:
        """A node's server certificate for `hosts` (and 127.0.0.1, localhost), signed by the cluster CA."""
        try:
            body = self._read_json()
        except ApiProblem as problem:
            self._send(problem.http_status, problem.body())
            return
        hosts = body.get("hosts") if isinstance(body, dict) else None
        if not isinstance(hosts, list) or not all(isinstance(h, str) and h for h in hosts):
            self._send(400, ApiProblem(400, 3, 'body must be {"hosts": ["host", ...]}').body())
            return
        tls = make_server_tls("127.0.0.1", ca=self.server.cluster_ca, extra_hosts=tuple(hosts))
        self._send(200, {"cert_pem": tls.cert_pem, "key_pem": tls.key_pem, "ca_pem": tls.ca_pem})

    def _log(self, method: str, path: str, status: int, answer: Any, *, is_json: bool = True) -> None:
        # Never the Authorization header: only whether one was sent. `answer` is the JSON sent back
        # (checked against the API's OpenAPI document by the tests); status 0: no answer at all.
        self.server.state.log_request(
            {
                "method": method,
                "path": path,
                "status": status,
                "answer": answer,
                "authorization": "Authorization" in self.headers,
                "user_agent": self.headers.get("User-Agent", ""),
                "cc_version": self.headers.get("Cc-Version", ""),
                "cc_vanity_name": self.headers.get("Cc-Vanity-Name", ""),
                "cc_username": self.headers.get("Cc-Username", ""),
            }
        )
        self.server.record_answer(method, path, status, answer, is_json)

    def _drop(self) -> None:
        """Close the connection without a byte of answer (a reset mid-request, as the client sees it)."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _read_json(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        if length <= 0:
            return None
        raw = self.rfile.read(length)
        try:
            return json.loads(raw)
        except ValueError:
            raise ApiProblem(400, 3, "request body is not JSON") from None

    def _api(self, method: str, path: str, body: Any) -> Any:
        state = self.server.state
        with state.lock:
            latency = state.faults.latency_seconds
        if latency > 0:
            time.sleep(latency)
        fault = state.take_fault(method)
        if fault is not None:
            with state.lock:
                fail_body, location = state.faults.fail_body, state.faults.fail_location
            if fault < 400 or fail_body:
                raise _Raw(fault, fail_body, location if fault < 400 else "")
            raise ApiProblem(fault, _FAULT_CODES.get(fault, 2), f"injected fault: HTTP {fault}")
        self._authenticate()
        if path == "/api/v1/clusters":
            if method != "GET":
                raise ApiProblem(405, 12, f"{method} is not allowed on {path}")
            return emulator_listing.list_clusters(state, parse_qs(urlsplit(self.path).query))
        if match := _CLUSTER.match(path):
            if method != "GET":
                raise ApiProblem(405, 12, f"{method} is not allowed on {path}")
            return state.cluster_info(match.group(1))
        match = _CLIENT_CA.match(path)
        if match is None:
            raise ApiProblem(404, 5, f"no such API path {path}")
        cluster_id = match.group(1)
        if method == "GET":
            return state.client_ca(cluster_id)
        if method == "DELETE":
            return state.change_client_ca(cluster_id, None, method)
        cert = body.get("x509_pem_cert") if isinstance(body, dict) else None
        if not isinstance(cert, str):
            raise ApiProblem(400, 3, "x509_pem_cert is required")
        return state.change_client_ca(cluster_id, cert, method)

    def _authenticate(self) -> None:
        header = self.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        expected = self.server.api_key.encode()
        if scheme == "Bearer" and token and hmac.compare_digest(token.encode(), expected):
            return
        with self.server.state.lock:
            jwt = dict(self.server.state.jwt)
        if (
            scheme == "Bearer"
            and token
            and jwt
            and hmac.compare_digest(token.encode(), jwt["token"].encode())
        ):
            for header_name, key in (("Cc-Vanity-Name", "vanity_name"), ("Cc-Username", "username")):
                if self.headers.get(header_name, "") != jwt[key]:
                    raise ApiProblem(
                        401, 16, f"unauthenticated: a JWT needs the {header_name} header of its organization"
                    )
            return
        raise ApiProblem(401, 16, "unauthenticated: a valid API key is required (Authorization: Bearer)")

    def _send_raw(self, raw: _Raw, content_type: str = "text/html; charset=utf-8") -> None:
        data = raw.body.encode()
        self.send_response(raw.status)
        self.send_header("Content-Type", content_type)
        if raw.location:
            self.send_header("Location", raw.location)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send(self, status: int, answer: Any) -> None:
        data = (json.dumps(answer) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Raw(Exception):
    """A non-JSON answer (an HTML error page, a redirect), as a proxy or load balancer might send."""

    def __init__(self, status: int, body: str, location: str) -> None:
        super().__init__(status)
        self.status, self.body, self.location = status, body, location


def _admin(state: EmulatorState, method: str, path: str, body: Any) -> Any:
    route = (method, path.rstrip("/"))
    if route == ("GET", "/_admin/health"):
        return {"ok": True}
    if route == ("GET", "/_admin/clusters"):
        with state.lock:
            return [asdict(c) for c in state.clusters.values()]
    if route == ("POST", "/_admin/clusters"):
        if not isinstance(body, dict) or not isinstance(body.get("id"), str):
            raise ApiProblem(400, 3, 'body must be {"id": ..., "name": ..., "plan": "DEDICATED|SERVERLESS"}')
        name = str(body.get("name") or body["id"])
        return asdict(state.register_cluster(body["id"], name, str(body.get("plan", "DEDICATED"))))
    if method == "DELETE" and path.startswith("/_admin/clusters/"):
        state.remove_cluster(path.removeprefix("/_admin/clusters/"))
        return {}
    if route == ("GET", "/_admin/faults"):
        with state.lock:
            return {**asdict(state.faults), "pending_seconds": state.pending_seconds}
    if route == ("POST", "/_admin/faults"):
        if not isinstance(body, dict):
            raise ApiProblem(400, 3, "body must be a JSON object of fault knobs")
        _set_faults(state, body)
        with state.lock:
            return {**asdict(state.faults), "pending_seconds": state.pending_seconds}
    if route == ("DELETE", "/_admin/faults"):
        _reset_faults(state)
        return {}
    if route == ("POST", "/_admin/paging"):
        _set_paging(state, body)
        return {"max_page_size": state.max_page_size}
    if route == ("POST", "/_admin/jwt"):
        _set_jwt(state, body)
        return {}
    if route == ("GET", "/_admin/requests"):
        with state.lock:
            return list(state.requests)
    if route == ("DELETE", "/_admin/requests"):
        with state.lock:
            state.requests.clear()
        return {}
    raise ApiProblem(404, 5, f"no admin route {method} {path}")


def _set_faults(state: EmulatorState, knobs: dict[str, Any]) -> None:
    knobs = dict(knobs)
    pending = knobs.pop("pending_seconds", None)
    with state.lock:
        state.faults.update(knobs)
        if pending is not None:
            if not isinstance(pending, int | float) or isinstance(pending, bool) or pending < 0:
                raise ApiProblem(400, 3, "pending_seconds must be a number >= 0")
            state.pending_seconds = float(pending)


def _set_jwt(state: EmulatorState, body: Any) -> None:
    keys = ("token", "vanity_name", "username")
    if not isinstance(body, dict) or not all(isinstance(body.get(k), str) and body[k] for k in keys):
        raise ApiProblem(400, 3, 'body must be {"token": ..., "vanity_name": ..., "username": ...}')
    with state.lock:
        state.jwt = {k: body[k] for k in keys}


def _set_paging(state: EmulatorState, body: Any) -> None:
    size = body.get("max_page_size") if isinstance(body, dict) else None
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ApiProblem(400, 3, 'body must be {"max_page_size": N} with N >= 1')
    with state.lock:
        state.max_page_size = size


def _reset_faults(state: EmulatorState) -> None:
    with state.lock:
        state.faults = Faults()


@dataclass
class RunningEmulator:
    """An emulator serving on a thread of this process."""

    url: str
    state: EmulatorState
    _server: _Server
    _thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def register_cluster(self, cluster_id: str, name: str = "", plan: str = "DEDICATED") -> Cluster:
        return self.state.register_cluster(cluster_id, name or cluster_id, plan)

    def remove_cluster(self, cluster_id: str) -> None:
        """The cluster is gone: its API paths answer 404 from now on."""
        self.state.remove_cluster(cluster_id)

    def set_faults(self, **knobs: Any) -> None:
        """Knobs: latency_seconds, fail_next, fail_status, fail_method, stuck_pending, end_failed,
        pending_seconds. Unset knobs keep their value; reset_faults() clears them all."""
        try:
            _set_faults(self.state, knobs)
        except ApiProblem as problem:
            raise ValueError(problem.message) from None

    def reset_faults(self) -> None:
        _reset_faults(self.state)

    def set_max_page_size(self, size: int) -> None:
        """At most `size` clusters on a page of GET /api/v1/clusters."""
        _set_paging(self.state, {"max_page_size": size})

    def set_jwt(self, token: str, vanity_name: str, username: str) -> None:
        """Accept `token` as a JWT of organization `vanity_name`, user `username` (checked headers)."""
        _set_jwt(self.state, {"token": token, "vanity_name": vanity_name, "username": username})

    def requests(self) -> list[dict[str, Any]]:
        with self.state.lock:
            return list(self.state.requests)

    def client_ca(self, cluster_id: str) -> dict[str, str]:
        """What GET client-ca-cert would answer now (settles a due change)."""
        return self.state.client_ca(cluster_id)

    def change_client_ca(self, cluster_id: str, cert: str | None) -> dict[str, str]:
        """An out-of-band change, as from the Cloud console: set `cert`, or clear it when None."""
        return self.state.change_client_ca(cluster_id, cert)

    @property
    def cluster_ca_pem(self) -> str:
        """The CA certificate GET /clusters/ID/cert serves (the Console's "Download CA Cert")."""
        return self._server.cluster_ca.cert_pem

    def console_requests(self) -> list[dict[str, Any]]:
        with self.state.lock:
            return list(self._server.console_requests)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def start_emulator(
    state_file: Path,
    api_key: str,
    pending_seconds: float = 1.0,
    port: int = 0,
    answer_log: Path | None = None,
) -> RunningEmulator:
    """Serve on 127.0.0.1 (a free port unless `port` is given) from a thread of this process.
    `answer_log`: where API answers go as JSON lines (default: $ROACHCERT_EMULATOR_ANSWER_LOG, else none)."""
    state = EmulatorState.load(Path(state_file), pending_seconds)
    if answer_log is None and os.environ.get(ANSWER_LOG_ENV):
        answer_log = Path(os.environ[ANSWER_LOG_ENV])
    server = _Server(port, state, api_key, cluster_ca.load_or_make(Path(state_file).parent), answer_log)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="cloud-api-emulator", daemon=True
    )
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    return RunningEmulator(url=url, state=state, _server=server, _thread=thread)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m roachcert_sandbox.emulator", description=__doc__)
    parser.add_argument("--state", type=Path, required=True, help="JSON file that keeps clusters and certs")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    parser.add_argument("--pending-seconds", type=float, default=1.0, help="how long a change stays PENDING")
    args = parser.parse_args(argv)
    api_key = os.environ.get("COCKROACH_API_KEY", "")
    if not api_key:
        print("emulator: set COCKROACH_API_KEY (the key clients must send)", file=sys.stderr)
        return 2
    try:
        running = start_emulator(args.state, api_key, args.pending_seconds, args.port)
    except OSError as exc:
        print(f"emulator: cannot listen on 127.0.0.1:{args.port}: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    print(f"listening on {running.url}", flush=True)
    stop.wait()
    running.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
