"""The retry wait shared by the Cloud client and the stand-in provider."""

from __future__ import annotations

from roachcert.backoff import backoff


def test_the_wait_doubles_from_the_shortest_up_to_the_longest() -> None:
    assert [backoff(attempt, None, 1.0, 30.0) for attempt in range(7)] == [1, 2, 4, 8, 16, 30, 30]


def test_the_servers_retry_after_wins_even_past_the_longest() -> None:
    assert backoff(0, 45.0, 1.0, 30.0) == 45.0
    assert backoff(3, 0.0, 1.0, 30.0) == 0.0
