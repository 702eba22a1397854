"""A FIFO named ``*.md`` anywhere in the vault never hangs a command (issue 9, item 3).

``open()`` of a FIFO blocks until a writer opens its other end, so each command runs as a real
process with a deadline: a regression fails here instead of hanging the suite. Each FIFO is
reported by the command that looks at it, with a reason naming what the file is.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fifos import make_fifo, release

from stigmem_vault.api.vault import Vault

STIGMEM = Path(sys.executable).parent / "stigmem"
DEADLINE = 20.0  # seconds per command; it takes about one

# Where a FIFO can appear: among the fact files, in an inbox, at the top level, among conflicts.
FIFOS = ("facts/team/junk/fifo.md", "inbox/agent-codex/fifo.md", "fifo.md",
         "conflicts/team/fifo.md")

pytestmark = pytest.mark.skipif(not STIGMEM.exists(),
                                reason="run `pip install -e '.[test]'` to install the script")


@pytest.fixture
def fifo_vault(home: Path, tmp_path: Path) -> Iterator[Path]:
    """A vault with one signed fact, committed, then a FIFO in each of the places above."""
    path = tmp_path / "vault"
    with Vault.init(path, owner="user:alice", home=home, commit_delay=None) as vault:
        vault.create_identity("agent:codex")
        vault.assert_fact(entity="project:atlas", relation="codex:state", value="draft",
                          source="agent:codex", scope="team")
    made = [make_fifo(path / rel) for rel in FIFOS]
    yield path
    release(made)


def run(vault: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run([str(STIGMEM), "--vault", str(vault), *args], capture_output=True,
                              text=True, timeout=DEADLINE)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`stigmem {' '.join(args)}` did not finish within {DEADLINE}s "
                    "(blocked on a FIFO?)")


def test_verify_finishes_and_names_the_fifo_among_the_facts(fifo_vault: Path) -> None:
    result = run(fifo_vault, "--json", "verify")
    assert result.returncode == 1, result.stderr  # a fact file that is not one fails verify
    report = json.loads(result.stdout)
    problems = {p["path"]: (p["verdict"], p["reason"]) for p in report["problems"]}
    assert problems == {"facts/team/junk/fifo.md": (
        "malformed", "is not a regular file: a FIFO (named pipe); it is never opened")}
    assert report["counts"]["valid"] == 1


def test_status_index_reindex_and_list_finish_and_report_every_fifo(fifo_vault: Path) -> None:
    for command in ("reindex", "index"):
        result = run(fifo_vault, "--json", command)
        assert result.returncode == 0, result.stderr
    result = run(fifo_vault, "--json", "reindex")
    assert result.returncode == 0, result.stderr
    reported = {p["path"]: p["reason"] for p in json.loads(result.stdout)["problems"]}
    assert sorted(reported) == sorted(FIFOS)
    assert all("not a regular file: a FIFO" in reason for reason in reported.values()), reported

    result = run(fifo_vault, "--json", "status")
    assert result.returncode == 0, result.stderr
    statuses = {p["path"]: (p["status"], p["reason"]) for p in json.loads(result.stdout)["problems"]}
    assert sorted(statuses) == sorted(FIFOS)
    assert statuses["facts/team/junk/fifo.md"][0] == "malformed"
    assert {statuses[rel][0] for rel in FIFOS[1:]} == {"rejected"}
    assert all("not a regular file: a FIFO" in why for _status, why in statuses.values())

    result = run(fifo_vault, "--json", "assert", "--entity", "project:atlas", "--relation",
                 "codex:owner", "--value", "bob", "--source", "agent:codex", "--scope", "team")
    assert result.returncode == 0, result.stderr
    written = json.loads(result.stdout)["id"]
    head = subprocess.run(["git", "-C", str(fifo_vault), "ls-tree", "-r", "--name-only", "HEAD"],
                          capture_output=True, text=True, check=True).stdout
    assert written[:12] in head  # committed
    assert not [rel for rel in FIFOS if rel in head]

    result = run(fifo_vault, "--json", "list")
    assert result.returncode == 0, result.stderr
    assert sorted(f["value"]["v"] for f in json.loads(result.stdout)) == ["bob", "draft"]
    for rel in FIFOS:  # reported, never removed or replaced
        assert (fifo_vault / rel).is_fifo()
