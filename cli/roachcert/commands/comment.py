"""`roachcert comment PLAN_MARKDOWN… --repo OWNER/NAME --pr N`: one pull-request comment per stack."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from typer._click.exceptions import UsageError

from roachcert.commands.context import of
from roachcert.errors import RoachcertError

_FILES_HELP = "Markdown files written by `roachcert plan STACK… --format markdown --out FILE`."


def register(app: typer.Typer) -> None:
    app.command("comment")(comment)


def comment(
    ctx: typer.Context,
    files: Annotated[
        list[Path], typer.Argument(metavar="PLAN_MARKDOWN", help=_FILES_HELP, show_default=False)
    ],
    pr: Annotated[int, typer.Option("--pr", min=1, help="The pull request number.", show_default=False)],
    # The defaults below come from the run's environment, not click's `envvar=` (which reads the process's).
    repo: Annotated[
        str | None,
        typer.Option("--repo", help="OWNER/NAME (default: $GITHUB_REPOSITORY).", show_default=False),
    ] = None,
    api_url: Annotated[
        str | None,
        typer.Option(
            "--api-url",
            help="GitHub's API (default: $GITHUB_API_URL, else https://api.github.com).",
            show_default=False,
        ),
    ] = None,
    author: Annotated[
        str | None,
        typer.Option(
            "--author",
            metavar="LOGIN",
            help="Whose comments are roachcert's to edit (default: $ROACHCERT_COMMENT_AUTHOR, else the token's own login from GET /user; "
            "github-actions[bot] for GITHUB_TOKEN in Actions). Needed for an app's installation token "
            "outside Actions (like my-app[bot]).",
            show_default=False,
        ),
    ] = None,
    step_summary: Annotated[
        bool,
        typer.Option(
            "--step-summary/--no-step-summary", help="Also append to $GITHUB_STEP_SUMMARY when set."
        ),
    ] = True,
) -> None:
    """Post each stack's plan report on the pull request, editing that stack's earlier comment.

    Contract: each PLAN_MARKDOWN file holds the sections `plan --format markdown` writes, one per stack,
    each starting with a hidden `<!-- roachcert:stack=NAME -->` line. Every section becomes, or replaces
    the text of, the comment on the pull request that starts with the same line and was written by the
    token's own login (--author): one comment per stack, edited in place on each run. Anyone's comment
    may start with that public line; those are left alone, with a note. The token is read from GITHUB_TOKEN only (it needs pull-requests: write);
    it is never taken from the command line nor printed.
    """
    run = of(ctx)
    repo = repo or run.environ.get("GITHUB_REPOSITORY") or None
    author = author or run.environ.get("ROACHCERT_COMMENT_AUTHOR") or None
    if repo is None:
        raise UsageError("Missing option '--repo' (or GITHUB_REPOSITORY).", ctx=ctx)
    from roachcert.github import append_step_summary, token_from_env, upsert_comment
    from roachcert.reports.markdown import split_stacks, stack_marker

    token = token_from_env(run.environ)
    sections: list[tuple[str, str]] = []
    texts: list[str] = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise RoachcertError(f"{path}: cannot read it ({exc.strerror or exc})") from None
        found = split_stacks(text)
        if not found:
            raise RoachcertError(
                f"{path}: holds no roachcert stack section; write it with "
                "`roachcert plan STACK --format markdown --out FILE`"
            )
        sections += found
        texts.append(text)
    seen = [stack for stack, _ in sections]
    twice = sorted({stack for stack in seen if seen.count(stack) > 1})
    if twice:
        raise RoachcertError(
            f"stack {twice[0]} appears in more than one section; give each stack's report once"
        )
    for stack, body in sections:
        result = upsert_comment(
            repo,
            pr,
            stack,
            stack_marker(stack),
            body,
            token,
            api_url,
            author=author,
            note=run.err,
            environ=run.environ,
        )
        run.out(
            f"stack {stack}: {'posted' if result.created else 'updated'} {result.url or f'comment {result.id}'}"
        )
    if step_summary and append_step_summary("\n".join(texts), run.environ):
        run.out("job summary: appended")
