"""State of the Cloud API emulator: clusters, their client CA bundle, fault knobs and a request log.

The clusters and certs live in a JSON file (atomic writes) so a restarted emulator keeps them; the
fault knobs and the request log are runtime-only. Times are wall-clock so a pending change started
before a restart still settles after it.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from cryptography import x509

Plan = Literal["DEDICATED", "SERVERLESS"]
PLANS: tuple[str, ...] = ("DEDICATED", "SERVERLESS")
STATUSES: tuple[str, ...] = ("NOT_SET", "IS_SET", "PENDING", "FAILED")

_DNS_UNSAFE = re.compile(r"[^a-z0-9-]+")
_PEM_BLOCK = re.compile(r"-----BEGIN CERTIFICATE-----\r?\n(.*?)-----END CERTIFICATE-----", re.DOTALL)


class ApiProblem(Exception):
    """An API error answer: HTTP status, gRPC-style code and message."""

    def __init__(self, http_status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": []}


@dataclass
class Cluster:
    id: str
    name: str
    plan: str = "DEDICATED"
    status: str = "NOT_SET"
    x509_pem_cert: str = ""
    # A change in flight: the status it ends in, the cert it sets, when, and whether it fails.
    pending_target: str = ""
    pending_cert: str = ""
    pending_until: float = 0.0
    pending_fails: bool = False


@dataclass
class Faults:
    latency_seconds: float = 0.0
    fail_next: int = 0  # the next N API requests answer fail_status
    fail_status: int = 500  # 300-399 answers a redirect to fail_location
    fail_method: str = ""  # only requests with this method fail or drop ("" = any)
    fail_body: str = ""  # the failing answer's body as text/html instead of a JSON Status ("" = JSON)
    fail_location: str = "/elsewhere"
    drop_next: int = 0  # the next N API requests get no HTTP answer at all: the connection is closed
    stuck_pending: bool = False  # PENDING never settles while set
    end_failed: bool = False  # changes accepted while set end in FAILED
    answer_status: str = (
        ""  # GET answers this status, with the CA in force ("" = the real one): a value the API may add
    )
    # What no public source says about the real API; each default is the emulator's first reading.
    pending_cert: str = "blank"  # the cert GET shows while PENDING: blank | echo_old
    failed_cert: str = "blank"  # ... after FAILED: blank | echo_old
    not_set_fields: str = "present"  # NOT_SET answers {"status", "x509_pem_cert": ""} | omitted ({})
    post_when_set: str = "accept"  # POST while a CA is set: accept | 409 | 400
    patch_when_unset: str = "accept"  # PATCH while none is set: accept | 400 | 404
    delete_when_unset: str = "accept"  # DELETE while none is set: accept | 400 | 404

    def update(self, values: dict[str, Any]) -> None:
        for key, value in values.items():
            if key not in _FAULT_TYPES:
                raise ApiProblem(400, 3, f"unknown fault knob {key!r}")
            wanted = _FAULT_TYPES[key]
            if wanted is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, wanted) or (wanted is int and isinstance(value, bool)):
                raise ApiProblem(400, 3, f"fault knob {key!r} must be {wanted.__name__}")
            if key in MODES and value not in MODES[key]:
                raise ApiProblem(400, 3, f"mode {key!r} must be one of {', '.join(MODES[key])}")
            setattr(self, key, value)
        if not 300 <= self.fail_status <= 599:
            raise ApiProblem(400, 3, "fail_status must be a redirect or an HTTP error status (300-599)")


MODES: dict[str, tuple[str, ...]] = {
    "pending_cert": ("blank", "echo_old"),
    "failed_cert": ("blank", "echo_old"),
    "not_set_fields": ("present", "omitted"),
    "post_when_set": ("accept", "409", "400"),
    "patch_when_unset": ("accept", "400", "404"),
    "delete_when_unset": ("accept", "400", "404"),
}
_FAULT_TYPES: dict[str, type] = {
    "latency_seconds": float,
    "fail_next": int,
    "fail_status": int,
    "fail_method": str,
    "fail_body": str,
    "fail_location": str,
    "drop_next": int,
    "stuck_pending": bool,
    "end_failed": bool,
    "answer_status": str,
    **dict.fromkeys(MODES, str),
}


def sql_dns(cluster: Cluster) -> str:
    """A dedicated cluster's SQL host as the Cloud names them: NAME-SHORTID.REGION.cockroachlabs.cloud."""
    label = _DNS_UNSAFE.sub("-", cluster.name.lower()).strip("-")[:40] or "cluster"
    return f"{label}-{cluster.id[:4]}.aws-us-east-1.cockroachlabs.cloud"


def check_pem_certificates(text: str) -> None:
    """Accept only PEM CERTIFICATE blocks (whitespace between them) whose bodies are DER X.509."""
    blocks = list(_PEM_BLOCK.finditer(text))
    if not blocks:
        raise ApiProblem(400, 3, "x509_pem_cert holds no PEM certificate")
    outside = _PEM_BLOCK.sub("", text)
    if outside.strip():
        raise ApiProblem(400, 3, "x509_pem_cert holds text outside PEM certificate blocks")
    for number, block in enumerate(blocks, 1):
        try:
            der = base64.b64decode("".join(block.group(1).split()), validate=True)
            x509.load_der_x509_certificate(der)
        except (binascii.Error, ValueError) as exc:
            raise ApiProblem(400, 3, f"x509_pem_cert certificate {number} is not valid: {exc}") from None


@dataclass
class EmulatorState:
    """Thread-safe state; every change to clusters is written through to `path`."""

    path: Path
    pending_seconds: float = 1.0
    faults: Faults = field(default_factory=Faults)
    clusters: dict[str, Cluster] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    jwt: dict[str, str] = field(default_factory=dict)  # JWT mode: token, vanity_name, username
    max_page_size: int = 100  # GET /api/v1/clusters: the most clusters on one page
    lock: threading.RLock = field(default_factory=threading.RLock)

    @classmethod
    def load(cls, path: Path, pending_seconds: float = 1.0) -> EmulatorState:
        state = cls(path=path, pending_seconds=pending_seconds)
        if path.exists():
            raw = json.loads(path.read_text(encoding="utf-8"))
            state.clusters = {cid: Cluster(**record) for cid, record in raw.get("clusters", {}).items()}
        return state

    def save(self) -> None:
        data = {"version": 1, "clusters": {cid: asdict(c) for cid, c in sorted(self.clusters.items())}}
        text = json.dumps(data, indent=2, sort_keys=True) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    # -- admin -------------------------------------------------------------------------------------
    def register_cluster(self, cluster_id: str, name: str, plan: str = "DEDICATED") -> Cluster:
        if plan not in PLANS:
            raise ApiProblem(400, 3, f"plan must be one of {', '.join(PLANS)}")
        if not cluster_id:
            raise ApiProblem(400, 3, "id is required")
        with self.lock:
            existing = self.clusters.get(cluster_id)
            if existing is None:
                existing = self.clusters[cluster_id] = Cluster(id=cluster_id, name=name, plan=plan)
            else:
                existing.name, existing.plan = name, plan
            self.save()
            return existing

    def remove_cluster(self, cluster_id: str) -> None:
        with self.lock:
            if self.clusters.pop(cluster_id, None) is None:
                raise ApiProblem(404, 5, f"cluster {cluster_id} not found")
            self.save()

    def log_request(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.requests.append({**entry, "time": time.time()})

    def take_fault(self, method: str) -> int | None:
        """The status this request must fail with, if a fail_next fault is armed for it."""
        with self.lock:
            wanted = self.faults.fail_method.upper()
            if self.faults.fail_next > 0 and wanted in ("", method):
                self.faults.fail_next -= 1
                return self.faults.fail_status
            return None

    def take_drop(self, method: str) -> bool:
        """Whether this request must get no answer (a drop_next fault armed for it)."""
        with self.lock:
            wanted = self.faults.fail_method.upper()
            if self.faults.drop_next > 0 and wanted in ("", method):
                self.faults.drop_next -= 1
                return True
            return False

    # -- API ---------------------------------------------------------------------------------------
    def cluster(self, cluster_id: str) -> Cluster:
        with self.lock:
            found = self.clusters.get(cluster_id)
            if found is None:
                raise ApiProblem(404, 5, f"cluster {cluster_id} not found")
            return found

    def _dedicated(self, cluster_id: str) -> Cluster:
        found = self.cluster(cluster_id)
        if found.plan != "DEDICATED":
            raise ApiProblem(400, 9, "Client CA Cert management is only available for dedicated clusters")
        return found

    def _settle(self, found: Cluster) -> None:
        if found.status != "PENDING" or self.faults.stuck_pending or time.time() < found.pending_until:
            return
        if found.pending_fails:
            found.status = "FAILED"  # x509_pem_cert keeps the CA that was there before
        else:
            found.status, found.x509_pem_cert = found.pending_target, found.pending_cert
        found.pending_target, found.pending_cert, found.pending_until = "", "", 0.0
        found.pending_fails = False
        self.save()

    def _answer(self, found: Cluster) -> dict[str, str]:
        """What GET shows; `x509_pem_cert` in state is the CA in force (the old one while PENDING)."""
        faults, cert = self.faults, found.x509_pem_cert
        if faults.answer_status:
            return {"status": faults.answer_status, "x509_pem_cert": cert}
        if found.status == "NOT_SET":
            if faults.not_set_fields == "omitted":
                return {}
            cert = ""
        blank = {"PENDING": faults.pending_cert, "FAILED": faults.failed_cert}.get(found.status) == "blank"
        return {"status": found.status, "x509_pem_cert": "" if blank else cert}

    def client_ca(self, cluster_id: str) -> dict[str, str]:
        with self.lock:
            found = self._dedicated(cluster_id)
            self._settle(found)
            return self._answer(found)

    def change_client_ca(self, cluster_id: str, cert: str | None, method: str = "") -> dict[str, str]:
        """Start a change: set `cert`, or clear the CA when `cert` is None. Answers the PENDING info.
        `method` (POST/PATCH/DELETE) applies the modes for a request that does not fit the CA's state;
        an out-of-band change (the console) passes none."""
        with self.lock:
            found = self._dedicated(cluster_id)
            self._settle(found)
            if found.status == "PENDING":
                raise ApiProblem(400, 9, "a client CA cert update is already in progress on this cluster")
            self._check_fits(method, found.status != "NOT_SET" and bool(found.x509_pem_cert))
            if cert is not None:
                check_pem_certificates(cert)
            if found.status == "NOT_SET":
                found.x509_pem_cert = ""
            found.status = "PENDING"
            found.pending_target = "NOT_SET" if cert is None else "IS_SET"
            found.pending_cert = cert or ""
            found.pending_until = time.time() + self.pending_seconds
            found.pending_fails = self.faults.end_failed
            self.save()
            return self._answer(found)

    def _check_fits(self, method: str, ca_set: bool) -> None:
        faults = self.faults
        if method == "POST" and ca_set and faults.post_when_set != "accept":
            code = 6 if faults.post_when_set == "409" else 9
            raise ApiProblem(
                int(faults.post_when_set), code, "a client CA cert is already set on this cluster"
            )
        wanted = {"PATCH": faults.patch_when_unset, "DELETE": faults.delete_when_unset}.get(method, "accept")
        if not ca_set and wanted != "accept":
            code = 5 if wanted == "404" else 9
            raise ApiProblem(int(wanted), code, "no client CA cert is set on this cluster")

    def cluster_info(self, cluster_id: str) -> dict[str, Any]:
        with self.lock:
            found = self.cluster(cluster_id)
            if found.plan == "DEDICATED":
                self._settle(found)
            operation = {"PENDING": "CRDB_CUSTOM_CLIENT_CA_RUNNING", "FAILED": "CRDB_CUSTOM_CLIENT_CA_FAILED"}
            # The API's plan enum is BASIC/STANDARD/ADVANCED: dedicated hardware is ADVANCED.
            config: dict[str, Any] = (
                {
                    "dedicated": {
                        "machine_type": "m6i.large",
                        "num_virtual_cpus": 2,
                        "storage_gib": 15,
                        "memory_gib": 8.0,
                        "disk_iops": 0,
                    }
                }
                if found.plan == "DEDICATED"
                else {"serverless": {"routing_id": found.name, "upgrade_type": "AUTOMATIC"}}
            )
            # Every field the OpenAPI document's Cluster requires, with values of its types and enums;
            # GET /api/v1/clusters lists the same (emulator_listing).
            host = sql_dns(found)
            return {
                "id": found.id,
                "name": found.name,
                "cockroach_version": "v24.3.0",
                "upgrade_status": "FINALIZED",
                "plan": "ADVANCED" if found.plan == "DEDICATED" else "BASIC",
                "cloud_provider": "AWS",
                "state": "CREATED",
                "creator_id": "00000000-0000-4000-8000-000000000000",
                "operation_status": operation.get(found.status, "UNSPECIFIED"),
                "config": config,
                "regions": [
                    {
                        "name": "us-east-1",
                        "sql_dns": host,
                        "ui_dns": "admin-" + host,
                        "internal_dns": "internal-" + host,
                        "private_endpoint_dns": "",
                        "node_count": 3 if found.plan == "DEDICATED" else 0,
                    }
                ],
                "sql_dns": host,
                "cidr_range": "",
                "labels": {},
                "is_customer_cloud_account": False,
            }
