"""How a run opens its side effects: the Vault adapter for a stack and the Cloud API client.

Planning, applying and the commands take these factories instead of calling the adapters' constructors,
so a test passes a fake here rather than patching a module global. The factories are typed with what the
callers use (Protocols), not with the real classes: a fake needs only those methods.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

# The Protocols exist for the type checker only, and the clients are imported when a run first opens one:
# hvac and requests load only when Vault or the Cloud API is called, and the issuing, `ca ensure` and
# rotation code (with cryptography's key code) only for the commands that use them, never for a plan.
if TYPE_CHECKING:
    from typing import Protocol

    from roachcert.certs.issue import IssueVault
    from roachcert.cloud.client import ClientCaStatus, ClusterInfo, ListedCluster
    from roachcert.spec import Stack
    from roachcert.vault.ca_ensure import PkiAdmin
    from roachcert.vault.rotation import IssuedRecord

    class IssuedLister(Protocol):
        def list_issued(self, mount: str, jobs: int = 8) -> list[IssuedRecord]: ...

    class StackVault(IssueVault, PkiAdmin, IssuedLister, Protocol):
        """Everything commands ask of a stack's Vault (`vault.adapter.VaultAdapter` is the real one)."""

    class CloudApi(Protocol):
        """Everything commands ask of the Cloud API (`cloud.client.CloudClient` is the real one)."""

        server: str  # the API's base URL, for messages

        def get_client_ca(self, cluster_id: str) -> ClientCaStatus: ...

        def get_cluster(self, cluster_id: str) -> ClusterInfo: ...

        def list_clusters(self, page_size: int = ...) -> list[ListedCluster]: ...


@dataclass(frozen=True)
class Adapters:
    vault: Callable[[Stack], StackVault]
    # Called once per reader thread (one HTTP session each) and once up front to fail early without a key.
    cloud: Callable[[], CloudApi]


def real(environ: Mapping[str, str]) -> Adapters:
    """The real adapters, reading their settings and credentials from the run's `environ`."""

    def cloud() -> CloudApi:
        from roachcert.cloud.client import CloudClient  # lazy: requests loads when the Cloud API is called

        return CloudClient.from_env(environ)

    def vault(stack: Stack) -> StackVault:
        from roachcert.vault.adapter import open_vault  # lazy: hvac and requests load when Vault is called

        return open_vault(stack, environ)

    return Adapters(vault=vault, cloud=cloud)
