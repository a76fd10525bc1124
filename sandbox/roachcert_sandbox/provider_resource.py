"""`cockroach_client_ca_cert` in the stand-in provider, quirks included.

Mirrors internal/provider/client_ca_cert_resource.go (v1.22.0): `id` has no RequiresReplace, so a
changed `id` PATCHes the new cluster and leaves the old one's CA in place; a `NOT_SET` read stays in
state with an empty cert; a 404 read drops the resource; state is copied from the last poll GET.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tf.iface import Resource
from tf.schema import Attribute, Schema
from tf.types import String, Unknown

from roachcert_sandbox.provider_api import ApiError, CloudApi, PollError, wait_until_settled

if TYPE_CHECKING:
    from roachcert_sandbox.provider import CockroachProvider

State = dict[str, Any]
_TIMED_OUT = "Client CA Cert update timed out and may have failed"
_DEDICATED_ONLY = "Client CA Cert management is only available for dedicated clusters"
_CERT_DOC = "X509 certificate in PEM format."
_STATUS_DOC = "Status of client CA certs on a cluster."


def _state(cluster_id: str, info: dict[str, Any]) -> State:
    return {
        "id": cluster_id,
        "x509_pem_cert": str(info.get("x509_pem_cert") or ""),
        "status": str(info.get("status") or ""),
    }


class ClientCaCertResource(Resource):  # type: ignore[misc]
    def __init__(self, provider: CockroachProvider) -> None:
        self.provider = provider

    @classmethod
    def get_name(cls) -> str:
        return "client_ca_cert"

    @classmethod
    def get_schema(cls) -> Any:
        return Schema(
            version=0,
            description="Manages client CA certs.",
            attributes=[
                Attribute("id", String(), description="Cluster ID.", required=True),
                Attribute(
                    "x509_pem_cert", String(), description="X509 certificate in PEM format.", required=True
                ),
                Attribute(
                    "status", String(), description="Status of client CA certs on a cluster.", computed=True
                ),
            ],
        )

    def _api(self, ctx: Any) -> CloudApi | None:
        if self.provider.api is None:
            ctx.diagnostics.add_error(
                "Provider not configured",
                "The provider hasn't been configured before apply, likely because it depends on an unknown "
                "value from another resource.",
            )
        return self.provider.api

    def plan(self, ctx: Any, current: State | None, planned: State) -> State:
        if ctx.changed_fields:
            planned["status"] = Unknown
        return planned

    def create(self, ctx: Any, planned: State) -> State | None:
        api = self._api(ctx)
        if api is None:
            return None
        cluster_id = str(planned["id"])
        try:
            cluster = api.get_cluster(cluster_id)
        except ApiError as exc:
            ctx.diagnostics.add_error("Error getting cluster info", exc.message)
            return None
        if (cluster.get("config") or {}).get("serverless") is not None:
            ctx.diagnostics.add_error(
                "Incompatible cluster type",
                "Client CA Cert management is only available for dedicated clusters",
            )
            return None
        try:
            api.client_ca("POST", cluster_id, str(planned["x509_pem_cert"]))
        except ApiError as exc:
            ctx.diagnostics.add_error("Error updating Client CA Cert", exc.message)
            return None
        try:
            info = wait_until_settled(api, cluster_id)
        except PollError as exc:
            ctx.diagnostics.add_error(_TIMED_OUT, str(exc))
            return None
        return _state(cluster_id, info)

    def read(self, ctx: Any, current: State) -> State | None:
        api = self._api(ctx)
        if api is None:
            return current
        cluster_id = str(current["id"])
        try:
            info = api.client_ca("GET", cluster_id)
        except ApiError as exc:
            if exc.status == 404:
                ctx.diagnostics.add_warning(f"Cluster '{cluster_id}' was not found", "Removing from state.")
                return None
            ctx.diagnostics.add_error("Error getting Client CA Cert info", exc.message)
            return current
        return _state(cluster_id, info)

    def update(self, ctx: Any, current: State, planned: State) -> State:
        api = self._api(ctx)
        if api is None:
            return current
        cert = planned.get("x509_pem_cert")
        if not isinstance(cert, str):
            ctx.diagnostics.add_warning(
                "Client CA Cert will not be changed",
                "Setting the cert field to null will not clear the cert, it will only remove it from "
                "Terraform state. Delete the resource to unset a cert.",
            )
            return current
        # The real quirk: the planned (new) id is PATCHed; the prior cluster is never touched.
        cluster_id = str(planned["id"])
        try:
            api.client_ca("PATCH", cluster_id, cert)
        except ApiError as exc:
            ctx.diagnostics.add_error("Error updating Client CA Cert", exc.message)
            return current
        try:
            info = wait_until_settled(api, cluster_id)
        except PollError as exc:
            ctx.diagnostics.add_error(_TIMED_OUT, str(exc))
            return current
        return _state(cluster_id, info)

    def delete(self, ctx: Any, current: State) -> State | None:
        api = self._api(ctx)
        if api is None:
            return current
        cluster_id = str(current["id"])
        answered_404 = False
        try:
            api.client_ca("DELETE", cluster_id)
        except ApiError as exc:
            if exc.status != 404:
                ctx.diagnostics.add_error("Error deleting Client CA Cert", exc.message)
                return current
            # "Already deleted, ignore error", says the real one; its poll then dereferences the nil
            # info on the first GET that answers: the whole plugin dies, siblings mid-apply included.
            answered_404 = True
        try:
            wait_until_settled(api, cluster_id, nil_info=answered_404)
        except PollError as exc:
            ctx.diagnostics.add_error(_TIMED_OUT, str(exc))
            return current
        return None

    def import_(self, ctx: Any, id: str) -> State:
        # ImportStatePassthroughID: only the id; Terraform's read that follows fills the rest.
        return {"id": id, "x509_pem_cert": None, "status": None}
