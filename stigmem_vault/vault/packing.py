"""Background merging of the vault's git packs, as ``git gc --auto`` would do it.

Every commit writes its objects as one small pack (``packwrite``); a person's stock git and
libgit2 write loose objects. Left alone, a busy vault is thousands of small packs (every
object lookup tries each) or millions of small files. After a commit, the writer checks
(cheaply, as ``git gc --auto`` does) whether packs or loose objects have piled up, and if so
starts ``git repack --geometric=2`` in a child process and returns at once: writers never
wait for it. Repacking is safe beside writers (git's own guarantee): it only adds packs and
removes loose objects or packs whose every object is in a newer pack, and it never touches
refs, the index or their lock files.

One repack runs at a time per repository, across processes: the child holds an ``flock`` on
``.git/stigmem-repack.lock`` (inherited from the writer that started it), which is released
when it exits, even when the writer exits first (a one-shot CLI command).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

# git gc --auto's defaults (gc.auto, gc.autoPackLimit).
LOOSE_LIMIT = 6700
PACK_LIMIT = 50
LOCK_NAME = "stigmem-repack.lock"
# Packed objects at the last all-into-one repack (a decimal number).
ALL_INTO_ONE_NAME = "stigmem-repacked-all"
# An all-into-one repack is due once the packed objects have grown this many times since the
# last one: a delta's base must be in its own pack, so a new version of a tree or a note
# whose earlier versions sit in the one big pack is stored whole (a geometric merge of the
# small packs searches deltas only among them). A million facts measured 286 B per object in
# the one pack and 475 B in geometric packs: 960 B per fact all in one pack, 1,074 B with a
# quarter of the objects outside it, at growth 1.5 (docs/scaling.md). At 1.15 at most 13% of
# the objects are outside it: a million facts measured 1,004 B per fact with 1% outside, and
# the worst point of the cycle is estimated at 1,020-1,070 B (docs/scaling.md). The repacks'
# total work is 1.15 / 0.15 = 7.7 times one of the whole repository (75 s at a million
# facts), spread over its life and run niced in the background.
ALL_INTO_ONE_GROWTH = 1.15
# A repack that left the loose objects above the limit is not started again for this long by
# the same process.
RETRY_SECONDS = 600.0


@dataclass(frozen=True, slots=True)
class RepoSize:
    """What ``git count-objects -v`` reports, in bytes (git reports KiB)."""

    loose_objects: int
    loose_bytes: int  # blocks taken on disk (small files take a whole block each)
    packs: int
    packed_objects: int
    pack_bytes: int  # sizes of .pack files, their .idx (and any other file in objects/pack/)

    @property
    def total_bytes(self) -> int:
        return self.loose_bytes + self.pack_bytes


def repo_size(git_dir: Path | str) -> RepoSize:
    """Count the repository's objects and their size on disk, reading only (no lock)."""
    objects = os.path.join(git_dir, "objects")
    loose = loose_bytes = 0
    for name in _listdir(objects):
        if len(name) != 2 or not _is_hex(name):
            continue
        folder = os.path.join(objects, name)
        for entry in _scandir(folder):
            if len(entry.name) == 38 and _is_hex(entry.name):
                with contextlib.suppress(OSError):
                    loose_bytes += _disk_bytes(entry.stat(follow_symlinks=False))
                    loose += 1
    packs = packed = pack_bytes = 0
    for entry in _scandir(os.path.join(objects, "pack")):
        with contextlib.suppress(OSError):
            pack_bytes += entry.stat(follow_symlinks=False).st_size  # as git counts packs
            if entry.name.endswith(".idx"):
                packs += 1
                packed += _idx_count(entry.path)
    return RepoSize(loose, loose_bytes, packs, packed, pack_bytes)


def packed_objects(git_dir: Path | str) -> int:
    """The objects in the repository's packs, from their indexes' headers alone."""
    folder = os.path.join(git_dir, "objects", "pack")
    return sum(_idx_count(os.path.join(folder, name)) for name in _listdir(folder)
               if name.endswith(".idx"))


def estimate_loose(git_dir: Path | str) -> int:
    """About how many loose objects there are: 256 times those in ``objects/17/`` (git gc
    --auto's estimate; object names are uniformly spread), for the cost of one listdir."""
    return 256 * len(_listdir(os.path.join(git_dir, "objects", "17")))


def count_packs(git_dir: Path | str) -> int:
    """Packs in ``objects/pack/`` that are not kept (``.keep``) from repacking."""
    names = set(_listdir(os.path.join(git_dir, "objects", "pack")))
    return sum(1 for n in names if n.endswith(".idx") and n[:-4] + ".keep" not in names)


class Packer:
    """Starts a background ``git repack`` when loose objects or packs pile up (one per
    repository at a time; a writer that starts one never waits for it)."""

    def __init__(self, git_dir: Path | str, *, loose_limit: int = LOOSE_LIMIT,
                 pack_limit: int = PACK_LIMIT) -> None:
        self.git_dir = str(git_dir)
        self.loose_limit = loose_limit
        self.pack_limit = pack_limit
        self._child: subprocess.Popen[bytes] | None = None
        self._not_before = 0.0

    def after_commit(self) -> bool:
        """Start a repack if one is due and none is running; True if one was started.
        Never raises: packing is an optimisation, a commit never fails for it."""
        if self.running() or time.monotonic() < self._not_before:
            return False
        try:
            command = self._due()
            return command is not None and self._start(command)
        except OSError:  # no git program, a read-only .git: not tried again for a while
            self._not_before = time.monotonic() + RETRY_SECONDS
            return False

    def running(self) -> bool:
        """Whether a repack this process started is still running (reaping it if not)."""
        if self._child is None:
            return False
        if self._child.poll() is None:
            return True
        self._child = None
        if estimate_loose(self.git_dir) > self.loose_limit:
            self._not_before = time.monotonic() + RETRY_SECONDS  # unreachable ones, kept
        return False

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for a running repack (tests, benchmarks, shutdown); its exit status, or None
        if none was running. Raises subprocess.TimeoutExpired after ``timeout`` seconds."""
        child = self._child
        if child is None:
            return None
        status = child.wait(timeout)
        self.running()
        return status

    def _due(self) -> list[str] | None:
        """The repack to run now, if any: ``--geometric=2`` merges the smallest packs (and
        every loose object) until each pack holds at least twice the objects of all the
        smaller ones together, so that a commit's small pack is merged a few times in its
        life, not rewritten with the whole repository; ``-d`` then removes what was merged.
        Each time the packed objects have grown by ALL_INTO_ONE_GROWTH, all go into one
        pack instead."""
        if count_packs(self.git_dir) <= self.pack_limit \
                and estimate_loose(self.git_dir) <= self.loose_limit:
            return None
        state = os.path.join(self.git_dir, ALL_INTO_ONE_NAME)
        # Not repo_size: the commit that asks holds the vault's write lock, and a repack is
        # due precisely when loose objects have piled up (a stat each: 0.76 s for 67,000).
        objects = packed_objects(self.git_dir)
        if objects >= ALL_INTO_ONE_GROWTH * _read_count(state):
            _write_count(state, objects)  # before: a repack that fails waits for more growth
            # As git gc does it: everything reachable into one pack, deltas searched anew
            # where the old packs had none; unreachable objects (a commit being written now,
            # its branch not yet moved) are loosened, never dropped, unless weeks old.
            return ["repack", "-A", "-d", "-l", "-q", "--unpack-unreachable=2.weeks.ago"]
        return ["repack", "--geometric=2", "-d", "-l", "-q"]

    def _start(self, command: list[str]) -> bool:
        lock = os.open(os.path.join(self.git_dir, LOCK_NAME),
                       os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False  # another process's repack is running
            # The child inherits the locked file: the lock lasts as long as the repack.
            # Niced: the node's writers and readers come first for the CPU.
            nice = ["nice", "-n", "10"] if shutil.which("nice") else []
            self._child = subprocess.Popen(
                [*nice, "git", f"--git-dir={self.git_dir}",
                 # Packs and their indexes fsynced before the loose copies go (git's default
                 # also, made explicit: a person's config may weaken it).
                 "-c", "core.fsync=objects,derived-metadata", "-c", "core.fsyncMethod=fsync",
                 "-c", "pack.threads=1", *command],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                pass_fds=(lock,), start_new_session=True)
            return True
        finally:
            os.close(lock)


def _read_count(path: str) -> int:
    try:
        with open(path, encoding="ascii") as handle:
            return int(handle.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def _write_count(path: str, count: int) -> None:
    # Packing is an optimisation: a commit never fails for it.
    with contextlib.suppress(OSError), open(path, "w", encoding="ascii") as handle:
        handle.write(f"{count}\n")


def _idx_count(path: str) -> int:
    """The number of objects a pack index (version 2, or 1) lists: its last fan-out entry."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(8 + 256 * 4)
    except OSError:
        return 0
    # Version 2: magic, version, then the fan-out table; version 1: the fan-out table first.
    table = head[8:8 + 1024] if head[:4] == b"\xfftOc" else head[:1024]
    return int.from_bytes(table[-4:], "big") if len(table) == 1024 else 0


def _disk_bytes(st: os.stat_result) -> int:
    """Space a file takes on disk (its blocks), as ``git count-objects`` counts loose
    objects."""
    blocks = getattr(st, "st_blocks", None)
    return blocks * 512 if blocks is not None else st.st_size


def _is_hex(name: str) -> bool:
    return all(c in "0123456789abcdef" for c in name)


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _scandir(path: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as entries:
            return list(entries)
    except (FileNotFoundError, NotADirectoryError):
        return []
