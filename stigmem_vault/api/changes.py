"""A change feed: the facts indexed since a cursor (MCP's ``subscribe_scope``, a poll).

The cursor is ``<generation>.<row>``: the index numbers facts in the order it first sees them
(written here, pulled from a peer, dropped into the vault), so "since the cursor" misses no fact
whatever its HLC. A rebuilt index numbers them anew under another generation; a cursor from an
older one restarts the feed from the beginning, flagged ``reset`` (facts may come again, none
is skipped).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stigmem_vault.errors import InvalidFact
from stigmem_vault.index.query import IndexedFact

_CURSOR = re.compile(r"^([0-9a-f]{16})\.([0-9]{1,18})$")


@dataclass(frozen=True, slots=True)
class Changes:
    facts: list[IndexedFact]  # in the order the index first saw them, oldest first
    cursor: str  # pass it back to get what came after
    has_more: bool  # more changes are waiting: call again at once
    reset: bool  # the cursor was from an older index: this feed started over


def parse_cursor(raw: str | None, generation: str) -> tuple[int, bool]:
    """(the row to read after, whether the feed restarts) for a cursor a call returned."""
    if raw is None or not raw.strip():
        return 0, False
    found = _CURSOR.match(raw.strip())
    if found is None:
        raise InvalidFact("cursor", f"{raw!r} is not a cursor this server returned; omit it to "
                                    "start from the beginning")
    if found.group(1) != generation:
        return 0, True
    return int(found.group(2)), False


def make_cursor(generation: str, row: int) -> str:
    return f"{generation}.{row}"


__all__ = ["Changes", "make_cursor", "parse_cursor"]
