"""Group writes: write_claims (one index transaction for many facts) and submit_claim (one
writer thread for many callers), and durable writes whose temp files stay out of sight."""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future
from pathlib import Path

import pytest
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from api.support import git
from stigmem_vault.api.vault import Vault
from stigmem_vault.errors import InvalidFact, MisuseError, NotFound
from stigmem_vault.index.query import IndexedFact
from stigmem_vault.model.fact import Claim, Fact, make_claim
from stigmem_vault.model.values import make_value
from stigmem_vault.vault import config as cfg
from stigmem_vault.vault.layout import fact_relpath


def claim(i: int, *, source: str = "agent:codex", supersedes: str | None = None) -> Claim:
    return make_claim(entity=f"user:u{i % 7}", relation="memory:counter",
                      value=make_value("number", i), source=source, scope="team",
                      supersedes=supersedes)


def test_write_claims_writes_the_valid_ones_and_reports_each_error(vault: Vault) -> None:
    claims = [claim(0), claim(1, source="agent:nobody"), claim(2),
              claim(3, supersedes="f" * 64), claim(4)]
    results = vault.write_claims(claims)
    assert [type(r) for r in results] == [Fact, InvalidFact, Fact, NotFound, Fact]
    assert isinstance(results[1], InvalidFact) and results[1].field == "source"
    written = [r for r in results if isinstance(r, Fact)]
    assert [f.value.v for f in written] == [0, 2, 4]
    for fact in written:  # durable, verified, indexed, and committed by the next flush
        assert (vault.root / fact_relpath(fact)).is_file()
        item = vault.index.get(fact.id)
        assert item is not None and item.fact == fact
    assert vault.verify().counts()["valid"] == 3
    vault.flush()
    assert vault.status().uncommitted == 0


def test_many_threads_submitting_lose_nothing(vault: Vault) -> None:
    futures: list[list[Future[IndexedFact]]] = [[] for _ in range(12)]
    barrier = threading.Barrier(len(futures))

    def work(n: int) -> None:
        barrier.wait()
        for i in range(15):
            bad = i == 7 and n == 3
            futures[n].append(vault.submit_claim(
                claim(n * 100 + i, source="agent:nobody" if bad else "agent:codex")))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(len(futures))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results: dict[int, IndexedFact] = {}
    for n, mine in enumerate(futures):
        for i, future in enumerate(mine):
            if (n, i) == (3, 7):  # only the bad claim's caller hears about its error
                with pytest.raises(InvalidFact):
                    future.result(timeout=30)
                continue
            item = future.result(timeout=30)
            assert item.fact.value.v == n * 100 + i
            results[n * 100 + i] = item
    assert len(results) == 12 * 15 - 1
    assert vault.index.counts()["facts"] == len(results)
    assert vault.verify().counts()["valid"] == len(results)


def test_close_writes_what_was_submitted(home: Path, vault_path: Path) -> None:
    vault = Vault.init(vault_path, owner="user:alice", home=home, commit_delay=None)
    futures = [vault.submit_claim(claim(i, source="user:alice")) for i in range(40)]
    vault.close()
    assert all(f.done() and f.exception() is None for f in futures)
    with pytest.raises(MisuseError):
        vault.submit_claim(claim(99, source="user:alice"))
    with Vault.open(vault_path, home=home, commit_delay=None) as again:
        assert again.index.counts()["facts"] == 40
        assert again.status().uncommitted == 0  # committed on close
    assert git(vault_path, "status", "--porcelain").stdout == ""


class _Recorder(FileSystemEventHandler):
    def __init__(self) -> None:
        self.names: list[str] = []

    def on_any_event(self, event: FileSystemEvent) -> None:
        if not event.is_directory and event.event_type not in ("opened", "closed_no_write"):
            for path in (event.src_path, getattr(event, "dest_path", "")):
                if path:
                    self.names.append(os.path.basename(os.fsdecode(path)))


def test_a_watched_folder_only_sees_finished_files(vault: Vault) -> None:
    """Temp files are written in .stigmem/local/tmp/: the fact folders (which Obsidian and
    the watcher watch) see each fact file appear whole, never a temp file."""
    facts_dir = vault.root / "facts"
    recorder = _Recorder()
    observer = Observer()
    observer.schedule(recorder, str(facts_dir), recursive=True)
    observer.start()
    try:
        written = [r for r in vault.write_claims([claim(i) for i in range(20)])
                   if isinstance(r, Fact)]
        vault.write_note("conflicts/x.md", "a note\n", "note")
        last = fact_relpath(written[-1]).name
        pause = threading.Event()
        for _ in range(500):  # wait (at most 5 s) until the last file's event has arrived
            if last in recorder.names:
                break
            pause.wait(0.01)
    finally:
        observer.stop()
        observer.join()
    assert last in recorder.names
    assert all(name.endswith(".md") and not name.startswith(".") for name in recorder.names)
    assert list((vault.root / cfg.SCRATCH_DIR).iterdir()) == []


def test_scratch_on_another_file_system_falls_back_to_the_target_folder(vault: Vault) -> None:
    elsewhere = Path("/dev/shm")
    if not elsewhere.is_dir() or os.stat(elsewhere).st_dev == os.stat(vault.root).st_dev:
        pytest.skip("no second file system to put the scratch folder on")
    scratch = vault.root / cfg.SCRATCH_DIR
    scratch.mkdir(parents=True, exist_ok=True)
    scratch.rmdir()
    other = elsewhere / f"stigmem-test-{os.getpid()}-{id(vault):x}"
    other.mkdir()
    try:
        scratch.symlink_to(other)  # link() across file systems fails with EXDEV
        fact = vault.assert_fact(entity="user:bob", relation="memory:role", value="x",
                                 scope="team")
        assert (vault.root / fact_relpath(fact)).is_file()
        assert vault.index.get(fact.id) is not None
        assert list(other.iterdir()) == []
    finally:
        scratch.unlink()
        for leftover in other.iterdir():
            leftover.unlink()
        other.rmdir()


def test_temp_files_of_a_crashed_writer_are_cleared_on_open(home: Path, vault_path: Path) -> None:
    Vault.init(vault_path, owner="user:alice", home=home, commit_delay=None).close()
    scratch = vault_path / cfg.SCRATCH_DIR
    scratch.mkdir(parents=True, exist_ok=True)
    gone = scratch / ".memory.role--0123456789ab.md.999999999.140000.tmp"  # no such pid
    mine = scratch / f".memory.role--ba9876543210.md.{os.getpid()}.140001.tmp"  # alive
    gone.write_bytes(b"half a fa")
    mine.write_bytes(b"being written")
    with Vault.open(vault_path, home=home, commit_delay=None):
        assert not gone.exists()
        assert mine.exists()  # a live writer's file is never touched
