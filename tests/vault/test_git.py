"""Signed git history: SSHSIG signatures that stock ssh-keygen and git verify-commit accept."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from model.factgen import KEY, OTHER_KEY

from stigmem_vault.errors import StorageError
from stigmem_vault.vault.git import GitRepo, ssh_public_key_line, sshsig, write_allowed_signers


def git(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-c", "gpg.ssh.allowedSignersFile=allowed_signers", *args],
                          cwd=root, capture_output=True, text=True, check=check)


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    root = tmp_path / "repo"
    root.mkdir()
    repo = GitRepo.init(root, tmp_path / "lock")
    (root / ".gitignore").write_text("allowed_signers\n")
    write_allowed_signers(root / "allowed_signers", [("system:node-1", KEY.verify_key)])
    return repo


def commit(repo: GitRepo, files: dict[str, str], removed: tuple[str, ...] = (),
           message: str = "m") -> str | None:
    for rel, text in files.items():
        (repo.root / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo.root / rel).write_text(text)
    changes = [*((rel, text.encode()) for rel, text in files.items()), *((r, None) for r in removed)]
    with repo.locked():
        oid = repo.commit(changes, message, KEY, "system:node-1", "n@stigmem.invalid")
        repo.write_index()  # as a writer's flush does: git status clean at once
        return oid


def test_sshsig_verifies_with_ssh_keygen(tmp_path: Path) -> None:
    message = b"hello \x00 world\n"
    (tmp_path / "sig").write_text(sshsig(KEY, message, namespace="file") + "\n")
    (tmp_path / "signers").write_text(f"me {ssh_public_key_line(KEY.verify_key)}\n")
    ok = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(tmp_path / "signers"), "-I", "me",
                         "-n", "file", "-s", str(tmp_path / "sig")], input=message, capture_output=True)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(tmp_path / "signers"), "-I", "me",
                          "-n", "file", "-s", str(tmp_path / "sig")], input=message + b"!",
                         capture_output=True)
    assert bad.returncode != 0


def test_commits_are_signed_and_verify(repo: GitRepo) -> None:
    first = commit(repo, {"a.md": "a\n", ".gitignore": "allowed_signers\n"}, message="first")
    second = commit(repo, {"b/c.md": "c\n"}, message="second\n\nbody")
    assert first and second
    for oid in (first, second):
        result = git(repo.root, "verify-commit", oid)
        assert result.returncode == 0, result.stderr
        assert 'Good "git" signature for system:node-1' in result.stderr
    log = git(repo.root, "log", "--format=%H %P %s").stdout.splitlines()
    assert log == [f"{second} {first} second", f"{first}  first"]
    assert git(repo.root, "status", "--porcelain").stdout == ""


def test_commit_by_an_unlisted_key_fails_verification(repo: GitRepo) -> None:
    (repo.root / "x.md").write_text("x")
    with repo.locked():
        oid = repo.commit([("x.md", b"x")], "m", OTHER_KEY, "someone", "s@x")
    assert oid is not None
    assert git(repo.root, "verify-commit", oid, check=False).returncode != 0


def test_nothing_changed_means_no_commit(repo: GitRepo) -> None:
    commit(repo, {"a.md": "a"})
    head = str(repo.repo.head.target)
    assert commit(repo, {"a.md": "a"}) is None
    assert str(repo.repo.head.target) == head


def test_removal_and_dirty_paths(repo: GitRepo) -> None:
    commit(repo, {"a.md": "a", "b.md": "b", ".gitignore": "allowed_signers\n"})
    (repo.root / "a.md").unlink()
    (repo.root / "b.md").write_text("changed")
    (repo.root / "new" / "c.md").parent.mkdir()
    (repo.root / "new" / "c.md").write_text("c")
    added, removed = repo.dirty_paths()
    assert sorted(added) == ["b.md", "new/c.md"] and removed == ["a.md"]
    with repo.locked():
        repo.commit([(p, (repo.root / p).read_bytes()) for p in added] + [(p, None) for p in removed],
                    "sync", KEY, "system:node-1", "n@x")
    assert repo.dirty_paths() == ([], [])
    assert sorted(repo.tracked_paths()) == [".gitignore", "b.md", "new/c.md"]


def test_log_for_a_path(repo: GitRepo) -> None:
    first = commit(repo, {"a.md": "1"}, message="one")
    commit(repo, {"b.md": "x"}, message="other")
    third = commit(repo, {"a.md": "2"}, message="two")
    assert repo.log_for("a.md") == [(third, "two"), (first, "one")]
    assert repo.log_for("missing.md") == []


def test_open_a_non_repository_is_a_storage_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="not a git repository"):
        GitRepo.open(tmp_path / "nowhere", tmp_path / "lock")


def test_allowed_signers_file(tmp_path: Path) -> None:
    path = tmp_path / "allowed_signers"
    entries = [("user:alice", KEY.verify_key), ("agent:codex", OTHER_KEY.verify_key)]
    assert write_allowed_signers(path, entries) is True
    assert write_allowed_signers(path, list(reversed(entries))) is False  # sorted, unchanged
    lines = path.read_text().splitlines()
    assert lines[0].startswith('agent:codex namespaces="git" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5')
    assert len(lines) == 2


def test_staged_files_carry_their_stat_data(repo: GitRepo) -> None:
    """git sees committed files clean without re-reading them: each index entry has the
    file's stat data (an entry without it is listed by diff-files as changed)."""
    commit(repo, {"facts/local/a.md": "one\n", "notes/deep/b.md": "two\n", ".gitignore": "allowed_signers\n"})
    assert git(repo.root, "diff-files", "--name-only").stdout == ""
    assert git(repo.root, "status", "--porcelain").stdout == ""
    # An edit after the commit is seen, by stat and by content.
    (repo.root / "facts/local/a.md").write_text("changed\n")
    assert git(repo.root, "diff-files", "--name-only").stdout == "facts/local/a.md\n"


def test_a_commit_records_the_bytes_handed_to_it_never_the_work_tree(repo: GitRepo) -> None:
    """Issue 9, item 2: a file edited (or replaced by a symlink or a FIFO) after its writer
    wrote it is committed as written; the work tree then shows the edit as a change."""
    import os
    for rel in ("a.md", "b.md", "c.md"):
        (repo.root / rel).write_text("as written\n")
    (repo.root / "a.md").write_text("a person's edit\n")
    (repo.root / "b.md").unlink()
    (repo.root / "b.md").symlink_to("/etc/passwd")
    (repo.root / "c.md").unlink()
    os.mkfifo(repo.root / "c.md")
    with repo.locked():
        repo.commit([(rel, b"as written\n") for rel in ("a.md", "b.md", "c.md")],
                    "m", KEY, "system:node-1", "n@x")
        repo.write_index()
    for rel in ("a.md", "b.md", "c.md"):
        assert git(repo.root, "show", f"HEAD:{rel}").stdout == "as written\n"
        assert git(repo.root, "ls-files", "-s", rel).stdout.startswith("100644 ")
    assert "a.md" in git(repo.root, "diff-files", "--name-only").stdout


def test_blobs_we_store_are_what_git_would_store(repo: GitRepo) -> None:
    """Loose objects are written by us, not libgit2: git must read each back byte for byte
    with the id it would have computed, and fsck must find nothing wrong."""
    files = {"a.md": "one\n", "b/c.md": "café ✓\n" * 300, "empty.md": ""}
    commit(repo, files)
    for rel, text in files.items():
        oid = git(repo.root, "hash-object", rel).stdout.strip()
        assert git(repo.root, "rev-parse", f"HEAD:{rel}").stdout.strip() == oid
        assert git(repo.root, "cat-file", "blob", oid).stdout == text
    commit(repo, {"again.md": "one\n"})  # the same content again: the object exists already
    assert git(repo.root, "fsck", "--strict").returncode == 0
    assert not [p for p in (repo.root / ".git/objects").iterdir() if p.name.startswith("tmp_")]
