"""`roachcert init --from-cloud [--name-filter RE] > stacks/NAME.yaml`: a stack drafted from the
organization's dedicated clusters, as the Cloud API lists them."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from roachcert.commands.context import of
from roachcert.errors import RoachcertError


def register(app: typer.Typer) -> None:
    app.command("init")(init)


def init(
    ctx: typer.Context,
    from_cloud: Annotated[
        bool,
        typer.Option(
            "--from-cloud", help="List the organization's dedicated clusters through the Cloud API."
        ),
    ] = False,
    name_filter: Annotated[
        str,
        typer.Option(
            "--name-filter", metavar="RE", help="Only clusters whose Cloud name this regex matches."
        ),
    ] = "",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Write the stack to this file (not stdout), and the CAs the clusters trust today beside it "
            "in NAME-cas/.",
            show_default=False,
        ),
    ] = None,
    stack_dir: Annotated[
        Path,
        typer.Option(
            "--stack-dir",
            help="Without --out: the folder the printed stack will be saved in; the CAs the clusters trust "
            "today go to its cloud-cas/ (pem_file paths are relative to the stack file).",
        ),
    ] = Path("stacks"),
) -> None:
    """Draft a stack from the organization's clusters: ids, SQL hosts, and the client CA each trusts today.

    Needs COCKROACH_API_KEY (COCKROACH_SERVER for another API). Clusters that trust a client CA are
    declared trusting exactly it (a pem_file CA written beside the stack), so the first plan adopts them
    without changing what they trust. The stack goes to stdout (or --out) and validates as written.
    """
    run = of(ctx)
    from roachcert.cloud.onboarding import Found, draft

    if not from_cloud:
        raise RoachcertError("init drafts a stack from the Cloud API: pass --from-cloud")
    try:
        wanted = re.compile(name_filter)
    except re.error as exc:
        raise RoachcertError(f"--name-filter {name_filter!r} is not a regular expression: {exc}") from None
    if out is not None and out.exists():
        raise RoachcertError(f"{out} exists; init writes only a new stack file (pick another name)")
    client = run.real_or_given().cloud()
    listed = client.list_clusters()
    chosen = [c for c in listed if c.dedicated and c.state != "DELETED" and wanted.search(c.name)]
    skipped = sum(1 for c in listed if not c.dedicated and wanted.search(c.name))
    if skipped:
        run.err(f"note: left out {skipped} serverless cluster(s): client CAs are for dedicated clusters")
    if not chosen:
        where = f" whose name matches {name_filter!r}" if name_filter else ""
        raise RoachcertError(f"no dedicated clusters{where} in the organization at {client.server}")
    found = [Found(cluster, client.get_client_ca(cluster.id)) for cluster in chosen]
    folder, cas_folder = (out.parent, f"{out.stem}-cas") if out is not None else (stack_dir, "cloud-cas")
    result = draft(
        found,
        source=client.server,
        cas_folder=cas_folder,
        today=datetime.now(UTC).date(),
        name_filter=name_filter,
    )
    for note in result.notes:
        run.err(note)
    _write_pems(folder, result.pem_files)
    if out is not None:
        from roachcert import files

        files.write_atomic(out, run.mask(result.text))  # a file is a sink too
        run.err(f"wrote {out} ({result.clusters} clusters)")
    else:
        run.out(result.text, nl=False)
    if result.pem_files:
        run.err(
            f"wrote {len(result.pem_files)} CA file(s) the clusters trust today to {folder / cas_folder}/ "
            f"(pem_file paths are relative to {folder}/: keep the stack there)"
        )


def _write_pems(folder: Path, pems: dict[str, str]) -> None:
    """Each CA a cluster trusts today, beside the stack; an existing file is kept only if it is the same."""
    from roachcert import files

    for relative, pem in pems.items():
        path = folder / relative
        try:
            if path.read_text(encoding="utf-8") == pem:
                continue
            raise RoachcertError(
                f"{path} exists and holds another certificate; move it away and run init again"
            )
        except (FileNotFoundError, NotADirectoryError):
            pass
        files.ensure_dir(path.parent, 0o755)
        files.write_atomic(path, pem)
