"""Regenerate the plan JSON samples in this folder with the real engine, the stand-in provider and the
Cloud API emulator: `.venv/bin/python tests/terraform/regen_samples.py`. Each sample is the exact output
of `terraform show -json PLAN` at one step of a stack's life."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from certs_helper import make_ca  # noqa: E402
from roachcert.terraform.resources import trigger_name  # noqa: E402
from test_terraform_runner import DINGOS, FROGS, MOVED, Lifecycle  # noqa: E402

NEWBIE = "99999999-8888-4777-8666-555555555555"


def main() -> None:
    one, two = make_ca("client CA one")[0], make_ca("client CA two")[0]
    both = one + "\n" + two
    with tempfile.TemporaryDirectory() as tmp:
        life = Lifecycle(Path(tmp))
        life.emulator.register_cluster(NEWBIE)

        def save(
            name: str,
            clusters: dict[str, str],
            bundles: dict[str, str],
            *,
            apply: bool = True,
            forget: tuple[str, ...] = (),
        ) -> None:
            code, plan, _ = life.plan(clusters, bundles, forget)
            (HERE / f"plan-{name}.json").write_text(json.dumps(plan, indent=1, sort_keys=True) + "\n")
            print(f"plan-{name}.json: exit {code}")
            if apply and code == 2:
                life.apply()

        try:
            save("create", {"frogs": FROGS, "dingos": DINGOS}, {"frogs": both, "dingos": one})
            save("noop", {"frogs": FROGS, "dingos": DINGOS}, {"frogs": both, "dingos": one})
            save("update", {"frogs": FROGS, "dingos": DINGOS}, {"frogs": both, "dingos": both})
            save("replace-id", {"frogs": MOVED, "dingos": DINGOS}, {"frogs": both, "dingos": both})
            life.tf.run("state", "rm", f"terraform_data.{trigger_name('frogs')}")
            save(
                "inplace-id", {"frogs": FROGS, "dingos": DINGOS}, {"frogs": both, "dingos": both}, apply=False
            )
            save("trigger-only", {"frogs": MOVED, "dingos": DINGOS}, {"frogs": both, "dingos": both})
            save("mixed", {"dingos": DINGOS, "newbie": NEWBIE}, {"dingos": one, "newbie": two})
            save("forget", {"newbie": NEWBIE}, {"newbie": two}, forget=("dingos",))
            save("empty", {}, {})
        finally:
            life.close()


if __name__ == "__main__":
    main()
