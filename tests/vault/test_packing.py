"""Background packing: loose objects and small packs are repacked by git beside the writers,
which never wait for it and lose nothing; the result is read by stock git and by pygit2."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pygit2
import pytest
from model.factgen import KEY

from stigmem_vault.api.vault import Vault
from stigmem_vault.vault.git import GitRepo
from stigmem_vault.vault.packing import (
    ALL_INTO_ONE_GROWTH,
    ALL_INTO_ONE_NAME,
    LOCK_NAME,
    Packer,
    count_packs,
    packed_objects,
    repo_size,
)
from stigmem_vault.vault.packwrite import commit_payload

WHO = ("system:node-1", "n@stigmem.invalid")
DEADLINE = 60.0


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                          check=True).stdout


def count_objects(root: Path) -> dict[str, int]:
    """``git count-objects -v``, parsed."""
    return {k: int(v) for k, v in (line.split(": ") for line in
                                    git(root, "count-objects", "-v").splitlines())}


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    root = tmp_path / "repo"
    root.mkdir()
    return GitRepo.init(root, tmp_path / "lock")


def commit(repo: GitRepo, files: dict[str, bytes | None]) -> str | None:
    with repo.locked():
        oid = repo.commit(list(files.items()), "m", KEY, *WHO)
        repo.write_index()  # as a writer's flush does
        return oid


def wait_repacked(repo: GitRepo) -> None:
    assert repo.packer.wait(DEADLINE) == 0


def test_a_commit_is_one_pack_that_git_and_pygit2_read(repo: GitRepo) -> None:
    # Names that sort differently as files and as folders ("a" < "a-b.md" < "a.md" < "a/").
    files = {f"f/{n}.md": f"fact {n}\n".encode() for n in range(300)}
    files |= {"a.md": b"1\n", "a-b.md": b"2\n", "a/b.md": b"3\n", "a0": b"4\n"}
    for rel, data in files.items():
        (repo.root / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo.root / rel).write_bytes(data)
    commit(repo, files)
    size = repo_size(repo.repo.path)
    assert (size.loose_objects, size.packs, size.packed_objects) == (0, 1, 304 + 3 + 1)
    git(repo.root, "fsck", "--strict", "--no-dangling")  # trees sorted and well formed
    # git's index holds the same tree (stock git would write the same), and git sees the
    # work tree clean.
    assert git(repo.root, "write-tree") == git(repo.root, "rev-parse", "HEAD^{tree}")
    assert git(repo.root, "status", "--porcelain") == ""
    assert git(repo.root, "show", "HEAD:f/7.md") == "fact 7\n"
    fresh = pygit2.Repository(str(repo.root))
    tree = fresh.revparse_single("HEAD:f")
    assert isinstance(tree, pygit2.Tree) and len(tree) == 300
    # The next commit builds on the packed trees: changed, added and removed paths; a folder
    # left empty goes.
    (repo.root / "f/7.md").write_bytes(b"fact 7, amended\n")
    (repo.root / "g.md").write_bytes(b"g\n")
    (repo.root / "a/b.md").unlink()
    commit(repo, {"f/7.md": b"fact 7, amended\n", "g.md": b"g\n"} | {"a/b.md": None})
    assert repo_size(repo.repo.path).packs == 2
    assert git(repo.root, "show", "HEAD:f/7.md") == "fact 7, amended\n"
    assert git(repo.root, "show", "HEAD~1:f/7.md") == "fact 7\n"
    assert git(repo.root, "ls-tree", "--name-only", "HEAD") == "a-b.md\na.md\na0\nf\ng.md\n"
    assert git(repo.root, "write-tree") == git(repo.root, "rev-parse", "HEAD^{tree}")
    assert git(repo.root, "status", "--porcelain") == ""
    git(repo.root, "fsck", "--strict", "--no-dangling")
    # Nothing changed: no commit, no pack.
    assert commit(repo, {"g.md": b"g\n"}) is None
    assert repo_size(repo.repo.path).packs == 2


def test_loose_objects_over_the_limit_are_packed_in_the_background(repo: GitRepo) -> None:
    """Loose objects (a person's commits with stock git, libgit2's) are packed by the
    repack the next commit starts."""
    (repo.root / "notes").mkdir()
    for n in range(50):
        (repo.root / "notes" / f"{n}.md").write_text(f"note {n}\n")
    git(repo.root, "add", "notes")
    git(repo.root, "-c", "user.name=P", "-c", "user.email=p@example.org", "commit", "-qm", "p")
    assert repo_size(repo.repo.path).loose_objects == 50 + 2 + 1
    repo.packer.loose_limit = -1  # any loose object now is too many
    commit(repo, {"last.md": b"last\n"})
    wait_repacked(repo)
    size = repo_size(repo.repo.path)
    counted = count_objects(repo.root)
    assert size.loose_objects == counted["count"] == 0
    assert size.packed_objects == counted["in-pack"] == 53 + 3  # + a blob, the root tree, a commit
    git(repo.root, "fsck", "--strict", "--no-dangling")
    assert git(repo.root, "show", "HEAD:notes/7.md") == "note 7\n"


def test_a_commit_that_starts_a_repack_reads_no_loose_object(
        repo: GitRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    """Deciding which repack to run reads the packs' indexes, not the loose objects: the
    commit that decides holds the vault's write lock, and a repack is due precisely when
    loose objects have piled up (a watcher's first commit on a vault of 67,000 held every
    writer for 0.76 s listing them)."""
    commit(repo, {"first.md": b"first\n"})  # a pack, counted below
    (repo.root / "notes").mkdir()
    for n in range(20):
        (repo.root / "notes" / f"{n}.md").write_text(f"note {n}\n")
    git(repo.root, "add", "notes")
    git(repo.root, "-c", "user.name=P", "-c", "user.email=p@example.org", "commit", "-qm", "p")
    objects = Path(repo.repo.path) / "objects"
    listed: list[str] = []
    real_scandir, real_listdir = os.scandir, os.listdir

    def scandir(path: str) -> object:
        listed.append(str(path))
        return real_scandir(path)

    def listdir(path: str) -> list[str]:
        listed.append(str(path))
        return real_listdir(path)

    assert packed_objects(repo.repo.path) == repo_size(repo.repo.path).packed_objects == 3
    loose_folders = {str(objects / name) for name in os.listdir(objects) if len(name) == 2}
    assert len(loose_folders) > 1
    repo.packer.loose_limit = -1  # a repack is due
    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(os, "listdir", listdir)
    commit(repo, {"last.md": b"last\n"})
    monkeypatch.undo()
    wait_repacked(repo)
    # Only git gc --auto's estimate: one folder of the 256 (estimate_loose).
    assert listed and loose_folders & set(listed) <= {str(objects / "17")}
    assert repo_size(repo.repo.path).loose_objects == 0


def test_too_many_packs_are_merged(repo: GitRepo) -> None:
    repo.packer.pack_limit = 10**9
    for n in range(6):
        commit(repo, {f"f/{n}.md": f"{n}\n".encode()})
    assert count_packs(repo.repo.path) == 6  # one per commit
    repo.packer.pack_limit = 5
    commit(repo, {"f/6.md": b"6\n"})
    wait_repacked(repo)
    assert count_packs(repo.repo.path) < 5
    assert repo_size(repo.repo.path).loose_objects == 0
    git(repo.root, "fsck", "--strict", "--no-dangling")
    assert git(repo.root, "rev-list", "--count", "HEAD") == "7\n"


def test_writers_committing_during_repacks_lose_nothing(repo: GitRepo) -> None:
    """Writers never wait for a repack, and every commit they make while repacks run (loose
    objects packed and removed, packs merged) is complete afterwards."""
    repo.packer.pack_limit = 2  # a repack after every commit
    written: dict[str, bytes] = {}
    started = 0
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        nonlocal started
        try:
            for n in range(25):
                files = {f"w{w}/{n}/{k}.md": f"writer {w} fact {n}.{k}\n".encode()
                         for k in range(20)}
                with repo.locked():
                    repo.commit(list(files.items()), "m", KEY, *WHO)
                    started += repo.packer.running()
                written.update(files)
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE)
    assert not errors and not any(t.is_alive() for t in threads)
    assert started > 0  # commits did happen while a repack ran
    repo.packer.wait(DEADLINE)
    git(repo.root, "fsck", "--strict", "--no-dangling")
    head = pygit2.Repository(str(repo.root))
    for rel, data in written.items():
        blob = head.revparse_single(f"HEAD:{rel}")
        assert isinstance(blob, pygit2.Blob) and blob.data == data, rel
    assert git(repo.root, "rev-list", "--count", "HEAD") == "75\n"


def test_one_repack_at_a_time_across_processes(repo: GitRepo) -> None:
    commit(repo, {"a.md": b"a\n"})
    commit(repo, {"b.md": b"b\n"})
    other = Packer(repo.repo.path, pack_limit=1)
    lock = os.open(os.path.join(repo.repo.path, LOCK_NAME), os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process's repack runs
        assert other.after_commit() is False
        assert repo_size(repo.repo.path).packs == 2
    finally:
        os.close(lock)
    assert other.after_commit() is True
    assert other.wait(DEADLINE) == 0
    assert repo_size(repo.repo.path).packs == 1


def test_the_repack_lock_is_held_by_the_repack_itself(
        repo: GitRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The child holds the lock, not the writer: a one-shot command that exits at once
    leaves its repack running, and no second one starts beside it until it ends."""
    # A git that waits at a gate (a FIFO the test opens) before it repacks.
    gate, bin_dir = tmp_path / "gate", tmp_path / "bin"
    os.mkfifo(gate)
    bin_dir.mkdir()
    wrapper = bin_dir / "git"
    wrapper.write_text(f'#!/bin/sh\nread line < "{gate}"\nexec {shutil.which("git")} "$@"\n')
    wrapper.chmod(0o755)
    commit(repo, {"a.md": b"a\n"})
    commit(repo, {"b.md": b"b\n"})
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    first = Packer(repo.repo.path, pack_limit=1)
    assert first.after_commit() is True
    child = first._child
    assert child is not None
    first._child = None  # the writer that started it is gone (a CLI command that exited)
    del first
    try:
        second = Packer(repo.repo.path, pack_limit=1)
        assert second.after_commit() is False  # the lock is the waiting repack's
        with open(gate, "w") as opened:  # let it go
            opened.write("go\n")
        assert child.wait(DEADLINE) == 0
    finally:
        if child.poll() is None:  # never leave it waiting at the gate
            child.kill()
            child.wait()
    assert repo_size(repo.repo.path).packs == 1
    lock = os.open(os.path.join(repo.repo.path, LOCK_NAME), os.O_RDWR)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free once it has exited
    finally:
        os.close(lock)


def test_status_reports_the_repository_size(vault: Vault, vault_path: Path) -> None:
    vault.assert_fact(entity="project:atlas", relation="memory:role", value="lead")
    vault.flush()
    size = vault.status().repository
    counted = count_objects(vault_path)
    assert size is not None
    assert (size.loose_objects, size.packs) == (counted["count"], counted["packs"])
    assert size.loose_bytes == counted["size"] * 1024
    assert size.total_bytes == size.loose_bytes + size.pack_bytes > 0
    git(vault_path, "repack", "-a", "-d", "-q")
    size = vault.status().repository
    counted = count_objects(vault_path)
    assert size is not None and (size.loose_objects, size.packs) == (0, 1)
    assert size.packed_objects == counted["in-pack"] > 0
    assert size.pack_bytes // 1024 == counted["size-pack"]


def test_a_packed_commit_is_the_commit_libgit2_would_write(repo: GitRepo) -> None:
    """Byte for byte: the same text, the signature in the same header, the same id."""
    oid = commit(repo, {"a.md": b"a\n", "d/b.md": b"b\n"})
    assert oid is not None
    ours = repo.repo.revparse_single(oid)
    assert isinstance(ours, pygit2.Commit)
    signature, payload = ours.gpg_signature
    assert signature is not None and payload is not None
    again = repo.repo.create_commit_string(ours.author, ours.committer, ours.message,
                                           ours.tree_id, [])
    assert again == payload.decode()
    libgit2s = repo.repo.create_commit_with_signature(again, signature.decode(), "gpgsig")
    assert libgit2s == ours.id


@pytest.mark.parametrize("offset", [-570, -300, 0, 330, 545])
def test_a_commit_s_text_is_libgit2_s_in_every_time_zone(repo: GitRepo, offset: int) -> None:
    commit(repo, {"a.md": b"a\n"})
    head = repo.repo.revparse_single("HEAD")
    assert isinstance(head, pygit2.Commit)
    who = pygit2.Signature("system:node-1", "n@stigmem.invalid", 1_765_000_000, offset)
    expected = repo.repo.create_commit_string(who, who, "stigmem: m\n\nnote\n", head.tree_id,
                                              [head.id])
    assert commit_payload(str(head.tree_id), [str(head.id)], who,
                          "stigmem: m\n\nnote\n") == expected


def test_packs_go_into_one_each_time_the_objects_have_grown_enough(repo: GitRepo) -> None:
    """Geometric merges never search for deltas across packs: every so often, one pack."""
    state = Path(repo.repo.path) / ALL_INTO_ONE_NAME
    first = 20  # commits of 4 objects (blob, 2 trees, commit): 8 more stay under the growth
    assert 4 * first + 8 < ALL_INTO_ONE_GROWTH * 4 * first
    repo.packer.pack_limit = 10**9
    for n in range(first - 1):
        commit(repo, {f"f/{n}.md": f"{n}\n".encode()})
    repo.packer.pack_limit = 2
    commit(repo, {f"f/{first - 1}.md": b"last\n"})
    wait_repacked(repo)  # the first repack: nothing recorded yet, so all into one
    assert count_packs(repo.repo.path) == 1
    recorded = int(state.read_text())
    assert recorded == repo_size(repo.repo.path).packed_objects == first * 4
    commit(repo, {f"f/{first}.md": b"one more\n"})
    commit(repo, {f"f/{first + 1}.md": b"two more\n"})
    wait_repacked(repo)  # grown by less than the factor: a geometric merge, the count kept
    assert int(state.read_text()) == recorded and count_packs(repo.repo.path) >= 1
    n = first + 2
    while int(state.read_text()) == recorded and n < 100:
        commit(repo, {f"f/{n}.md": f"{n}\n".encode()})
        repo.packer.wait(DEADLINE)  # None when no repack was due
        n += 1
    assert int(state.read_text()) >= ALL_INTO_ONE_GROWTH * recorded  # all into one again
    assert count_packs(repo.repo.path) == 1
    git(repo.root, "fsck", "--strict", "--no-dangling")
    assert git(repo.root, "rev-list", "--count", "HEAD") == f"{n}\n"
