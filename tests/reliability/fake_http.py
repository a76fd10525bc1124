"""A small HTTP server on 127.0.0.1 that answers every request with what a test says (a stand-in for a
Cloud API, a Vault or a GitHub that answers oddly), and counts the requests it got."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = tuple[int, dict[str, str], bytes]


def json_answer(body: Any, status: int = 200) -> Answer:
    """`body` as JSON (json.dumps escapes a lone surrogate as \\udXXX, as a server may send it)."""
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


def deep(levels: int) -> bytes:
    """Well-formed JSON nested `levels` deep: past Python's recursion limit when large."""
    return b'{"data":' + b"[" * levels + b"]" * levels + b"}"


class Server:
    def __init__(self, answer: Callable[[str, str], Answer]) -> None:
        self.requests: list[tuple[str, str]] = []
        self.headers: list[dict[str, str]] = []  # each request's headers, in the order of `requests`
        seen, heard = self.requests, self.headers

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                seen.append((self.command, self.path))
                heard.append(dict(self.headers.items()))
                status, headers, body = answer(self.command, self.path)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if "Content-Length" not in headers:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = do_LIST = do_DELETE = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.01,), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@contextmanager
def serving(answer: Callable[[str, str], Answer]) -> Iterator[Server]:
    server = Server(answer)
    try:
        yield server
    finally:
        server.stop()
