"""The node's hybrid logical clock: stamps (model/hlc.py) issued in order, across threads,
processes and restarts, through a lease file under the vault's local state."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from stigmem_vault.errors import StorageError
from stigmem_vault.model.hlc import HLC, LEASE_MS, MAX_COUNTER, validate_node_id
from stigmem_vault.vault.store import fsync_dir, make_dirs


class Clock:
    """A thread-safe HLC for one node, persisted through a lease file.

    ``state_path`` holds the highest wall time this node may have issued; it is rewritten
    (atomically: temp file fsynced, renamed, folder fsynced) only when issuing passes the
    lease, so at most once per LEASE_MS.
    """

    def __init__(self, node: str, state_path: Path | None = None,
                 wall: Callable[[], int] | None = None) -> None:
        self.node = validate_node_id(node)
        self._state_path = state_path
        self._wall = wall or (lambda: time.time_ns() // 1_000_000)
        self._lock = threading.Lock()
        self._last = HLC(0, 0, node)
        self._leased_until = 0
        if state_path is not None and state_path.exists():
            try:
                leased = int(state_path.read_text().strip() or "0")
            except (OSError, ValueError) as exc:
                raise StorageError(f"{state_path}: unreadable clock state: {exc}") from exc
            # Everything up to the lease may have been issued before a crash.
            self._last = HLC(leased, MAX_COUNTER, node)
            self._leased_until = leased

    @property
    def last(self) -> HLC:
        return self._last

    def now(self) -> HLC:
        """Issue a new stamp, strictly greater than every stamp issued or received before."""
        with self._lock:
            now = self._wall()
            wall = max(now, self._last.wall_ms)
            counter = self._last.counter + 1 if wall == self._last.wall_ms else 0
            self._last = self._normalize(wall, counter)
            self._lease(self._last.wall_ms, now)
            return self._last

    def receive(self, remote: HLC) -> HLC:
        """Merge a stamp seen from elsewhere; the next local stamp will sort after it."""
        with self._lock:
            now = self._wall()
            wall = max(now, self._last.wall_ms, remote.wall_ms)
            if wall == self._last.wall_ms == remote.wall_ms:
                counter = max(self._last.counter, remote.counter) + 1
            elif wall == self._last.wall_ms:
                counter = self._last.counter + 1
            elif wall == remote.wall_ms:
                counter = remote.counter + 1
            else:
                counter = 0
            self._last = self._normalize(wall, counter)
            self._lease(self._last.wall_ms, now)
            return self._last

    def _normalize(self, wall: int, counter: int) -> HLC:
        # A full counter borrows from the wall: ordering is kept, width is kept.
        if counter > MAX_COUNTER:
            return HLC(wall + 1, 0, self.node)
        return HLC(wall, counter, self.node)

    def _lease(self, wall: int, now: int) -> None:
        if self._state_path is None or wall < self._leased_until:
            return
        # Ahead of the physical clock, not of the stamp: a process that started from a lease
        # ahead of the wall (another process of the node renewed it) covers its stamp and no
        # more, so processes started one after another never push the node's stamps ahead.
        lease = max(wall + 1, now + LEASE_MS)
        # One temp file per clock: writers in two processes share the state file, and with a
        # shared temp name one's rename stole the other's file (FileNotFoundError mid-write).
        tmp = self._state_path.with_name(f".{self._state_path.name}.{os.getpid()}.{id(self):x}.tmp")
        try:
            make_dirs(self._state_path.parent)
            # Several processes of one node share the lease: under a lock, never lower it.
            with open(self._state_path.with_name(self._state_path.name + ".lock"), "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                lease = max(lease, _read_lease(self._state_path))
                with open(tmp, "w") as handle:
                    handle.write(f"{lease}\n")
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, self._state_path)
                # The rename is durable only once its folder is: without this, a power loss
                # could bring back the old lease, and stamps below ones already issued.
                fsync_dir(self._state_path.parent)
        except OSError as exc:
            raise StorageError(f"{self._state_path}: cannot persist clock lease: {exc}") from exc
        self._leased_until = lease


def _read_lease(path: Path) -> int:
    try:
        return int(path.read_text().strip() or "0")
    except (OSError, ValueError):
        return 0
