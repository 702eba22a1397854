"""What the vault did with a changed file: a gesture carried out (spec §14) or an index update.

Defined here, below api/, because a scan report carries the gestures a refresh carried out;
api/results.py re-exports both for the front ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ChangeKind(StrEnum):
    """What the vault did with a changed file (a gesture, §14, or an index update)."""

    INDEXED = "indexed"
    REMOVED = "removed"
    SIGNED = "signed"  # a draft became a signed fact
    AMENDED = "amended"  # an edit of a signed fact became a new fact superseding it
    RETRACTED = "retracted"  # a deleted signed fact was retracted
    RESTORED = "restored"  # a signed fact file was put back as it was signed
    RESOLVED = "resolved"  # a conflict note's resolution was signed
    PENDING = "pending"  # a person's draft or edit, waiting for its `sign` checkbox
    MOVED = "moved"  # a signed fact note moved out of facts/ was put back
    CONFLICT = "conflict"  # a conflict opened; its note was written
    REJECTED = "rejected"  # the file could not be used; the reason is in detail
    CONFIG = "config"  # the trust store or schemas changed


@dataclass(frozen=True, slots=True)
class Change:
    """One thing the vault did with a changed file."""

    kind: ChangeKind
    path: str
    detail: str = ""
    fact_id: str | None = None
