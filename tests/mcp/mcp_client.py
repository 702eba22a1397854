"""A real MCP client session over stdio: the SDK's client spawning ``stigmem mcp`` on a vault.

(This folder has no ``__init__.py`` on purpose: as a package named ``mcp`` it would shadow the
SDK itself.)
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import anyio
from mcp import ClientSession, StdioServerParameters, stdio_client

T = TypeVar("T")
SCRIPT = Path(sys.executable).parent / "stigmem"
DEADLINE = 30.0  # seconds: generous for slow CI, never an unbounded wait
TOOLS = {"assert_fact", "query_facts", "get_fact", "recall", "provenance", "list_conflicts",
         "resolve_conflict", "lint_scope", "subscribe_scope"}


def server_command(vault_root: Path, *args: str) -> tuple[str, list[str]]:
    """``stigmem --vault ROOT mcp ARGS`` via the installed script (or the module without it)."""
    tail = ["--vault", str(vault_root), "mcp", *args]
    if SCRIPT.exists():
        return str(SCRIPT), tail
    return sys.executable, ["-c", "from stigmem_vault.cli.main import main; main()", *tail]


@asynccontextmanager
async def session(vault_root: Path, home: Path, *args: str,
                  log: Path | None = None) -> AsyncIterator[ClientSession]:
    """An initialized client session with a fresh ``stigmem mcp`` server process."""
    command, argv = server_command(vault_root, *args)
    params = StdioServerParameters(command=command, args=argv, env={"STIGMEM_HOME": str(home)},
                                   cwd=str(vault_root.parent))
    log = log or vault_root.parent / "mcp-server.log"
    with open(log, "a", encoding="utf-8") as errlog:
        async with (stdio_client(params, errlog=errlog) as (read, write),
                    ClientSession(read, write, read_timeout_seconds=DEADLINE) as client):
            with anyio.fail_after(DEADLINE):
                await client.initialize()
            yield client


async def call(client: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    """The structured result of a tool call that must succeed."""
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, f"{tool} failed: {result.content}"
    assert result.structured_content is not None
    # The text block is the same object, for hosts that show the model only text.
    [block] = result.content
    assert json.loads(block.text) == result.structured_content  # type: ignore[union-attr]
    return result.structured_content


async def refused(client: ClientSession, tool: str, **arguments: Any) -> str:
    """The error text of a tool call that must fail (as a tool error, not a protocol error)."""
    result = await client.call_tool(tool, arguments)
    assert result.is_error, f"{tool} succeeded: {result.structured_content}"
    [block] = result.content
    return block.text  # type: ignore[union-attr]


async def eventually(probe: Callable[[], Awaitable[T]], what: str,
                     timeout: float = 10.0) -> T:
    """Await ``probe`` until it returns something truthy; fail clearly at the deadline."""
    last: T | None = None
    with anyio.move_on_after(timeout):
        while True:
            last = await probe()
            if last:
                return last
            await anyio.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
