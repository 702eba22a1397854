"""Hybrid logical clock whose string form sorts in its total order.

Form: ``{wall_ms:013d}.{counter:06d}.{node_id}`` — e.g. ``1764000000000.000003.9f86d081884c7d65``.
Wall milliseconds and counter are zero-padded to fixed width, so comparing two stamps as byte
strings compares (wall, counter, node) lexicographically; the node id breaks ties between
nodes. With two dots the stamp can never be read as a number by YAML, even unquoted (we
quote it anyway).

The clock that issues stamps (vault/clock.py) is monotonic across restarts: it leases wall
time ahead (``LEASE_MS``) in a state file and, after a restart, never issues a stamp below the
leased value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stigmem_vault.errors import InvalidFact

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


def as_of_stamp(raw: str, field: str = "as_of") -> str:
    """An ``--as-of`` point: an HLC stamp as given, or an ISO 8601 time turned into the highest
    HLC of that millisecond (everything written up to and within it)."""
    from stigmem_vault.model.values import parse_iso_datetime  # values imports the model's core

    try:
        return str(HLC.parse(raw, field))
    except InvalidFact:
        pass
    try:
        moment = parse_iso_datetime(raw, field)
    except InvalidFact:
        raise InvalidFact(field, f"{raw!r} is neither an HLC stamp (as in a fact's hlc) "
                                 "nor an ISO 8601 time (2026-05-01T12:00:00Z)") from None
    wall_ms = int(moment.timestamp() * 1000)
    if not 0 <= wall_ms < 10**WALL_DIGITS:
        raise InvalidFact(field, f"{raw!r} is outside the times an HLC stamp can hold "
                                 "(1970 to 2286)")
    return str(HLC(wall_ms, 999_999, "z" * 16))


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
