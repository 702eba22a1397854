"""git's index, written behind the commits in a large vault.

Each commit builds its tree from HEAD's (vault/packwrite.py), never from git's index, so the
index is a cache: the stat data ``git status`` (and change detection, watch/detect.py)
compares the work tree with. Rewriting the file costs time in proportion to the whole vault
(about 85-120 bytes per file: 83-126 MB and a second at a million facts). So while the file is
small (INLINE_BYTES) a commit writes it at once, as git does; past that a commit only records
its entries, and the file is written by a timer at most every WRITE_EVERY seconds (or four
times its last write's cost, if longer), when the writer closes, or when asked
(``GitRepo.write_index``). Until then ``git status`` reports the files committed since as
staged, and the detector looks at them once more: a lagging index never hides a change, it
only costs a look. The file is written under a lock of its own, not the vault's write lock:
commits go on while it is written.

``.git/stigmem-index-head`` names the commit the index file was last brought in step with.
Whoever writes the index next brings the paths changed between that commit and HEAD into
step first (a writer that crashed with its index unwritten, another version's commit): HEAD's
blob, with the work tree's stat data where the file holds exactly that blob, and no stat data
where it does not (git then reads the file, and reports it modified).

Once the index lists MANY_FILES paths, it is converted to version 4 (paths prefix-compressed:
83 MB instead of 126 MB at a million facts, as git's own ``feature.manyFiles`` chooses), unless
the repository's config names an ``index.version``. git and libgit2 read and keep version 4;
isomorphic-git (Obsidian Git on mobile) reads only version 2, but it never reads this file:
a phone has its own clone (a partial one, past about 100,000 notes), with its own index.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pygit2

from stigmem_vault.errors import FormatError, StorageError
from stigmem_vault.vault.git_state import git_env
from stigmem_vault.vault.reading import read_regular_stat
from stigmem_vault.vault.store import fsync_dir, fsync_file, write_atomic

HEAD_FILE = "stigmem-index-head"
WRITER_LOCK = "stigmem-index-writer.lock"  # held by whoever reads, changes and writes the file
INLINE_BYTES = 4 * 1024 * 1024  # an index up to this size (~35,000 files) is written at once
WRITE_EVERY = 2.0  # seconds: the longest a committed file shows as staged in a running writer
COST_FACTOR = 4.0  # ...or this many times the last write's duration, if that is longer
RECONCILE_READ_LIMIT = 16 * 1024 * 1024  # larger files are left for git to read
MANY_FILES = 100_000  # an index listing this many paths is converted to version 4


class StatEntry(pygit2.IndexEntry):
    """An index entry that also carries the file's stat data (pygit2's carries none)."""

    def __init__(self, path: str, oid: pygit2.Oid, mode: pygit2.enums.FileMode,
                 st: os.stat_result) -> None:
        super().__init__(path, oid, mode)
        self.st = st

    # pygit2's hook, see Index.add: (the C entry, the path buffer it points to), cffi objects
    # that carry no Python types.
    def _to_c(self) -> tuple[Any, Any]:
        centry, keep = super()._to_c()
        st = self.st
        # git keeps 32-bit fields: the low bits, exactly as git's own fill_stat_data does.
        centry.ctime.seconds, centry.ctime.nanoseconds = divmod(st.st_ctime_ns, 10**9)
        centry.mtime.seconds, centry.mtime.nanoseconds = divmod(st.st_mtime_ns, 10**9)
        centry.dev, centry.ino = st.st_dev & 0xFFFFFFFF, st.st_ino & 0xFFFFFFFF
        centry.uid, centry.gid = st.st_uid & 0xFFFFFFFF, st.st_gid & 0xFFFFFFFF
        centry.file_size = st.st_size & 0xFFFFFFFF
        return centry, keep


Entry = pygit2.IndexEntry | None  # None: the path is removed
_NONE = object()  # no entry owed for a path (an owed entry may itself be None)


class LaggingIndex:
    """The repository's index as this process keeps it: the file on disk plus the entries of
    its commits not yet written (``owed``).

    A commit only records its entries (``committed``, under the vault's write lock): it never
    reads or writes git's index, so it never waits for the file to be rewritten (a second and
    more at a million facts) nor for it to be read again after another process rewrote it.
    The file is read and written under ``_mutex`` (this process's threads) and an ``flock`` on
    ``.git/stigmem-index-writer.lock`` (every writer process, so that none overwrites
    another's entries with a copy read before them), through a libgit2 repository of its own:
    a libgit2 object is used by one thread at a time."""

    def __init__(self, path: str) -> None:
        self._repo = pygit2.Repository(path)  # used only under _mutex
        self._file = os.path.join(path, "index")
        self._head_file = Path(path, HEAD_FILE)
        self._writer_lock = os.path.join(path, WRITER_LOCK)
        self._mutex = threading.RLock()  # the libgit2 index, _stamp, _cost
        self._stamp: tuple[int, int, int] | None = None  # the file as we last read or wrote it
        self._cost = 0.0  # seconds the last write took
        # Under _guard, held only for moments (a commit takes it): the entries owed to the
        # file, those not yet put into the libgit2 index (a subset), and the commit the file
        # was in step with before we owed.
        self._guard = threading.Lock()
        self._owed: dict[str, Entry] = {}
        self._unapplied: dict[str, Entry] = {}
        self._commit_of: dict[str, str] = {}  # path -> the commit that recorded its owed entry
        self._since: str | None = None
        self._timer: threading.Timer | None = None
        self.errors: list[str] = []  # the last writes that failed (the next one retries)
        # Told once when writes start failing (the vault's notices), again after a success.
        self.on_failure: Callable[[str], None] | None = None
        self._failing = False
        self._compress_tried = False  # converting to version 4 is tried once per process

    @property
    def owed(self) -> int:
        """How many entries the index file lacks."""
        with self._guard:
            return len(self._owed)

    @contextlib.contextmanager
    def holding(self) -> Iterator[pygit2.Index]:
        """The index with this process's unwritten entries, held by this thread until the
        block ends: if another process rewrote the file (its own commit, a person's ``git
        add``), it is read again and all of ours applied again."""
        with self._mutex:
            yield self._current()[0]

    def committed(self, changes: list[tuple[str, Entry]], parent: str | None,
                  commit: str | None = None) -> None:
        """Record the entries of ``commit`` (None: the tree did not change) as owed to the
        file, before HEAD names it, so that a writer that has read HEAD has them; ``parent``
        is the commit HEAD named before it. Then ``settle`` once HEAD names the commit."""
        with self._guard:
            if not self._owed:
                self._since = _read_head(self._head_file) or parent
            self._owed.update(changes)
            self._unapplied.update(changes)
            for path, _entry in changes:
                if commit is None:
                    self._commit_of.pop(path, None)
                else:
                    self._commit_of[path] = commit

    def settle(self) -> None:
        """After a commit: write the file now if it is small, else on the timer."""
        if not self.owed:
            return
        stamp = _stamp(self._file)
        if stamp is None or stamp[1] <= INLINE_BYTES:
            try:
                self.write()
                return
            except StorageError as exc:  # the commit stands: the timer tries again
                self._failed(exc)
        self._schedule()

    def write(self) -> None:
        """Write the index file now, in step with HEAD, if any commit is owed to it."""
        self.cancel()
        with self._mutex, _flocked(self._writer_lock):
            if self.owed:
                self._write()

    def _current(self) -> tuple[pygit2.Index, dict[str, Entry], dict[str, str], str | None]:
        """The index with every owed entry applied; and, taken at the same moment, the owed
        entries (all of them now in the index), the commits that recorded them, and the
        commit the file was in step with."""
        index: pygit2.Index = self._repo.index
        before = _stamp(self._file)
        index.read(False)  # libgit2 reloads only if the file changed since it last looked
        with self._guard:
            apply = self._owed if before != self._stamp else self._unapplied
            changes, self._unapplied = list(apply.items()), {}
            owed, since = dict(self._owed), self._since
            commits = {path: self._commit_of[path] for path in owed if path in self._commit_of}
        self._stamp = before
        for path, entry in changes:
            apply_entry(index, path, entry)
        return index, owed, commits, since

    def _write(self) -> None:
        started = time.monotonic()
        # HEAD first: a commit records its entries before it moves HEAD, so every commit up
        # to this HEAD is among those _current applies (and perhaps a later one too); and
        # every entry it applies is in ``written``, so the reconcile below never puts an
        # older blob over one of ours.
        head = None if self._repo.head_is_unborn else str(self._repo.head.target)
        index, written, commits, since = self._current()
        try:
            if head is not None and since is not None and since != head:
                self._reconcile(index, since, head, written)
            newer = self._check(index, head, written, commits) if head is not None else set()
            index.write()
            if len(index) >= MANY_FILES:
                self._compress()
            fsync_file(self._file)  # the index is a cache, but a torn one stops every git command
            fsync_dir(self._repo.path)  # its name: renamed over from index.lock
            self._stamp = _stamp(self._file)
            if head is not None:
                # Not fsynced: an older name only makes the next writer reconcile more.
                write_atomic(self._head_file, (head + "\n").encode(), sync=False)
        except (pygit2.GitError, OSError) as exc:
            raise StorageError(f"cannot write git's index: {exc}") from exc
        with self._guard:  # what commits added meanwhile stays owed, from this HEAD on
            for path, entry in written.items():
                if self._owed.get(path, _NONE) is entry and path not in newer:
                    del self._owed[path]
                    self._commit_of.pop(path, None)
            self._since = head if self._owed else None
        self._cost = time.monotonic() - started
        self._failing = False

    def _compress(self) -> None:
        """Convert the file to index version 4, once (libgit2 then keeps the version it read).
        pygit2 cannot set the version, so stock git does it; this never fails a write: the
        file stays as it is when git is missing or busy (the next process tries again)."""
        if self._compress_tried or _version(self._file) not in (2, 3) \
                or "index.version" in self._repo.config:
            return  # tried, already 4, unreadable, or the person's choice
        self._compress_tried = True
        git = shutil.which("git")
        if git is None:
            return
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run([git, f"--git-dir={self._repo.path}", "update-index",
                            "--index-version=4"], env=git_env(), capture_output=True,
                           check=False, timeout=600)

    def cancel(self) -> None:
        """Stop the timer (a writer that is done: ``GitRepo.close`` writes what is owed)."""
        with self._guard:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def _schedule(self) -> None:
        with self._guard:
            if self._timer is None:
                self._timer = threading.Timer(max(WRITE_EVERY, COST_FACTOR * self._cost),
                                              self._timed_write)
                self._timer.daemon = True
                self._timer.name = "stigmem-git-index"
                self._timer.start()

    def _timed_write(self) -> None:
        with self._guard:
            self._timer = None
        try:
            self.write()
        except StorageError as exc:  # the next commit schedules another try
            self._failed(exc)

    def _failed(self, exc: StorageError) -> None:
        self.errors = [*self.errors[-9:], str(exc)]
        if not self._failing and self.on_failure is not None:
            self.on_failure(f"{exc} (commits are unaffected; until a write succeeds, git status"
                            " shows the files committed since as staged)")
        self._failing = True

    def _check(self, index: pygit2.Index, head: str, written: dict[str, Entry],
               commits: dict[str, str]) -> set[str]:
        """Our owed entries that HEAD does not hold. Of a commit HEAD already contains, the
        path was committed again since (by another process): HEAD's entry goes in instead,
        and ours is dropped. Of a commit HEAD does not contain yet (it landed after HEAD was
        read), ours stays, and stays owed: those paths are returned, for the next write."""
        head_commit = self._repo.get(head)
        if not isinstance(head_commit, pygit2.Commit):
            return set()
        tree = head_commit.tree
        newer: set[str] = set()
        for path, entry in written.items():
            held = _tree_entry(tree, path)
            if (None if held is None else held.id) == (None if entry is None else entry.id):
                continue  # in step with HEAD
            commit = commits.get(path)
            if commit is not None and not _contains(self._repo, head, commit):
                newer.add(path)
                continue
            apply_entry(index, path, None if held is None else _entry_for(
                self._repo.workdir, path, held.id, held.filemode))
        return newer

    def _reconcile(self, index: pygit2.Index, since: str, head: str,
                   ours: dict[str, Entry]) -> None:
        """Bring the entries of paths changed between ``since`` and ``head`` into step with
        ``head``, except this process's own (``ours``: already in step)."""
        try:
            old = self._repo.get(since)
            new = self._repo.get(head)
            if not isinstance(old, pygit2.Commit) or not isinstance(new, pygit2.Commit):
                return
            diff = self._repo.diff(old.tree, new.tree)
        except (KeyError, ValueError, pygit2.GitError):
            return  # history rewritten: nothing to go by (git status still finds every change)
        tree = new.tree
        root = self._repo.workdir
        for delta in diff.deltas:
            for path in {delta.old_file.path, delta.new_file.path}:
                if path in ours:
                    continue
                try:
                    item = tree[path]
                except KeyError:
                    apply_entry(index, path, None)
                    continue
                if item.type_str != "blob":
                    continue
                if path in index and index[path].id == item.id:
                    continue  # written in step by whoever wrote the file
                apply_entry(index, path, _entry_for(root, path, item.id, item.filemode))


def _entry_for(root: str, path: str, oid: pygit2.Oid,
               mode: pygit2.enums.FileMode) -> pygit2.IndexEntry:
    """HEAD's entry for ``path``: with the file's stat data if it holds exactly that blob."""
    try:  # never blocks on a FIFO, never follows a symlink (vault/reading.py)
        data, st = read_regular_stat(os.path.join(root, path), path, RECONCILE_READ_LIMIT)
    except FormatError:
        return pygit2.IndexEntry(path, oid, mode)  # git reads it (and reports what it is)
    digest = hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).digest()
    return StatEntry(path, oid, mode, st) if digest == oid.raw else pygit2.IndexEntry(
        path, oid, mode)


def apply_entry(index: pygit2.Index, path: str, entry: Entry) -> None:
    """Put ``entry`` at ``path`` in ``index``, or remove the path (None)."""
    if entry is not None:
        index.add(entry)
    elif path in index:
        index.remove(path)


def _tree_entry(tree: pygit2.Tree, path: str) -> pygit2.Object | None:
    """The blob at ``path`` in ``tree``, or None (no such path, or a folder there)."""
    try:
        item = tree[path]
    except KeyError:
        return None
    return item if item.type_str == "blob" else None


def _contains(repo: pygit2.Repository, head: str, commit: str) -> bool:
    """Whether ``commit`` is ``head`` or one of its ancestors."""
    try:
        return head == commit or repo.descendant_of(head, commit)
    except (KeyError, ValueError, pygit2.GitError):
        return True  # unknown to this repository: nothing newer to wait for


@contextlib.contextmanager
def _flocked(path: str) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` (created if missing), released when the block ends
    or the process dies."""
    handle = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)  # releases the lock


def _version(path: str) -> int | None:
    """The version in an index file's header ("DIRC", then a 4-byte big-endian number)."""
    with contextlib.suppress(OSError), open(path, "rb") as handle:
        header = handle.read(8)
        if len(header) == 8 and header[:4] == b"DIRC":
            return int.from_bytes(header[4:], "big")
    return None


def _stamp(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


def _read_head(path: Path) -> str | None:
    with contextlib.suppress(OSError, UnicodeDecodeError):
        with open(path, encoding="ascii") as handle:
            text = handle.read(100).strip()
        if len(text) in (40, 64) and all(c in "0123456789abcdef" for c in text):
            return text
    return None
