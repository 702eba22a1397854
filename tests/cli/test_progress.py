"""Progress for long work (init --from, the first index of a fresh clone) on a terminal only."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stigmem_vault.api.vault import Vault

from .support import on_terminal

STIGMEM = Path(sys.executable).parent / "stigmem"

pytestmark = pytest.mark.skipif(not STIGMEM.exists(),
                                reason="run `pip install -e '.[test]'` to install the script")


@pytest.fixture
def template(home: Path, tmp_path: Path) -> Path:
    path = tmp_path / "template"
    with Vault.init(path, owner="user:alice", commit_delay=None) as vault:
        for i in range(150):
            vault.assert_fact(entity=f"project:p{i}", relation="codex:state", value="draft")
    return path


def in_a_pipe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(STIGMEM), *args], capture_output=True, text=True, timeout=120)


def test_init_from_shows_progress_on_a_terminal_only(template: Path, tmp_path: Path) -> None:
    code, stdout, drawn = on_terminal("init", str(tmp_path / "a"), "--owner", "user:bob",
                                      "--from", str(template))
    assert code == 0
    assert "imported 150 fact(s)" in stdout
    assert b"importing" in drawn and b"100%" in drawn

    quiet = in_a_pipe("init", str(tmp_path / "b"), "--owner", "user:bob", "--from", str(template))
    assert quiet.returncode == 0
    assert quiet.stderr == ""


def test_first_index_of_a_fresh_clone_shows_progress_on_a_terminal_only(
        template: Path, tmp_path: Path) -> None:
    for name in ("tty", "pipe"):
        subprocess.run(["git", "clone", "-q", str(template), str(tmp_path / name)], check=True)
    code, stdout, drawn = on_terminal("--vault", str(tmp_path / "tty"), "list")
    assert code == 0 and stdout.count("project:p") == 150
    assert b"indexing" in drawn and b"100%" in drawn
    # The bar ends its line before the answer: nothing of it is left in stdout.
    assert "indexing" not in stdout

    quiet = in_a_pipe("--vault", str(tmp_path / "pipe"), "list")
    assert quiet.returncode == 0 and quiet.stdout.count("project:p") == 150
    assert quiet.stderr == ""
