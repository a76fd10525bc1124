"""How a run opens its side effects: the Vault adapter for a stack and the Cloud API client.

Planning, applying and the commands take these factories instead of calling the adapters' constructors,
so a test passes a fake here rather than patching a module global.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from roachcert.cloud.client import CloudClient
from roachcert.spec import Stack
from roachcert.vault.adapter import VaultAdapter, open_vault


def _cloud_from_env() -> CloudClient:
    return CloudClient.from_env()


def _vault_for(stack: Stack) -> VaultAdapter:
    return open_vault(stack)


@dataclass(frozen=True)
class Adapters:
    vault: Callable[[Stack], VaultAdapter] = _vault_for
    # Called once per reader thread (one HTTP session each) and once up front to fail early without a key.
    cloud: Callable[[], CloudClient] = _cloud_from_env


REAL = Adapters()
