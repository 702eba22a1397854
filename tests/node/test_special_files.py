"""A running node keeps committing after a FIFO named ``*.md`` appears in the vault, and
stops on SIGTERM (issue 9, item 3: its watcher used to block in open() holding the vault lock).
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import httpx
import pytest
from fifos import make_fifo, release

from .test_serve import DEADLINE, fact, git, poll, serving
from .test_serve import pytestmark as pytestmark  # the network mark, and a skip without the script
from .test_serve import vault_dir as vault_dir

FIFOS = ("facts/team/junk/fifo.md", "inbox/agent-codex/fifo.md", "fifo.md",
         "conflicts/team/fifo.md")


def committed(vault: Path, fact_id: str) -> bool | None:
    """True once HEAD holds the fact file of ``fact_id``."""
    return fact_id[:12] in git(vault, "ls-tree", "-r", "--name-only", "HEAD", "facts") or None


def test_a_node_keeps_committing_and_stops_with_fifos_in_the_vault(vault_dir: Path,
                                                                   tmp_path: Path) -> None:
    fifos = [vault_dir / rel for rel in FIFOS]
    try:
        with serving(vault_dir, tmp_path, "--auth", "none") as node:
            before = httpx.post(f"{node.url}/v1/facts", json=fact("agent:codex", "before"))
            assert before.status_code == 201, before.text
            poll(lambda: committed(vault_dir, before.json()["id"]), "the first fact committed")

            for path in fifos:
                make_fifo(path)
            # A draft dropped after the FIFOs: once it is signed, the watcher has been past them.
            (vault_dir / "inbox/agent-codex/later.md").write_text(
                "---\nentity: project:atlas\nrelation: codex:owner\nvalue: bob\nscope: team\n---\n")
            after = httpx.post(f"{node.url}/v1/facts", json=fact("agent:codex", "after"))
            assert after.status_code == 201, after.text
            poll(lambda: committed(vault_dir, after.json()["id"]), "a fact written after the FIFOs "
                 "committed")

            def signed() -> list[object] | None:
                found = httpx.get(f"{node.url}/v1/facts", params={"relation": "codex:owner"},
                                  timeout=5).json()["facts"]
                return found or None

            poll(signed, "the later draft signed")
            try:
                assert node.stop(signal.SIGTERM) == 0, node.stderr
            except subprocess.TimeoutExpired:
                pytest.fail(f"the node did not stop on SIGTERM within {DEADLINE}s")
        assert all(path.is_fifo() for path in fifos)  # left alone, never committed
        tracked = git(vault_dir, "ls-files")
        assert not [rel for rel in FIFOS if rel in tracked]
    finally:
        release(fifos)
