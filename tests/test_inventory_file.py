"""The delivered inventory is appended only to a regular file of its own: a planted link, a FIFO or a
folder at its path is one line of error, never a write elsewhere or a wait inside the deferred block."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from roachcert.certs import inventory
from roachcert.files import FilesError

EVENT = inventory.Delivery(cluster="frogs", user="app", folder="/certs", at=datetime.now(UTC), delivered=True)


@pytest.fixture
def path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ROACHCERT_HOME", str(tmp_path / "home"))
    found = inventory.inventory_path(os.environ, "st")
    found.parent.mkdir(parents=True)
    return found


def test_a_link_in_place_of_the_inventory_is_not_followed(path: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    path.symlink_to(victim)
    with pytest.raises(FilesError, match="symbolic link") as caught:
        inventory.record(os.environ, "st", EVENT)
    assert "\n" not in str(caught.value)
    assert victim.read_text() == "precious\n"


def test_a_fifo_in_place_of_the_inventory_is_refused_without_waiting(path: Path) -> None:
    os.mkfifo(path)
    done: list[BaseException | None] = []

    def attempt() -> None:
        try:
            inventory.record(os.environ, "st", EVENT)
        except BaseException as exc:  # handed to the main thread
            done.append(exc)
        else:
            done.append(None)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(5)
    if worker.is_alive():  # unblock the writer's open so the test process can end
        os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
        pytest.fail("record waited on a FIFO")
    assert isinstance(done[0], FilesError)


def test_a_folder_in_place_of_the_inventory_is_one_line(path: Path) -> None:
    path.mkdir()
    with pytest.raises(FilesError):
        inventory.record(os.environ, "st", EVENT)


def test_the_inventory_is_appended_and_read_back(path: Path) -> None:
    inventory.record(os.environ, "st", EVENT)
    inventory.record(os.environ, "st", EVENT)
    assert [d.user for d in inventory.load(os.environ, "st")] == ["app", "app"]
    assert oct(path.stat().st_mode & 0o777) == "0o600"
