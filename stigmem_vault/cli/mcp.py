"""``stigmem mcp``: serve the vault to an agent host over MCP (stdio).

The ``mcp`` SDK is imported only when the command runs, so ``stigmem --help`` and every other
command stay light.
"""

from __future__ import annotations

import os
import signal
from types import FrameType

import click

from stigmem_vault.api.vault import COMMIT_DELAY
from stigmem_vault.cli.common import open_vault


def _scopes(raw: tuple[str, ...]) -> list[str] | None:
    scopes = [part for item in raw for part in item.split(",") if part.strip()]
    return scopes or None


@click.command("mcp", short_help="Serve the vault to an agent host over MCP (stdio).")
@click.option("--as", "as_source", metavar="SOURCE",
              help="The identity this server acts as: it signs every write and may read its "
                   "scopes. Its private key must be held here (default: the vault owner).")
@click.option("--scopes", multiple=True, metavar="SCOPES",
              help="Scopes it may read and write, comma-separated or repeated: local, team, "
                   "company, public (default: all).")
def mcp_cmd(as_source: str | None, scopes: tuple[str, ...]) -> None:
    """Serve the vault over the Model Context Protocol on stdin/stdout, for an agent host.

    Tools: assert_fact, query_facts, get_fact, recall, provenance, list_conflicts,
    resolve_conflict. Facts come back as data, never as instructions. The vault watcher runs
    meanwhile (dropped drafts are signed, edits indexed); writes are committed shortly after
    they happen and when the host closes the connection.
    """
    from stigmem_vault.mcp.server import principal_for, serve_stdio  # the SDK: only here

    # The default commit delay, not a command's single batch: a host keeps this running.
    with open_vault(commit_delay=COMMIT_DELAY) as vault:
        principal = principal_for(vault, as_source, _scopes(scopes))

        def stop(_signum: int, _frame: FrameType | None) -> None:
            # The SDK reads stdin on a worker thread that only a line or EOF wakes, so unwinding
            # would wait on it: commit what is pending, close the vault, and leave at once.
            vault.close()
            click.echo("stigmem mcp: stopped; every write is committed", err=True)
            os._exit(0)

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            click.echo(f"stigmem mcp: serving {vault.root} as {principal.source} "
                       f"({', '.join(sorted(principal.scopes))}) on stdio", err=True)
            serve_stdio(vault, principal)  # until the host closes stdin
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


COMMANDS = (mcp_cmd,)
