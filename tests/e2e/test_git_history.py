"""After gestures through the running watcher, history is signed so that stock git accepts it,
and a flush leaves nothing uncommitted."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from watch.support import (
    draft_text,
    set_property,
    signed_elsewhere,
    tick_sign,
    wait_for,
    wait_quiet,
    watching,
    write_in_place,
    write_via_rename,
)

from stigmem_vault.api.vault import Vault

pytestmark = pytest.mark.skipif(
    subprocess.run(["which", "ssh-keygen"], capture_output=True).returncode != 0,
    reason="git verify-commit of SSH signatures needs ssh-keygen")


def git(vault: Vault, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    return subprocess.run(["git", "-c", "gpg.ssh.allowedSignersFile=.stigmem/allowed_signers", *args],
                          cwd=vault.root, capture_output=True, text=True, env=env)


def _every_gesture(vault: Vault, seen) -> None:
    original = vault.assert_fact(entity="user:bob", relation="memory:role", value="engineer",
                                 source="agent:codex")
    dropped = vault.assert_fact(entity="user:bob", relation="memory:team", value="atlas",
                                source="agent:codex")
    write_via_rename(vault.root / "notes/idea.md", draft_text("from Obsidian"))
    write_via_rename(vault.root / "inbox/agent-codex/state.md",
                     draft_text("busy", entity="agent:codex", relation="codex:state", source=None))
    write_in_place(vault.root / "notes/bad.md", draft_text("x", source="user:nobody"))
    rel = vault.path_of(original)
    write_in_place(vault.root / rel, tick_sign(set_property(  # edited, `sign` ticked
        (vault.root / rel).read_text("utf-8"), "value_string", '"manager"')))
    os.unlink(vault.root / vault.path_of(dropped))
    _fact, other_rel, text = signed_elsewhere(vault, "agent:codex", "architect")
    write_via_rename(vault.root / other_rel, text)  # a conflict with the owner's amendment

    def missing() -> list[str]:
        wanted = {"signed": 2, "amended": 1, "retracted": 1, "rejected": 1}
        gaps = [kind for kind, n in wanted.items() if len(seen.kinds(kind)) < n]
        return gaps + ([] if vault.conflicts("open") else ["conflict"])

    try:
        wait_for(lambda: not missing(), what="every gesture")
    except AssertionError:
        raise AssertionError(f"still missing {missing()} after {seen.changes}") from None
    wait_quiet(vault, seen)


def test_history_verifies_with_stock_git_and_the_tree_is_clean_after_flush(vault: Vault) -> None:
    with watching(vault) as seen:
        _every_gesture(vault, seen)
    assert vault.flush() is not None
    status = git(vault, "status", "--porcelain")
    assert status.returncode == 0 and status.stdout == "", status.stdout
    for rev in git(vault, "rev-list", "HEAD").stdout.split():
        verified = git(vault, "verify-commit", rev)
        assert verified.returncode == 0, (rev, verified.stderr)
        assert "Good" in verified.stderr
    head = git(vault, "verify-commit", "HEAD")
    assert head.returncode == 0, head.stderr
    # Every fact file in the tree is committed, and so is every conflict note.
    tracked = set(git(vault, "ls-files").stdout.split())
    assert set(vault.fact_paths()) <= tracked
    assert any(p.startswith("conflicts/") for p in tracked)
    assert "notes/bad.md" in tracked  # the annotated draft is kept in history too


def test_timed_commits_made_while_watching_verify(home: Path, tmp_path: Path) -> None:
    vault = Vault.init(tmp_path / "timed", owner="user:alice", home=home, commit_delay=0.05)
    vault.create_identity("agent:codex")
    try:
        with watching(vault) as seen:
            _every_gesture(vault, seen)
            wait_for(lambda: git(vault, "status", "--porcelain").stdout == "",
                     what="the timed commit to catch up")
        assert git(vault, "verify-commit", "HEAD").returncode == 0
    finally:
        vault.close()
    assert git(vault, "status", "--porcelain").stdout == ""


def test_a_forged_commit_is_refused_by_stock_git(vault: Vault) -> None:
    """The check above is not vacuous: an unsigned commit fails verify-commit."""
    (vault.root / "notes").mkdir()
    (vault.root / "notes/x.md").write_text("x\n")
    git(vault, "add", "notes/x.md")
    made = git(vault, "-c", "user.name=x", "-c", "user.email=x@x", "-c", "commit.gpgsign=false",
               "commit", "-qm", "unsigned")
    assert made.returncode == 0, made.stderr
    assert git(vault, "verify-commit", "HEAD").returncode != 0
