"""issue: 200 client certificates, the product doc's shell loop vs `roachcert issue STACK --all`.

The baseline is the doc's procedure per certificate, verbatim: `bao write -format=json MOUNT/issue/ROLE
common_name=USER > certs.json`, then `echo -e $(cat certs.json | jq .data.private_key | tr -d '"') > key`
(and the same for the certificate), `chmod 0600` and `chown $USER` on the key. It runs with an environment
of its own (PATH with `bao` and `jq`, VAULT_ADDR, VAULT_TOKEN, HOME, USER only).

The loop takes about a minute per 200 certificates, so it runs in three slices of the 200 users, each
interleaved with a full roachcert run of all 200: the baseline is the sum of the slices (the time the loop
needs for 200), roachcert the median of its three runs. Both write into fresh folders each time. A third
side in each round, "Vault alone" (200 issue calls through roachcert's adapter, 8 at once, no files, no
CLI), shows how much of roachcert's time is OpenBao's own. A fourth, `issue --all --vault-keygen`, is the
old path where Vault makes each key (`/issue`) instead of signing a CSR of a key made here (`/sign`, the
default): the row "local keys vs /issue" compares the two. A fifth, "OpenBao signing" (issue #29's floor),
signs the same number of CSRs, made before the timing starts, through one client (roachcert's adapter, 8 at
once, no files, no CLI): `issue --all` is held to at most FLOOR_GOAL times that (EC only).
"""

from __future__ import annotations

import getpass
import os
import shutil
import stat
import subprocess
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.common import (
    VENV_BIN,
    Bench,
    Outcome,
    Row,
    fmt_s,
    median,
    new_clusters,
    new_mount,
    report,
    roachcert,
    run,
    sandbox,
    say,
    timed,
    write_stack,
)

CLUSTERS = 20
USERS = 10  # CLUSTERS x USERS = 200 certificates
ROUNDS = 3
JOBS = 8  # roachcert's default -j
GOALS = {"rsa": 6.0, "ec": 50.0}
FLOOR_GOAL = 2.0  # issue --all / OpenBao signing the same CSRs with one client (issue #29), EC
LABEL = {"rsa": "RSA-2048", "ec": "EC P-256"}

# The doc's steps for one certificate, in a loop over "CLUSTER USER" lines.
SHELL_LOOP = r"""
set -eu
while read -r cluster user; do
  SECRETS_DIR="$OUT/$cluster"
  mkdir -p "$SECRETS_DIR"
  bao write -format=json "$MOUNT/issue/$ROLE" common_name="$user" > "${SECRETS_DIR}/certs.json"
  echo -e $(cat "${SECRETS_DIR}/certs.json" | jq .data.private_key | tr -d '"') > "${SECRETS_DIR}/client.$user.key"
  echo -e $(cat "${SECRETS_DIR}/certs.json" | jq .data.certificate | tr -d '"') > "${SECRETS_DIR}/client.$user.crt"
  chmod 0600 "${SECRETS_DIR}/client.$user.key"
  chown "$USER" "${SECRETS_DIR}/client.$user.key"
done < "$PAIRS"
"""


def ensure_jq() -> str:
    """`jq` is part of the baseline. Install Debian's when missing (we may be root); say so either way."""
    found = shutil.which("jq")
    if found:
        return f"jq found at {found}"
    if os.geteuid() == 0 and shutil.which("apt-get"):
        say("  jq is missing: installing Debian's jq (apt-get update && apt-get install -y jq)")
        for argv in (["apt-get", "update"], ["apt-get", "install", "-y", "jq"]):
            subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        found = shutil.which("jq")
        if found:
            return f"jq was missing; installed Debian's jq at {found}"
    raise RuntimeError("jq is missing and could not be installed: the doc's shell loop needs it")


def shell_env(bench: Bench) -> dict[str, str]:
    """The loop's own environment: what an operator following the doc has set, nothing of roachcert's."""
    return {
        "PATH": f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin",
        "VAULT_ADDR": bench.env["VAULT_ADDR"],
        "VAULT_TOKEN": bench.env["VAULT_TOKEN"],
        "HOME": bench.env["HOME"],
        "USER": getpass.getuser(),
        "LANG": "C.UTF-8",
    }


def shell_loop(bench: Bench, mount: str, pairs: list[tuple[str, str]], out: Path) -> float:
    listing = out.with_suffix(".pairs")
    listing.write_text("".join(f"{cluster} {user}\n" for cluster, user in pairs), encoding="utf-8")
    env = {**shell_env(bench), "OUT": str(out), "MOUNT": mount, "ROLE": "client", "PAIRS": str(listing)}
    return timed(lambda: run(["bash", "-c", SHELL_LOOP], env))


def check_output(out: Path, expected: int, who: str) -> None:
    """Both sides must have written `expected` key+cert pairs, keys 0600, each key matching its cert."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    keys = sorted(out.rglob("client.*.key"))
    if len(keys) != expected:
        raise RuntimeError(f"{who}: {len(keys)} keys written under {out}, expected {expected}")
    for key_path in (keys[0], keys[-1]):
        if stat.S_IMODE(key_path.stat().st_mode) != 0o600:
            raise RuntimeError(f"{who}: {key_path} is not 0600")
        cert_path = key_path.with_suffix(".crt")
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        same = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ) == cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        if not same:
            raise RuntimeError(f"{who}: {key_path} does not match {cert_path}")


def vault_alone(stack: Path, users: list[str]) -> Callable[[], None]:
    """The Vault floor: the same number of issue calls, JOBS at once, through roachcert's adapter, no
    files and no CLI process."""
    from roachcert.spec import VaultCa, load_stack
    from roachcert.vault.adapter import open_vault

    spec = load_stack(stack)
    ca = spec.cas["client-ca"]
    assert isinstance(ca, VaultCa)
    mount, issuer, role, ttl = ca.mount, ca.current_issuer, ca.role.name, ca.role.max_ttl.vault

    def action() -> None:
        adapter = open_vault(spec, os.environ)

        def one(user: str) -> None:
            adapter.issue_cert(mount, issuer, role, user, ttl)

        with ThreadPoolExecutor(max_workers=JOBS) as pool:
            list(pool.map(one, users))

    return action


def signing_floor(stack: Path, users: list[str]) -> Callable[[], None]:
    """Issue #29's floor: OpenBao signing one CSR per user (keys and CSRs made beforehand, untimed), JOBS
    at once through one client (roachcert's adapter), no files and no CLI process."""
    from roachcert.certs import keys
    from roachcert.spec import VaultCa, load_stack
    from roachcert.vault.adapter import open_vault

    spec = load_stack(stack)
    ca = spec.cas["client-ca"]
    assert isinstance(ca, VaultCa)
    mount, issuer, role, ttl = ca.mount, ca.current_issuer, ca.role.name, ca.role.max_ttl.vault
    csrs = [(user, keys.csr_pem(keys.new_key(ca.role.key_type, ca.role.bits), user)) for user in users]
    adapter = open_vault(spec, os.environ)

    def action() -> None:
        def one(pair: tuple[str, str]) -> None:
            adapter.sign_csr(mount, issuer, role, pair[1], pair[0], ttl)

        with ThreadPoolExecutor(max_workers=JOBS) as pool:
            list(pool.map(one, csrs))

    return action


def in_process(bench: Bench, stack: Path, key_type: str) -> float:
    """Median of `issue_all` run in this process (Vault + cert checks + fsync'd files, no CLI process)."""
    from roachcert.certs.issue import issue_all
    from roachcert.spec import load_stack
    from roachcert.vault.adapter import open_vault

    spec = load_stack(stack)
    runs: list[float] = []
    for run_no in range(3):
        # A folder of its own each call: a folder holding keys already would make issue_all skip them.
        out = bench.tmp / f"inproc-{key_type}-{run_no}-{uuid.uuid4().hex[:6]}"

        def whole(out: Path = out) -> None:
            issue_all(spec, out, open_vault(spec, os.environ), jobs=JOBS, environ=os.environ)

        runs.append(timed(whole))
    return median(runs)


def one_key_type(bench: Bench, key_type: str, outcome: Outcome) -> None:
    clusters = new_clusters(None, CLUSTERS)
    users = [f"user{index:02d}" for index in range(1, USERS + 1)]
    mount = new_mount(f"issue_{key_type}")
    stack = write_stack(
        bench.tmp / "stacks" / f"issue_{key_type}.yaml", clusters, mount=mount, users=users, key_type=key_type
    )
    roachcert(bench, "ca", "ensure", str(stack))
    pairs = [(cluster, user) for cluster in clusters for user in users]
    total = len(pairs)
    # Warm both paths up (first connection, page cache) with one certificate each.
    shell_loop(bench, mount, pairs[:1], bench.tmp / f"warm-shell-{key_type}")
    roachcert(
        bench, "issue", str(stack), pairs[0][0], pairs[0][1], "--out", str(bench.tmp / f"warm-{key_type}")
    )
    floor_action = vault_alone(stack, [f"floor{index:03d}" for index in range(total)])
    signing_action = signing_floor(stack, [user for _, user in pairs])

    slices: list[float] = []
    slice_sizes: list[int] = []
    ours: list[float] = []
    remote: list[float] = []
    floor: list[float] = []
    signing: list[float] = []
    for round_no in range(ROUNDS):
        part = pairs[round_no::ROUNDS]
        shell_out = bench.tmp / f"shell-{key_type}"
        our_out = bench.tmp / f"roachcert-{key_type}-{round_no}"

        def baseline(part: list[tuple[str, str]] = part, shell_out: Path = shell_out) -> None:
            slices.append(shell_loop(bench, mount, part, shell_out))
            slice_sizes.append(len(part))

        def ourside(our_out: Path = our_out) -> None:
            argv = ("issue", str(stack), "--all", "--out", str(our_out), "-j", str(JOBS))
            ours.append(timed(lambda: roachcert(bench, *argv)))
            check_output(our_out, total, "roachcert")

        def vault_keygen(round_no: int = round_no) -> None:
            out = bench.tmp / f"roachcert-vault-keygen-{key_type}-{round_no}"
            argv = ("issue", str(stack), "--all", "--out", str(out), "-j", str(JOBS), "--vault-keygen")
            remote.append(timed(lambda: roachcert(bench, *argv)))
            check_output(out, total, "roachcert --vault-keygen")

        def vault_floor() -> None:
            floor.append(timed(floor_action))

        def signing_floor_side() -> None:
            signing.append(timed(signing_action))

        steps: list[Callable[[], None]] = [baseline, ourside, vault_keygen, vault_floor, signing_floor_side]
        shift = round_no % len(steps)
        for step in steps[shift:] + steps[:shift]:
            step()
        say(
            f"  {LABEL[key_type]} round {round_no + 1}/{ROUNDS}: shell loop {len(part)} certs in "
            f"{fmt_s(slices[-1])}; roachcert {total} certs in {fmt_s(ours[-1])} (local keys), "
            f"{fmt_s(remote[-1])} (--vault-keygen); Vault alone {fmt_s(floor[-1])}; OpenBao signing "
            f"{total} CSRs {fmt_s(signing[-1])}"
        )
    check_output(bench.tmp / f"shell-{key_type}", total, "shell loop")
    base_total = sum(slices)
    ours_median = median(ours)
    floor_median = median(floor)
    ratio = base_total / ours_median
    goal = GOALS[key_type]
    outcome.data[key_type] = {
        "certificates": total,
        "clusters": CLUSTERS,
        "users_per_cluster": USERS,
        "jobs": JOBS,
        "baseline_slices_s": slices,
        "baseline_slice_sizes": slice_sizes,
        "baseline_total_s": base_total,
        "baseline_certs_per_s": total / base_total,
        "roachcert_runs_s": ours,
        "roachcert_median_s": ours_median,
        "roachcert_certs_per_s": total / ours_median,
        "roachcert_vault_keygen_runs_s": remote,
        "roachcert_vault_keygen_median_s": median(remote),
        "local_keys_vs_vault_keygen": median(remote) / ours_median,
        "vault_alone_runs_s": floor,
        "vault_alone_median_s": floor_median,
        "openbao_signing_runs_s": signing,
        "openbao_signing_median_s": median(signing),
        "over_signing_floor": ours_median / median(signing),
        "speedup": ratio,
        "speedup_of_vault_alone": base_total / floor_median,
        "goal_speedup": goal,
        "met": ratio >= goal,
    }
    row = Row(
        benchmark="issue",
        case=f"{total} client certs, {LABEL[key_type]}",
        baseline=f"{fmt_s(base_total)} ({total / base_total:.1f}/s)",
        roachcert=f"{fmt_s(ours_median)} ({total / ours_median:.0f}/s)",
        result=f"{ratio:.1f}x faster",
        goal=f">= {goal:g}x",
        met=ratio >= goal,
    )
    outcome.rows.append(row)
    report(row)
    keygen_row = Row(
        benchmark="issue",
        case=f"{total} client certs, {LABEL[key_type]}: local keys (/sign) vs Vault's (/issue)",
        baseline=f"{fmt_s(median(remote))} (--vault-keygen)",
        roachcert=f"{fmt_s(ours_median)} (local keys)",
        result=f"{median(remote) / ours_median:.2f}x",
        goal="no slower than /issue (>= 0.9x)",
        met=median(remote) / ours_median >= 0.9,
    )
    outcome.rows.append(keygen_row)
    report(keygen_row)
    if key_type == "ec":
        over = ours_median / median(signing)
        floor_row = Row(
            benchmark="issue",
            case=f"`issue --all`, {total} {LABEL[key_type]} certs, over OpenBao signing the same CSRs",
            baseline=f"{fmt_s(median(signing))} (OpenBao signs {total} CSRs, one client, {JOBS} at once)",
            roachcert=fmt_s(ours_median),
            result=f"{over:.2f}x the time",
            goal=f"<= {FLOOR_GOAL:g}x",
            met=over <= FLOOR_GOAL,
        )
        outcome.rows.append(floor_row)
        report(floor_row)
        if over > FLOOR_GOAL:
            inside = in_process(bench, stack, key_type)
            start_up = median([timed(lambda: roachcert(bench, "issue", "--help")) for _ in range(3)])
            parts = {
                "openbao_signing_s": median(signing),
                "issue_all_in_process_s": inside,
                "keys_csrs_checks_files_s": max(0.0, inside - median(signing)),
                "cli_process_rest_s": max(0.0, ours_median - inside),
                "cli_start_up_help_s": start_up,
            }
            outcome.data[key_type]["floor_breakdown"] = parts
            note = (
                f"`issue --all` of {total} {LABEL[key_type]} certs takes {over:.2f}x OpenBao signing the same "
                f"CSRs ({fmt_s(ours_median)} vs {fmt_s(median(signing))}): issue_all in-process {inside:.2f} s, "
                f"so key generation, CSRs, certificate checks and fsync'd files add "
                f"{parts['keys_csrs_checks_files_s']:.2f} s to the signing; the CLI process around it adds "
                f"{parts['cli_process_rest_s']:.2f} s (`roachcert issue --help` alone {start_up:.2f} s)"
            )
            outcome.findings.append(note)
            say(f"  {note}")
    say(
        f"  Vault alone ({total} issue calls, {JOBS} at once through the adapter, no files, no CLI): "
        f"{fmt_s(floor_median)}, {base_total / floor_median:.1f}x the shell loop"
    )
    if ratio >= goal:
        return
    needed = base_total / goal
    start_up = median([timed(lambda: roachcert(bench, "issue", "--help")) for _ in range(3)])
    head = (
        f"{LABEL[key_type]} misses its goal ({ratio:.1f}x vs >= {goal:g}x: roachcert needs "
        f"{ours_median:.2f} s where the goal allows {needed:.2f} s). "
    )
    if floor_median >= needed * 0.9:
        note = head + (
            f"OpenBao itself is the floor: the same {total} issue calls, {JOBS} at once through the adapter with "
            f"no files and no CLI, take {floor_median:.2f} s ({base_total / floor_median:.1f}x the loop): key "
            f"generation on the server, on the same {os.cpu_count()} cores as everything else. roachcert's "
            f"own share is the rest, {max(0.0, ours_median - floor_median):.2f} s (CLI start-up alone "
            f"{start_up:.2f} s)"
        )
        outcome.data[key_type]["breakdown"] = {"cli_start_up_help_s": start_up, "needed_for_goal_s": needed}
    else:
        inside = in_process(bench, stack, key_type)
        parts = {
            "vault_alone_s": floor_median,
            "issue_all_in_process_s": inside,
            "certs_and_files_s": max(0.0, inside - floor_median),
            "cli_process_rest_s": max(0.0, ours_median - inside),
            "cli_start_up_help_s": start_up,
            "needed_for_goal_s": needed,
        }
        outcome.data[key_type]["breakdown"] = parts
        note = head + (
            f"Vault alone takes {floor_median:.2f} s; issue_all in-process {inside:.2f} s, so cert checks and "
            f"fsync'd files (key and cert per user, the cluster's CA bundle when it differs) "
            f"add {parts['certs_and_files_s']:.2f} s; the CLI process around it (Python start-up, imports, the "
            f"summary table) adds {parts['cli_process_rest_s']:.2f} s (`roachcert issue --help` alone "
            f"{start_up:.2f} s)"
        )
    outcome.findings.append(note)
    say(f"  {note}")


def main() -> Outcome:
    outcome = Outcome("issue")
    note = ensure_jq()
    say(f"  {note}")
    outcome.notes.append(note)
    outcome.notes.append(
        "baseline: the doc's per-certificate steps (bao write > certs.json; echo -e $(jq ...) for key and cert; "
        "chmod 0600; chown) in three interleaved slices, summed; roachcert: `roachcert issue STACK --all -j 8` "
        "(a new process each run, start-up included), median of three"
    )
    with sandbox("issue") as bench:
        for key_type in ("ec", "rsa"):
            one_key_type(bench, key_type, outcome)
    return outcome
