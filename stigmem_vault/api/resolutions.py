"""A person resolving a conflict in its note (spec §14, §14.1), carried out for the watcher.

The note is the person's while they choose: setting ``winner`` or typing a ``value`` signs
nothing (Obsidian saves every couple of seconds while they type) and is only *pending*. Once
they tick the note's ``sign`` checkbox, exactly one resolution fact by the owner is written,
and the note is rendered again as resolved; a choice that cannot be signed gets its error in
the note (a ``stigmem_error`` property and a callout) and ``sign`` unticked, as a draft does.
"""

from __future__ import annotations

from pathlib import Path

from stigmem_vault.api.facts import FactWriter
from stigmem_vault.api.index_keeper import IndexKeeper
from stigmem_vault.api.results import Change, ChangeKind, PendingNote
from stigmem_vault.errors import FormatError, InvalidFact, StigmemError
from stigmem_vault.vault.notes import read_resolution
from stigmem_vault.vault.verify import decode, read_bytes
from stigmem_vault.watch import gestures

PENDING_DETAIL = "resolution of conflict {}; tick `sign` to sign it"


def resolve_from_note(rel: str, text: str, keeper: IndexKeeper,
                      facts: FactWriter) -> list[Change]:
    """What a saved conflict note asks for: nothing, a pending choice, or (``sign`` ticked)
    one resolution or the reason there is none, written into the note."""
    if not text:
        return []  # truncated by an editor saving in place: its write brings its own event
    try:
        note = gestures.parse_note(text, rel)
    except FormatError as exc:
        if not gestures.ticked_unreadable(text):
            return []  # a person may be typing: nothing is rewritten before `sign`
        keeper.write_note(rel, gestures.annotate_unreadable(text, exc.reason),
                          "conflict note rejected")
        return [Change(ChangeKind.REJECTED, rel, f"frontmatter: {exc.reason}")]
    request = read_resolution(note.props)
    if request is None:
        return []  # not an open conflict note (resolved, obsolete, or not ours)
    ticked = gestures.sign_ticked(note.props)
    if not ticked:
        if not request.chosen:
            return []
        return [Change(ChangeKind.PENDING, rel, PENDING_DETAIL.format(request.conflict_id[:12]))]
    try:
        if not request.chosen:
            raise InvalidFact("winner", "set winner (a, b or a fact id) or type a value, "
                                        "then tick sign")
        fact = facts.resolve(request.conflict_id, winner=request.winner, value=request.value)
    except StigmemError as exc:
        field, reason = ((exc.field, exc.reason) if isinstance(exc, InvalidFact)
                         else ("conflict", str(exc)))
        # annotate() unticks `sign`: the person fixes the named field and ticks it again
        keeper.write_note(rel, gestures.annotate(note, field, reason), "conflict note rejected")
        return [Change(ChangeKind.REJECTED, rel, f"{field}: {reason}")]
    return [Change(ChangeKind.RESOLVED, rel, f"conflict {request.conflict_id[:12]}", fact.id)]


def pending_resolution(root: Path, rel: str) -> PendingNote | None:
    """An open conflict note in which a person chose (or ticked `sign`) and no writer has
    signed a resolution yet; None for any other note. Reads only."""
    try:
        note = gestures.parse_note(decode(read_bytes(root / rel, rel), rel), rel)
    except FormatError:
        return None
    request = read_resolution(note.props)
    if request is None:
        return None
    ticked = gestures.sign_ticked(note.props)
    if not (request.chosen or ticked):
        return None
    error = note.props.get(gestures.ERROR_PROPERTY)
    return PendingNote(rel, "resolution", ticked=ticked, error=str(error) if error else None,
                       conflict_id=request.conflict_id)
