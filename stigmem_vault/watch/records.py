"""Reading fact files into FileRecords: one at a time, or many on a pool of processes.

``read_record`` reads, hashes and verifies one fact file; it is the only per-file function,
whichever way a batch is read. ``read_records`` reads a batch in order: a small batch (a watch
event, an incremental scan) in this process, a large one (the first index of a fresh clone, a
reindex) on a pool of worker processes, one per core, while the caller inserts what they
return into SQLite (watch/scan.py ``index_facts``). Reading, parsing and verifying is most of
a cold index's work, and SQLite takes one writer, so the parse stage is what spreads over the
cores: the workers keep parsing the next chunks while this process inserts the last ones.

Workers start with ``forkserver``, not ``fork``: a node or a watcher has threads running (HTTP
handlers, timers, the commit queue), and a forked child of a threaded process may inherit a
lock some other thread held (logging, SQLite, the allocator) and hang on it. The fork server
is one clean process started once; it imports this module once, so each worker forks from it
ready to work, without a fresh interpreter's start-up (``spawn``) per worker.

Records come back in the order the paths were given, so the index is the same row for row as
an in-process read. A worker's records carry the index rows of their facts, not the ``Fact``
objects (ingest.py ``lean``): that is all the inserting process needs, for a third of the cost
of pickling and unpickling. A file whose reading raises in a worker, or a worker that dies, stops the
batch with a ``StorageError`` naming the file (never a hang). Workers ignore Ctrl-C: it
interrupts this process, which cancels what was not started and waits for the chunks in hand
(a fraction of a second), so no worker outlives the scan.
"""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import os
import signal
import stat
import time
from collections import deque
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from stigmem_vault.errors import FormatError, StorageError
from stigmem_vault.index.ingest import FileRecord, lean
from stigmem_vault.vault.git_state import blob_id
from stigmem_vault.vault.reading import read_regular_stat
from stigmem_vault.vault.trust import TrustStore
from stigmem_vault.vault.verify import MAX_FACT_FILE_BYTES, Verdict, verify_bytes

POOL_MIN_FILES = 2000  # below this, starting workers costs more than it saves
POOL_MAX_WORKERS = 8  # past a few workers, this process's SQLite inserts are the bottleneck
CHUNK = 250  # files per task: large enough to amortise the transfer, small to stop quickly
# Files read ahead of the inserting process: two index batches (watch/scan.py), so the workers
# go on reading while it commits one; this also bounds the records held in memory.
AHEAD_FILES = 20_000
NOT_STARTED = -1
# CPU seconds the workers of every pool of this process spent (read by bench/index_cold.py:
# this process's own CPU time leaves them out). A diagnostic: updates may race, rarely.
worker_cpu_seconds = 0.0

FileStat = tuple[str, os.stat_result]  # (vault-relative path, lstat)
Reader = Callable[[Path, str, os.stat_result, TrustStore], FileRecord]


def read_record(root: Path, rel: str, st: os.stat_result, trust: TrustStore) -> FileRecord:
    """Read, hash and verify one fact file into a FileRecord (never raises for bad content).

    ``st`` is the file's ``lstat``: a symlink, FIFO or other file that is not a regular file
    is recorded as malformed without being opened (vault/reading.py)."""
    try:
        data, fresh = read_regular_stat(os.path.join(root, rel), rel, MAX_FACT_FILE_BYTES, st)
    except FormatError as exc:
        if stat.S_ISREG(st.st_mode):  # it may have changed since (grown, become a FIFO):
            with contextlib.suppress(OSError):  # record the state it was refused in
                st = os.lstat(os.path.join(root, rel))
        return FileRecord(rel, st.st_size, st.st_mtime_ns, None, Verdict.MALFORMED.value,
                          exc.reason)
    item = verify_bytes(rel, data, trust)
    return FileRecord(rel, fresh.st_size, fresh.st_mtime_ns, hashlib.sha256(data).hexdigest(),
                      item.verdict.value, item.reason, item.fact, item.vouched_by,
                      blob=blob_id(data))


def pool_size(files: int) -> int:
    """Worker processes for a batch of ``files``: 0 (read in this process) for a small batch
    or a single core."""
    if files < POOL_MIN_FILES:
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    workers = min(cores or 1, POOL_MAX_WORKERS)
    return workers if workers >= 2 else 0


def read_records(root: Path, facts: Sequence[FileStat], trust: TrustStore,
                 reader: Reader | None = None) -> Generator[FileRecord, None, None]:
    """The records of ``facts``, in order; large batches are read on a pool of processes.

    ``reader`` replaces ``read_record`` (a module-level function, so a worker can import it:
    tests give one that fails). Close the generator (``contextlib.closing``) if you stop
    before the end: that stops the workers."""
    read = reader or read_record
    workers = pool_size(len(facts))
    if not workers:
        for rel, st in facts:
            yield read(root, rel, st, trust)
        return
    yield from _pooled(root, facts, trust, workers, read)


# ------------------------------------------------------------------ the pool

class _Worker:
    """A worker process's state, set once when it starts (it reads many chunks)."""

    root = Path()
    trust: TrustStore | None = None
    read: Reader = read_record
    reading: Any = None  # shared ints: per chunk slot, the position being read


def _start_worker(root: str, trust: TrustStore, read: Reader, reading: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it stops the pool
    _Worker.root, _Worker.trust, _Worker.read, _Worker.reading = Path(root), trust, read, reading


def _read_chunk(slot: int, chunk: list[FileStat]) -> tuple[list[FileRecord], float]:
    """The chunk's records, and the CPU seconds they took."""
    start = time.process_time()
    trust = _Worker.trust
    assert trust is not None, "the worker was not started by read_records"
    records = []
    for position, (rel, st) in enumerate(chunk):
        _Worker.reading[slot] = position  # so a crash names the file it happened on
        try:
            # The rows too: this process has a core of its own, the inserting one does not.
            records.append(lean(_Worker.read(_Worker.root, rel, st, trust)))
        except Exception as exc:  # a bug, not bad content (read_record records that): say where
            raise StorageError(f"indexing {rel} failed in a worker process: "
                               f"{type(exc).__name__}: {exc}") from None
    _Worker.reading[slot] = len(chunk)
    return records, time.process_time() - start


def _context() -> multiprocessing.context.BaseContext:
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")  # no fork server here (Windows)
    context = multiprocessing.get_context("forkserver")
    # Imported once by the fork server (no effect once it runs): workers fork ready to work.
    # Not the main module: the server is shared, and a script without a ``__main__`` guard
    # would run again in it. Each worker imports the main module, as ``spawn`` does (a
    # program that indexes a large vault guards its entry point, as any multiprocessing one).
    context.set_forkserver_preload([__name__])
    return context


def _pooled(root: Path, facts: Sequence[FileStat], trust: TrustStore, workers: int,
            read: Reader) -> Generator[FileRecord, None, None]:
    chunks = [list(facts[start:start + CHUNK]) for start in range(0, len(facts), CHUNK)]
    window = max(workers * 2, AHEAD_FILES // CHUNK)
    context = _context()
    reading = context.Array("i", [NOT_STARTED] * window, lock=False)
    pending: deque[tuple[int, Future[tuple[list[FileRecord], float]]]] = deque()
    executor = ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                                   initargs=(str(root), trust, read, reading))
    try:
        submitted = 0
        while submitted < len(chunks) or pending:
            try:  # a dead worker breaks the pool: the next submit or result says so
                while submitted < len(chunks) and len(pending) < window:
                    reading[submitted % window] = NOT_STARTED
                    pending.append((submitted, executor.submit(_read_chunk, submitted % window,
                                                               chunks[submitted])))
                    submitted += 1
                records, cpu = pending[0][1].result()
            except BrokenProcessPool:
                raise StorageError(_crash_message(pending, chunks, reading, window)) from None
            pending.popleft()
            global worker_cpu_seconds
            worker_cpu_seconds += cpu
            yield from records
    finally:
        # Chunks not started are dropped; those in hand finish (workers ignore Ctrl-C).
        executor.shutdown(wait=True, cancel_futures=True)


def _crash_message(pending: deque[tuple[int, Future[tuple[list[FileRecord], float]]]],
                   chunks: list[list[FileStat]], reading: Any, window: int) -> str:
    """A worker died (killed, out of memory, a crash in a C library): name the files that
    were being read when it did, from the positions the workers recorded."""
    files = []
    for number, _future in pending:
        position = reading[number % window]
        if 0 <= position < len(chunks[number]):
            files.append(chunks[number][position][0])
    where = ", ".join(files) if files else "the first files of the batch"
    return f"a worker process indexing fact files stopped unexpectedly while reading {where}"
