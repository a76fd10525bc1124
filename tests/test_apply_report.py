"""What `apply` prints per cluster after it applied: the status it confirmed, or what to do next."""

from __future__ import annotations

from roachcert.applying import Confirmation, confirmation_line

FROGS = "2186fbdb-598c-4797-a463-aaaee865903e"


def _line(expected: str, observed: str) -> str:
    return confirmation_line(Confirmation("frogs", FROGS, expected, observed), "stacks/prod.yaml")


def test_a_confirmed_cluster_shows_its_status() -> None:
    assert _line("IS_SET", "IS_SET") == f"  frogs ({FROGS}): IS_SET"
    assert _line("NOT_SET", "NOT_SET") == f"  frogs ({FROGS}): NOT_SET"


def test_a_pending_cluster_says_when_to_check_again_with_the_stack() -> None:
    line = _line("IS_SET", "PENDING")
    assert line.startswith(f"  frogs ({FROGS}): still PENDING")
    assert "`roachcert status stacks/prod.yaml`" in line


def test_a_failed_cluster_points_at_the_console_and_a_new_plan() -> None:
    line = _line("IS_SET", "FAILED")
    assert "FAILED; the Cloud API could not apply the CA" in line
    assert "run `roachcert plan` and apply again" in line


def test_any_other_answer_shows_what_was_expected_and_what_came_back() -> None:
    assert _line("NOT_SET", "IS_SET") == (
        f"  frogs ({FROGS}): expected NOT_SET, the Cloud API reports IS_SET: "
        "run `roachcert plan stacks/prod.yaml` and apply again"
    )
    assert not Confirmation("frogs", FROGS, "NOT_SET", "IS_SET").ok
