"""How long to wait before retrying a call: the Cloud client's and the provider's rule (pure)."""

from __future__ import annotations


def backoff(attempt: int, retry_after: float | None, shortest: float, longest: float) -> float:
    """The server's Retry-After when it gave one, else `shortest` doubling per attempt up to `longest`."""
    if retry_after is not None:
        return retry_after
    return float(min(shortest * (2**attempt), longest))
