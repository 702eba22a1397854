"""The commit queue: what the vault's next signed commit contains, and nothing else.

Writers hand it each file they wrote, with the exact bytes they wrote (or a removal); it
commits those bytes, never whatever the work tree holds by then. A person who edits a fact
file in the half second before its commit therefore edits a file whose signed original is
what git records, and the watcher turns the edit into an amendment of that original.

It owns everything about commits: the pending changes, the writer's journal, the timer, and
``flush`` and ``recover``. Lock order (the only one): git's lock (``GitRepo.locked``, one per
process and thread, and a file lock across processes) first, then the queue's own leaf lock,
which is never held while taking another. Writers only enqueue, under the leaf lock.

The journal. While changes are pending, each writer keeps ``.stigmem/local/uncommitted.<pid>.
<object>``: one JSON line per change (the path and the SHA-256 of the bytes written), appended
before the file is written (``intend``), so that no kill leaves a written file unjournaled. If the
writer dies before its commit, the next writer that opens the vault commits the journaled
files that still hold exactly those bytes and, for fact files, still verify; anything else
(a file a person edited since, a file that does not verify) is never committed by recovery:
the scan sees it and treats it as the edit it is. A live writer's journal is left alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from nacl.signing import SigningKey

from stigmem_vault.errors import FormatError, StigmemError, StorageError
from stigmem_vault.vault.git import GitRepo
from stigmem_vault.vault.reading import read_regular

JOURNAL_DIR = ".stigmem/local"
JOURNAL_PREFIX = "uncommitted"
# Recovery reads at most this much of a journaled file (fact files are far smaller).
RECOVER_READ_LIMIT = 16 * 1024 * 1024
RETRY_MAX = 30.0  # seconds between attempts of a timed commit that keeps failing

# The queues open in this process, by journal name: a journal of this process whose queue is
# gone (a Vault dropped without close) belongs to a dead writer, like another process's.
_LIVE: weakref.WeakValueDictionary[str, CommitQueue] = weakref.WeakValueDictionary()

Signer = Callable[[], tuple[SigningKey, str, str]]  # -> (key, committer name, committer email)
Verifier = Callable[[str, bytes], str | None]  # (path, bytes) -> why they do not verify, or None


@dataclass
class Recovery:
    """What recovery did with the journals of writers that died before their commit."""

    committed: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why not committed)
    commit: str | None = None


class CommitQueue:
    """Pending changes of one writer (one open Vault), committed in signed batches."""

    def __init__(self, root: Path, git: GitRepo, sign: Signer, *, every: int,
                 delay: float | None, on_error: Callable[[str], None]) -> None:
        self._root = root
        self._git = git
        self._sign = sign
        self._every = every
        self._delay = delay
        self._on_error = on_error
        self._lock = threading.Lock()  # the leaf lock: pending, notes, journal, timer
        self._pending: dict[str, bytes | None] = {}  # path -> bytes to commit (None: remove)
        self._journaled: set[tuple[str, str | None]] = set()  # (path, sha256) in the journal
        # Journaled by ``intend`` and not yet queued: the journal stays while any is.
        self._intended: set[tuple[str, str | None]] = set()
        self._notes: list[str] = []
        self._journal = root / JOURNAL_DIR / f"{JOURNAL_PREFIX}.{os.getpid()}.{id(self):x}"
        self._journal_fd: int | None = None
        self._finalizer: weakref.finalize[[int], CommitQueue]
        _LIVE[self._journal.name] = self
        self._timer: threading.Timer | None = None
        self._retry: float | None = None  # the delay after a failed timed commit
        self._flush_requested = False
        self._closed = False

    # ------------------------------------------------------------- enqueueing

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """The vault's write lock (git's): hold it to make several changes, then flush."""
        with self._git.locked():
            yield

    def intend(self, changes: Sequence[tuple[str, bytes | None]]) -> None:
        """Journal changes a writer is about to make (bytes, or None for a removal) before it
        makes them, so that a writer killed between its write and ``add`` leaves a journal
        line for recovery. (A change journaled but never made is skipped by recovery.)"""
        with self._lock:
            self._intended.update(self._journal_write(changes))

    def abandon(self, changes: Sequence[tuple[str, bytes | None]]) -> None:
        """Changes ``intend`` journaled that the writer did not make after all (its write
        failed, or the file was there already). Their journal lines stay: recovery skips
        them, since the files do not hold those bytes, or are committed already."""
        entries = {(rel, None if data is None else hashlib.sha256(data).hexdigest())
                   for rel, data in changes}
        with self._lock:
            self._intended -= entries

    def add(self, files: Sequence[tuple[str, bytes]], notes: Sequence[str]) -> None:
        """Queue files a writer wrote, with the exact bytes it wrote."""
        self._enqueue([(rel, data) for rel, data in files], notes)

    def remove(self, rel: str, note: str) -> None:
        """Queue the removal of a file the writer removed."""
        self._enqueue([(rel, None)], [note])

    def adopt(self, rel: str, sha256: str | None, note: str) -> bool:
        """Queue a file someone else wrote, if it still holds the bytes that were verified
        (their SHA-256 is ``sha256``); False if it changed since (the next scan sees it)."""
        if sha256 is None:
            return False
        try:
            data = read_regular(self._root / rel, rel, RECOVER_READ_LIMIT)
        except FormatError:
            return False
        if hashlib.sha256(data).hexdigest() != sha256:
            return False
        self._enqueue([(rel, data)], [note])
        return True

    def pending(self, rel: str) -> bytes | None:
        """The bytes queued for ``rel`` (what its writer wrote), if any."""
        with self._lock:
            return self._pending.get(rel)

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)

    def _enqueue(self, changes: list[tuple[str, bytes | None]], notes: Sequence[str]) -> None:
        if not changes:
            return
        with self._lock:
            self._intended.difference_update(self._journal_write(changes))
            self._pending.update(changes)
            self._notes.extend(notes)
            # One writer starts the commit of a full batch; the others keep queueing into the
            # next one instead of each starting a commit of their own.
            full = len(self._pending) >= self._every and not self._flush_requested
            self._flush_requested |= full
            if self._delay is not None and (full or self._timer is None):
                # With a timed committer, a full batch is committed by it at once: the writer
                # that filled it does not wait for the commit.
                self._schedule(0.0 if full else self._delay)
        if full and self._delay is None:
            self.flush(git_index=False)

    def _journal_write(self, changes: Sequence[tuple[str, bytes | None]]
                       ) -> list[tuple[str, str | None]]:
        """Append the changes to this writer's journal, each once (the caller holds the leaf
        lock).

        Not fsynced: it guards against a crashed process, whose written pages the kernel
        keeps. After a power loss the fact files themselves are adopted by the next scan,
        which verifies each one (a lost journal line loses no fact)."""
        entries = [(rel, None if data is None else hashlib.sha256(data).hexdigest())
                   for rel, data in changes]
        new = [entry for entry in entries if entry not in self._journaled]
        if not new:
            return entries
        lines = b"".join(json.dumps({"path": rel, "sha256": sha}).encode() + b"\n"
                         for rel, sha in new)
        try:
            if self._journal_fd is None:
                self._journal.parent.mkdir(parents=True, exist_ok=True)
                self._journal_fd = fd = os.open(
                    self._journal, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
                # A queue dropped without close still closes its journal (detached on close).
                self._finalizer = weakref.finalize(self, _close_quietly, fd)
            os.write(self._journal_fd, lines)
            self._journaled.update(new)
        except OSError as exc:
            raise StorageError(f"cannot record pending changes: {exc.strerror or exc}") from exc
        return entries

    def _journal_drop(self) -> None:
        self._journaled.clear()
        self._journal_close()
        self._journal.unlink(missing_ok=True)

    def _journal_close(self) -> None:
        if self._journal_fd is not None:
            self._finalizer.detach()
            _close_quietly(self._journal_fd)
            self._journal_fd = None

    # ------------------------------------------------------------- committing

    def flush(self, *, git_index: bool = True) -> str | None:
        """Commit everything pending in one signed commit; returns the commit id or None.
        With ``git_index`` git's index file is written too (``git status`` clean at once);
        the timer's and a full batch's commits leave it to its own timer (vault/index_lag.py)."""
        with self._git.locked():
            with self._lock:  # take the batch; writers go on queueing the next one
                if self._timer is not None:
                    self._timer.cancel()
                    self._timer = None
                batch, notes = self._pending, self._notes
                self._pending, self._notes = {}, []
                self._flush_requested = False
            if not batch:
                return None
            try:
                oid = self._commit(list(batch.items()), notes)
            except BaseException:
                with self._lock:  # nothing is dropped: the batch waits for the next try
                    batch.update(self._pending)
                    self._pending = batch
                    self._notes[:0] = notes
                raise
            with self._lock:
                if not self._pending and not self._intended:
                    self._journal_drop()
            if git_index:
                self._git.write_index()
            return oid

    def _commit(self, changes: list[tuple[str, bytes | None]], notes: list[str]) -> str | None:
        key, name, email = self._sign()
        message = f"stigmem: {_summary(notes)}\n\n" + "\n".join(notes[:200]) + (
            f"\n... and {len(notes) - 200} more\n" if len(notes) > 200 else "\n")
        return self._git.commit(changes, message, key, name, email)

    def _schedule(self, delay: float) -> None:
        """(Re)start the timer (the caller holds the leaf lock)."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer = threading.Timer(delay, self._timed_flush)
        self._timer.daemon = True
        self._timer.start()

    def _timed_flush(self) -> None:
        """The timer's commit. A storage error (a full disk, a stale git lock) never ends the
        timer: the batch stays pending, the error is reported, and the commit is tried again
        later, backing off up to RETRY_MAX seconds."""
        if self._closed:
            return
        try:
            self.flush(git_index=False)
        except (StigmemError, OSError) as exc:
            with self._lock:
                self._retry = min(RETRY_MAX, max(self._retry or 0.0, self._delay or 0.5) * 2)
                if not self._closed and self._timer is None:
                    self._schedule(self._retry)
            self._on_error(f"commit failed, will retry in {self._retry:.0f} s: {exc}")
        else:
            self._retry = None

    def close(self) -> None:
        """Stop the timer and commit what is pending (a failure leaves the journal, so the
        next writer to open the vault recovers the files)."""
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        try:
            self.flush()
        finally:
            with self._lock:
                self._journal_close()

    # ------------------------------------------------------------- recovery

    def recover(self, verify: Verifier) -> Recovery:
        """Commit what writers that died before their commit left, as their journals say:
        only files that hold exactly the journaled bytes and (fact files) verify."""
        report = Recovery()
        folder = self._root / JOURNAL_DIR
        with self._git.locked():
            dead = [j for j in _journals(folder) if not _writer_alive(j.name)]
            if not dead:
                return report
            changes: dict[str, bytes | None] = {}
            for journal in dead:
                for rel, sha in _read_journal(journal):
                    changes.pop(rel, None)
                    outcome = self._recoverable(rel, sha, verify)
                    if isinstance(outcome, str):
                        report.skipped.append((rel, outcome))
                    else:
                        changes[rel] = outcome
            if changes:
                report.committed = sorted(changes)
                report.commit = self._commit(
                    list(changes.items()),
                    [f"recover {len(changes)} file(s) a stopped writer left uncommitted"])
                self._git.write_index()
            for journal in dead:
                journal.unlink(missing_ok=True)
        return report

    def _recoverable(self, rel: str, sha: str | None, verify: Verifier) -> bytes | str | None:
        """The bytes to commit for a journaled change (None: a removal), or why not."""
        if not _safe_relpath(rel):
            return "not a path inside the vault"
        path = self._root / rel
        if sha is None:
            return None if not os.path.lexists(path) else "exists again; left as it is"
        if not os.path.lexists(path):
            return "gone"
        try:
            data = read_regular(path, rel, RECOVER_READ_LIMIT)
        except FormatError as exc:
            return exc.reason
        if hashlib.sha256(data).hexdigest() != sha:
            return "changed since its writer wrote it; left for the scan"
        problem = verify(rel, data)
        return data if problem is None else f"does not verify: {problem}"


def _journals(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.name.startswith(JOURNAL_PREFIX))
    except FileNotFoundError:
        return []


def _read_journal(journal: Path) -> Iterator[tuple[str, str | None]]:
    """(path, sha256 or None for a removal) per line; a torn or foreign line is skipped."""
    try:
        data = read_regular(journal, journal.name, RECOVER_READ_LIMIT)
    except FormatError:
        return
    for line in data.splitlines():
        try:
            entry = json.loads(line)
            rel, sha = entry["path"], entry["sha256"]
        except (ValueError, KeyError, TypeError):
            continue
        if isinstance(rel, str) and (sha is None or isinstance(sha, str)):
            yield rel, sha


def _safe_relpath(rel: str) -> bool:
    parts = rel.split("/")
    return bool(rel) and not rel.startswith("/") and ".." not in parts and "" not in parts \
        and parts[0] != ".git" and not rel.startswith(".stigmem/local/")


def _writer_alive(name: str) -> bool:
    """Whether the writer that left the journal ``uncommitted.<pid>.<object>`` is still at
    work: its process runs and, in this process, its queue is still open."""
    parts = name.split(".")
    if len(parts) < 3 or not parts[1].isdigit():
        return False  # an older version's shared marker, or not ours
    if int(parts[1]) == os.getpid():
        return name in _LIVE
    return pid_alive(int(parts[1]))


def _close_quietly(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _summary(notes: list[str]) -> str:
    kinds: dict[str, int] = {}
    for note in notes:
        kind = note.split(" ", 1)[0]
        kinds[kind] = kinds.get(kind, 0) + 1
    return ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items()))
