"""git's index written behind the commits (vault/index_lag.py): never hiding a change, brought
in step by a timer, on close, after a writer crashed, and around another process's index."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fifos import DEADLINE, make_fifo, release, within_deadline
from model.factgen import KEY

from stigmem_vault.vault import index_lag
from stigmem_vault.vault.git import GitRepo

WHO = ("system:node-1", "n@stigmem.invalid")


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                          check=True).stdout


def porcelain(root: Path) -> list[str]:
    return git(root, "status", "--porcelain", "--untracked-files=all").splitlines()


def stat_cached(root: Path, rel: str) -> bool:
    """Whether git's index entry for ``rel`` carries stat data (else git re-reads the file)."""
    debug = git(root, "ls-files", "--debug", "--", rel)
    mtime = next(line for line in debug.splitlines() if line.strip().startswith("mtime:"))
    return mtime.split(":", 1)[1].strip() != "0:0"


def wait_for(predicate: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


@pytest.fixture(autouse=True)
def large(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every index here is written behind the commits, as in a vault past INLINE_BYTES."""
    monkeypatch.setattr(index_lag, "INLINE_BYTES", -1)


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    root = tmp_path / "repo"
    root.mkdir()
    return GitRepo.init(root, tmp_path / "lock")


def commit(repo: GitRepo, files: dict[str, bytes | None], *, write_index: bool = False) -> None:
    for rel, data in files.items():
        path = repo.root / rel
        if data is None:
            path.unlink(missing_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    with repo.locked():
        repo.commit(list(files.items()), "m", KEY, *WHO)
        if write_index:
            repo.write_index()


def test_a_lagging_index_shows_committed_files_as_staged_never_as_clean(repo: GitRepo) -> None:
    commit(repo, {"a.md": b"a\n"}, write_index=True)
    commit(repo, {"a.md": b"a, amended\n", "b.md": b"b\n"})
    # HEAD holds the commit; git's index lags: what it shows is a staged difference, and the
    # work tree agrees with HEAD, so nothing is lost or hidden.
    assert git(repo.root, "show", "HEAD:a.md") == "a, amended\n"
    assert repo.git_index.owed == 2
    # (b.md, new: in HEAD, not yet in git's index, so "deleted" there and untracked.)
    assert sorted(porcelain(repo.root)) == ["?? b.md", "D  b.md", "MM a.md"]
    assert sorted(repo.tracked_paths()) == ["a.md", "b.md"]  # ours, unwritten, included
    repo.close()
    assert porcelain(repo.root) == []
    assert repo.git_index.owed == 0
    assert stat_cached(repo.root, "a.md") and stat_cached(repo.root, "b.md")


def test_a_small_index_is_written_with_each_commit(repo: GitRepo,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index_lag, "INLINE_BYTES", 4096)
    commit(repo, {"a.md": b"a\n"})
    assert repo.git_index.owed == 0 and porcelain(repo.root) == []
    commit(repo, {f"f{n:04}.md": b"x\n" for n in range(100)})  # the index grows past 4 KB
    commit(repo, {"b.md": b"b\n"})
    assert repo.git_index.owed == 1 and "D  b.md" in porcelain(repo.root)
    repo.close()
    assert porcelain(repo.root) == []


def test_the_timer_writes_the_index_soon_after_a_commit(repo: GitRepo,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index_lag, "WRITE_EVERY", 0.05)
    commit(repo, {"a.md": b"a\n"})
    wait_for(lambda: porcelain(repo.root) == [], "the timer to write git's index")
    assert repo.git_index.owed == 0 and repo.git_index.errors == []
    assert stat_cached(repo.root, "a.md")


def test_another_process_rewriting_the_index_keeps_our_unwritten_entries(repo: GitRepo) -> None:
    """A person's ``git add`` rewrites the index from the file on disk, which lacks our last
    commit's entries: they are applied again, and both end up in the index."""
    commit(repo, {"a.md": b"a\n"}, write_index=True)
    commit(repo, {"b.md": b"b\n"})
    (repo.root / "theirs.md").write_text("a person's note\n")
    git(repo.root, "add", "theirs.md")
    commit(repo, {"c.md": b"c\n"})
    repo.close()
    assert sorted(porcelain(repo.root)) == ["A  theirs.md"]
    assert sorted(git(repo.root, "ls-files").split()) == ["a.md", "b.md", "c.md", "theirs.md"]


def test_commits_go_on_while_git_s_index_is_being_written(repo: GitRepo) -> None:
    """Rewriting a large index takes a second and more; commits never wait for it. Here the
    write is held up (another process holds the index writer's lock) while two commits go
    through; then the index comes out in step with both."""
    commit(repo, {"a.md": b"a\n"})
    held = os.open(Path(repo.repo.path) / index_lag.WRITER_LOCK, os.O_RDWR | os.O_CREAT)
    fcntl.flock(held, fcntl.LOCK_EX)
    writer = threading.Thread(target=repo.write_index)  # the timer's write, held up
    try:
        writer.start()
        wait_for(lambda: not repo.git_index._mutex.acquire(blocking=False)
                 or repo.git_index._mutex.release(), "the write to wait for the lock")
        within_deadline(lambda: commit(repo, {"b.md": b"b\n"}))
        within_deadline(lambda: commit(repo, {"a.md": b"a, amended\n", "c.md": b"c\n"}))
        assert writer.is_alive()  # still waiting: the commits did not need it
    finally:
        os.close(held)
    writer.join(DEADLINE)
    assert not writer.is_alive()
    repo.close()
    assert porcelain(repo.root) == [] and repo.git_index.owed == 0
    assert sorted(git(repo.root, "ls-files").split()) == ["a.md", "b.md", "c.md"]
    assert all(stat_cached(repo.root, rel) for rel in ("a.md", "b.md", "c.md"))


def test_another_writer_never_writes_between_our_read_and_our_write(
        repo: GitRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two processes' writers (two repositories here). Ours reads HEAD and git's index; then
    the other commits and tries to write its entry. Had it written then, ours would overwrite
    the file with a copy that lacks it and name the older HEAD, and with nothing owed
    anywhere any more, nobody would bring it back: lost from the index for good."""
    other = GitRepo.open(repo.root, repo.root.parent / "lock")
    commit(repo, {"base.md": b"base\n"}, write_index=True)
    commit(repo, {"ours.md": b"ours\n"})
    ours_read, theirs_done = threading.Event(), threading.Event()
    reconcile = index_lag.LaggingIndex._reconcile

    def paused(self: index_lag.LaggingIndex, *args: object) -> None:
        reconcile(self, *args)  # type: ignore[arg-type]
        if self is repo.git_index:  # ours has read the file: give theirs every chance
            ours_read.set()
            theirs_done.wait(0.5)

    monkeypatch.setattr(index_lag.LaggingIndex, "_reconcile", paused)
    ours = threading.Thread(target=repo.write_index)
    ours.start()
    assert ours_read.wait(DEADLINE)
    commit(other, {"theirs.md": b"theirs\n"})  # commits never wait for an index write
    theirs = threading.Thread(target=lambda: (other.write_index(), theirs_done.set()))
    theirs.start()
    ours.join(DEADLINE)
    theirs.join(DEADLINE)
    assert not ours.is_alive() and not theirs.is_alive()
    assert repo.git_index.owed == other.git_index.owed == 0
    assert sorted(git(repo.root, "ls-files").split()) == ["base.md", "ours.md", "theirs.md"]
    assert porcelain(repo.root) == []


def test_an_owed_entry_that_a_later_commit_replaced_is_not_written_back(repo: GitRepo) -> None:
    """Two processes commit the same path (a node and a CLI command both regenerate an entity
    note): the node's entry, owed since before the other's commit, is older than HEAD. Its
    write brings HEAD's entry instead of putting the older blob back over it."""
    other = GitRepo.open(repo.root, repo.root.parent / "lock")
    commit(repo, {"base.md": b"base\n"}, write_index=True)
    commit(other, {"note.md": b"the node's rendering\n"})  # owed to the file, not written
    commit(repo, {"note.md": b"the CLI's rendering\n"}, write_index=True)
    other.write_index()  # the node's timer
    assert porcelain(repo.root) == [] and other.git_index.owed == 0
    assert stat_cached(repo.root, "note.md")


def test_a_commit_that_lands_while_the_index_is_written_is_not_overwritten(
        repo: GitRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process commits a path; our writer reads HEAD to write git's index, and just
    then commits the same path again: the reconcile with HEAD must not put the other's
    (older) blob over our newer entry, and the next write brings everything in step."""
    other = GitRepo.open(repo.root, repo.root.parent / "lock")
    commit(repo, {"base.md": b"base\n"}, write_index=True)
    commit(repo, {"ours.md": b"ours\n"})
    commit(other, {"p.md": b"theirs\n"}, write_index=True)
    current = repo.git_index._current
    landed = []

    def commit_first() -> object:  # HEAD has been read; our commit lands now
        if not landed:
            landed.append(True)
            commit(repo, {"p.md": b"ours, later\n"})
        return current()

    monkeypatch.setattr(repo.git_index, "_current", commit_first)
    repo.write_index()
    assert landed
    assert "MM p.md" not in porcelain(repo.root)  # never the older blob over ours
    repo.write_index()
    assert porcelain(repo.root) == [] and repo.git_index.owed == 0
    assert git(repo.root, "show", ":p.md") == "ours, later\n"


def index_version(repo: GitRepo) -> int:
    header = (Path(repo.repo.path) / "index").read_bytes()[:8]
    assert header[:4] == b"DIRC"
    return int.from_bytes(header[4:], "big")


def test_a_many_file_index_becomes_version_4_and_stays_so(repo: GitRepo,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Past MANY_FILES paths git's index is prefix-compressed (version 4), as git's
    feature.manyFiles would have it; libgit2 then keeps it, stat data and all."""
    monkeypatch.setattr(index_lag, "MANY_FILES", 50)
    commit(repo, {f"facts/s/p{n:03}.md": b"x%d\n" % n for n in range(40)}, write_index=True)
    assert index_version(repo) == 2
    commit(repo, {f"facts/s/q{n:03}.md": b"y%d\n" % n for n in range(20)}, write_index=True)
    assert index_version(repo) == 4
    commit(repo, {"facts/s/p000.md": b"changed\n", "facts/s/p001.md": None}, write_index=True)
    assert index_version(repo) == 4 and porcelain(repo.root) == []
    assert len(git(repo.root, "ls-files").split()) == 59
    assert stat_cached(repo.root, "facts/s/p000.md") and stat_cached(repo.root, "facts/s/q019.md")
    (repo.root / "facts/s/q019.md").write_bytes(b"a person's edit\n")
    assert porcelain(repo.root) == [" M facts/s/q019.md"]


def test_a_configured_index_version_is_kept(repo: GitRepo,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index_lag, "MANY_FILES", 5)
    git(repo.root, "config", "index.version", "2")
    commit(repo, {f"n{n}.md": b"%d\n" % n for n in range(10)}, write_index=True)
    commit(repo, {"n0.md": b"again\n"}, write_index=True)
    assert index_version(repo) == 2 and porcelain(repo.root) == []


CRASHING_WRITER = r"""
import os, sys
from pathlib import Path
from nacl.signing import SigningKey
from stigmem_vault.vault import index_lag
from stigmem_vault.vault.git import GitRepo

index_lag.INLINE_BYTES = -1  # a large vault's: git's index written behind the commits
root = Path(sys.argv[1])
repo = GitRepo.open(root, Path(sys.argv[2]))
for rel in ("crashed.md", "edited-after.md", "fifo-after.md", "gone-after.md"):
    (root / rel).write_text(f"{rel}, as committed\n")
with repo.locked():
    repo.commit([(rel, (root / rel).read_bytes()) for rel in
                 ("crashed.md", "edited-after.md", "fifo-after.md", "gone-after.md")],
                "m", SigningKey.generate(), "system:node-2", "n2@stigmem.invalid")
    repo.commit([("removed.md", None)], "m", SigningKey.generate(), "system:node-2",
                "n2@stigmem.invalid")
os._exit(0)  # killed: git's index never written
"""


def test_the_next_writer_brings_a_crashed_writer_s_commits_into_the_index(
        repo: GitRepo, tmp_path: Path) -> None:
    commit(repo, {"removed.md": b"r\n", "ours.md": b"o\n"}, write_index=True)
    (repo.root / "removed.md").unlink()
    script = tmp_path / "crash.py"
    script.write_text(CRASHING_WRITER)
    subprocess.run([sys.executable, str(script), str(repo.root), str(tmp_path / "lock")],
                   check=True, timeout=60)
    assert "D  crashed.md" in porcelain(repo.root)  # its index was never written
    # After the crash, a person edits one file, puts a FIFO at another, deletes a third.
    (repo.root / "edited-after.md").write_text("a person's edit\n")
    (repo.root / "fifo-after.md").unlink()
    fifo = make_fifo(repo.root / "fifo-after.md")
    (repo.root / "gone-after.md").unlink()
    try:
        within_deadline(lambda: commit(repo, {"next.md": b"n\n"}, write_index=True))
    finally:
        release([fifo])
    # In step with HEAD; what changed in the work tree since shows as a change.
    assert sorted(porcelain(repo.root)) == [" D fifo-after.md", " D gone-after.md",
                                            " M edited-after.md"]
    assert git(repo.root, "diff", "--cached", "--name-only") == ""
    assert stat_cached(repo.root, "crashed.md")  # its bytes are HEAD's: no re-read needed
    assert not stat_cached(repo.root, "edited-after.md")


def test_an_index_never_written_since_a_missing_head_file_is_rebuilt_from_the_parent(
        repo: GitRepo) -> None:
    """A vault made before the head file existed: the first writer's entries are in step,
    the others are as git wrote them."""
    commit(repo, {"a.md": b"a\n"}, write_index=True)
    os.unlink(Path(repo.repo.path) / index_lag.HEAD_FILE)
    again = GitRepo.open(repo.root, repo.root.parent / "lock")
    commit(again, {"b.md": b"b\n"}, write_index=True)
    assert porcelain(repo.root) == []
    assert (Path(repo.repo.path) / index_lag.HEAD_FILE).read_text().strip() \
        == git(repo.root, "rev-parse", "HEAD").strip()
