"""Hybrid logical clock whose string form sorts in its total order.

Form: ``{wall_ms:013d}.{counter:06d}.{node_id}`` — e.g. ``1764000000000.000003.9f86d081884c7d65``.
Wall milliseconds and counter are zero-padded to fixed width, so comparing two stamps as byte
strings compares (wall, counter, node) lexicographically; the node id breaks ties between
nodes. With two dots the stamp can never be read as a number by YAML, even unquoted (we
quote it anyway).

The clock is monotonic across restarts: it leases wall time ahead (``LEASE_MS``) in a state
file and, after a restart, never issues a stamp below the leased value.
"""

from __future__ import annotations

import fcntl
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stigmem_vault.errors import InvalidFact, StorageError
from stigmem_vault.vault.store import fsync_dir, make_dirs

WALL_DIGITS = 13
COUNTER_DIGITS = 6
MAX_COUNTER = 10**COUNTER_DIGITS - 1
LEASE_MS = 1_000
# Federation skew bounds (upstream defaults, contract §4.5).
MAX_FUTURE_SKEW_MS = 300_000
MAX_PAST_SKEW_MS = 30 * 24 * 3600 * 1000

_HLC = re.compile(r"^([0-9]{13})\.([0-9]{6})\.([a-z0-9][a-z0-9-]{0,63})$")  # ASCII digits only
_NODE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


@dataclass(frozen=True, slots=True, order=True)
class HLC:
    wall_ms: int
    counter: int
    node: str

    def __str__(self) -> str:
        return f"{self.wall_ms:0{WALL_DIGITS}d}.{self.counter:0{COUNTER_DIGITS}d}.{self.node}"

    @classmethod
    def parse(cls, text: object, field: str = "hlc") -> HLC:
        if not isinstance(text, str):
            raise InvalidFact(field, f"must be a string, got {type(text).__name__}")
        match = _HLC.fullmatch(text)  # not match(): '$' would accept a trailing newline
        if not match:
            raise InvalidFact(
                field,
                f"{text!r} is not an HLC stamp (13-digit wall ms '.' 6-digit counter '.' node id)",
            )
        return cls(int(match.group(1)), int(match.group(2)), match.group(3))


def validate_node_id(node: str) -> str:
    if not _NODE_ID.fullmatch(node):
        raise InvalidFact("node_id", f"{node!r} must be 1-64 of [a-z0-9-], not starting with '-'")
    return node


def skew_violation(stamp: HLC, now_ms: int,
                   max_future_ms: int = MAX_FUTURE_SKEW_MS,
                   max_past_ms: int = MAX_PAST_SKEW_MS) -> str | None:
    """Describe how ``stamp`` breaks the skew bounds relative to ``now_ms``, or None if it doesn't.

    A bound of 0 disables that direction (as upstream).
    """
    ahead = stamp.wall_ms - now_ms
    if max_future_ms and ahead > max_future_ms:
        return f"HLC is {ahead} ms in the future (bound {max_future_ms} ms)"
    if max_past_ms and -ahead > max_past_ms:
        return f"HLC is {-ahead} ms in the past (bound {max_past_ms} ms)"
    return None


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
            wall = max(self._wall(), self._last.wall_ms)
            counter = self._last.counter + 1 if wall == self._last.wall_ms else 0
            self._last = self._normalize(wall, counter)
            self._lease(self._last.wall_ms)
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
            self._lease(self._last.wall_ms)
            return self._last

    def _normalize(self, wall: int, counter: int) -> HLC:
        # A full counter borrows from the wall: ordering is kept, width is kept.
        if counter > MAX_COUNTER:
            return HLC(wall + 1, 0, self.node)
        return HLC(wall, counter, self.node)

    def _lease(self, wall: int) -> None:
        if self._state_path is None or wall < self._leased_until:
            return
        lease = wall + LEASE_MS
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
