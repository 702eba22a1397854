"""The installed ``stigmem`` console script, run as a real process."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stigmem_vault.api.vault import Vault

from .support import on_terminal

STIGMEM = Path(sys.executable).parent / "stigmem"

pytestmark = pytest.mark.skipif(not STIGMEM.exists(),
                                reason="run `pip install -e '.[test]'` to install the script")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(STIGMEM), *args], capture_output=True, text=True, timeout=60)


def test_real_executable_round_trip(home: Path, tmp_path: Path) -> None:
    vault = str(tmp_path / "vault")
    made = run("init", vault, "--owner", "user:alice")
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith(f"created vault {vault} for user:alice")

    written = run("--vault", vault, "--json", "assert", "--entity", "project:atlas",
                  "--relation", "codex:state", "--value", "draft", "--scope", "team")
    assert written.returncode == 0, written.stderr
    fact = json.loads(written.stdout)
    assert (tmp_path / "vault" / fact["path"]).is_file()

    bad = run("--vault", vault, "assert", "--entity", "project:atlas", "--relation",
              "codex:state", "--value", "x", "--confidence", "1.5")
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert bad.stderr == "error: confidence: 1.5 is outside 0.0-1.0\n"

    usage = run("--vault", vault, "list", "--min-confidence", "lots")
    assert usage.returncode == 2
    assert usage.stderr.count("\n") == 1
    assert "'--min-confidence'" in usage.stderr

    verified = run("--vault", vault, "verify")
    assert verified.returncode == 0
    assert verified.stdout == "verified 1 fact file(s): 1 valid\n"
    assert verified.stderr == ""  # no progress bar when stderr is not a terminal

    assert run("--help").returncode == 0
    assert run("--vault", vault, "status", "--json").returncode == 0


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="git verify-commit needs ssh-keygen")
def test_git_verify_commit_accepts_cli_commits(home: Path, tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    assert run("init", str(vault), "--owner", "user:alice").returncode == 0
    assert run("--vault", str(vault), "identity", "create", "agent:codex").returncode == 0
    fact = json.loads(run("--vault", str(vault), "--json", "assert", "--entity", "project:atlas",
                          "--relation", "codex:state", "--value", "draft",
                          "--source", "agent:codex").stdout)
    assert run("--vault", str(vault), "amend", fact["id"], "--value", "done").returncode == 0
    log = subprocess.run(["git", "-C", str(vault), "log", "--format=%H"], capture_output=True,
                         text=True, check=True).stdout.split()
    assert len(log) == 4  # init, identity, assert, amend: one signed commit per command
    for commit in log:
        checked = subprocess.run(
            ["git", "-C", str(vault), "-c", "gpg.ssh.allowedSignersFile=.stigmem/allowed_signers",
             "verify-commit", commit], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
        assert 'Good "git" signature' in checked.stderr


@pytest.mark.parametrize(("command", "label", "summary"), [
    ("verify", b"verifying", "verified 120 fact file(s): 120 valid\n"),
    ("reindex", b"reindexing", "reindex: scanned 120 note(s): 0 unchanged, 120 fact file(s) indexed, "
                               "0 removed\n"),
])
def test_progress_bar_on_a_terminal(home: Path, tmp_path: Path, command: str, label: bytes,
                                    summary: str) -> None:
    with Vault.init(tmp_path / "vault", owner="user:alice", commit_delay=None) as vault:
        for i in range(120):
            vault.assert_fact(entity=f"project:p{i}", relation="codex:state", value="draft")
    status, stdout, drawn = on_terminal("--vault", str(tmp_path / "vault"), command, timeout=60)
    assert status == 0
    assert stdout == summary
    assert label in drawn
    assert b"100%" in drawn
