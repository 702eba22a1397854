"""``stigmem conformance``: run upstream-format vector files against a node (any node)."""

from __future__ import annotations

from pathlib import Path

import click

from stigmem_vault.cli.common import echo_json, json_option, one_line, state, table
from stigmem_vault.conformance.runner import DEFAULT_TIMEOUT, Outcome, run_conformance, summary

# Where the shared vector files sit when running from a checkout (shared/ beside the repo).
DEFAULT_VECTORS = Path("..") / "shared" / "conformance"
# Keep table rows on one screen line; --json has the full reasons.
REASON_WIDTH = 100
EXIT_FAILED = 1

_LABEL = {Outcome.PASSED: "pass", Outcome.FAILED: "FAIL", Outcome.SKIPPED: "skip"}


@click.command("conformance")
@click.option("--base-url", required=True, metavar="URL",
              help="The node's root URL, e.g. http://127.0.0.1:8765.")
@click.argument("vectors", nargs=-1, type=click.Path(exists=True), metavar="[VECTOR_DIR_OR_FILE]...")
@click.option("--token", envvar="STIGMEM_TOKEN", metavar="TOKEN",
              help="Send this bearer token with every request (default: $STIGMEM_TOKEN; none).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=DEFAULT_TIMEOUT,
              show_default=True, help="Seconds to wait for each response.")
@json_option
def conformance_cmd(base_url: str, vectors: tuple[str, ...], token: str | None,
                    timeout: float) -> None:
    """Run upstream Stigmem conformance vectors against the node at --base-url.

    Each directory contributes its *.json files in name order; files run as given. Without
    arguments, ../shared/conformance (relative to the current directory) is used if it exists.
    One store serves the whole run, so point it at a fresh node: vectors that need a plugin
    are skipped, setup chains run once. Vectors that need auth check that a node with auth
    refuses anonymous requests: skipped without --token, sent without the token with it.
    Prints a table and a summary line; exits 0 when no vector failed, 1 when one did, 2 on bad
    input (unreadable vector files, a bad URL).
    """
    if not vectors:
        if not DEFAULT_VECTORS.is_dir():
            raise click.UsageError(f"no vector directory or file given, and no {DEFAULT_VECTORS} "
                                   f"here to default to")
        vectors = (str(DEFAULT_VECTORS),)
    results = run_conformance(base_url, vectors, token=token, timeout=timeout)
    counts = summary(results)
    if state().json:
        echo_json({"base_url": base_url, "results": [r.as_dict() for r in results],
                   "summary": counts})
    else:
        rows = [(_LABEL[r.outcome], Path(r.file).name, r.id,
                 "" if r.status is None else str(r.status), one_line(r.reason, REASON_WIDTH))
                for r in results]
        if rows:
            click.echo(table(("RESULT", "FILE", "VECTOR", "STATUS", "DETAIL"), rows))
        click.echo(f"{counts['passed']} passed, {counts['failed']} failed, "
                   f"{counts['skipped']} skipped")
    if counts["failed"]:
        click.get_current_context().exit(EXIT_FAILED)
