"""Carrying out what changed files mean (the rules are in watch/gestures.py and docs/spec.md).

``apply_changes(vault, paths)`` is what the watcher calls with each coalesced batch. Every
outcome is returned as a ``Change`` so callers (the watcher log, tests, the CLI) can see what
happened; a bad file becomes a status or an annotation, never an exception that stops the batch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from stigmem_vault.errors import FormatError, InvalidFact, StigmemError
from stigmem_vault.index.query import IndexedFact
from stigmem_vault.model.fact import Claim, Fact
from stigmem_vault.model.identifiers import is_system_source
from stigmem_vault.vault.layout import FACTS_DIR, fact_relpath
from stigmem_vault.vault.notes import CONFLICTS_DIR, read_resolution
from stigmem_vault.vault.verify import Verdict, decode, read_bytes
from stigmem_vault.watch import gestures
from stigmem_vault.watch.filters import VaultFilter
from stigmem_vault.watch.scan import note_record, read_record

if TYPE_CHECKING:
    from stigmem_vault.api.vault import Vault


@dataclass(frozen=True, slots=True)
class Change:
    """One thing the watcher did: kind is indexed, removed, signed, amended, retracted,
    restored, resolved, rejected, config or ignored."""

    kind: str
    path: str
    detail: str = ""
    fact_id: str | None = None


def apply_changes(vault: Vault, paths: list[str]) -> list[Change]:
    changes: list[Change] = []
    if any(p.startswith(VaultFilter.config_prefixes) for p in paths):
        rebuilt = vault.reload_config()
        changes.append(Change("config", ".stigmem/", "trust store or schemas changed; re-indexed"))
        changes.extend(rebuilt.changes if rebuilt is not None else [])  # type: ignore[arg-type]
    if any(p.endswith("/") for p in paths):
        report = vault.refresh()  # a folder moved or vanished: the stat scan finds out what
        changes.append(Change("indexed", "/", f"rescanned: {report.indexed} changed, "
                                               f"{report.removed} removed"))
        changes.extend(report.changes)  # type: ignore[arg-type]  # what the rescan carried out
    batch = dict.fromkeys(p for p in paths if not p.endswith("/"))
    # Existing files first: a fact file moved within the vault is indexed at its new path
    # before the deletion of its old path is judged (moving a note is not retracting it).
    for rel in sorted(batch, key=lambda p: not os.path.lexists(vault.root / p)):
        if rel.startswith(VaultFilter.config_prefixes):
            continue
        try:
            changes.extend(_apply_one(vault, rel))
        except StigmemError as exc:  # one bad file never stops the batch
            changes.append(Change("rejected", rel, str(exc)))
    return changes


def _apply_one(vault: Vault, rel: str) -> list[Change]:
    path = vault.root / rel
    exists = os.path.lexists(path)
    if exists:
        st = os.lstat(path)
        if vault.index.file_stat(rel) == (st.st_size, st.st_mtime_ns):
            return []  # handled already, as it is now (an event seen twice, or after a rescan)
    if vault.is_own_write(rel):
        # This process wrote it and indexed it as it did; only a touched stat needs recording.
        if rel.startswith(FACTS_DIR + "/") and os.path.lexists(path):
            st = os.lstat(path)
            if vault.index.file_stat(rel) != (st.st_size, st.st_mtime_ns):
                return vault.index_paths([rel])
        return []
    if rel.startswith(FACTS_DIR + "/"):
        return _fact_file(vault, rel) if exists else _fact_deleted(vault, rel)
    if not exists:
        return []
    if rel.startswith(CONFLICTS_DIR + "/"):
        return _conflict_note(vault, rel)
    principal_slug = gestures.inbox_principal(rel)
    if principal_slug is not None:
        try:
            source = _principal(vault, principal_slug, rel)
        except InvalidFact as exc:  # nobody to sign it as: say so in the note itself
            return _draft(vault, rel, vault.config.owner, problem=exc)
        return _draft(vault, rel, source)
    if gestures.is_loose_note(rel):
        return _draft(vault, rel, vault.config.owner, only_if_draft=True)
    return []


def _principal(vault: Vault, slug: str, rel: str) -> str:
    for identity in vault.identities():
        if gestures.principal_slug(identity.source) == slug:
            return identity.source
    raise InvalidFact("inbox", f"{rel}: no identity in this vault has the inbox folder {slug!r}")


def _fact_file(vault: Vault, rel: str) -> list[Change]:
    record = read_record(vault.root, rel, os.lstat(vault.root / rel), vault.trust)
    previous = vault.index.fact_at(rel)
    if record.status == Verdict.VALID.value or previous is None or previous.status != "valid":
        if record.status != Verdict.VALID.value and previous is None and _looks_like_draft(vault, rel):
            return _draft(vault, rel, vault.config.owner)
        vault.ingest([record], [])
        if record.status == Verdict.VALID.value and record.fact is not None:
            # A signed fact another process put here (an agent, a CLI run): every change is
            # committed, and one that is already committed makes an empty commit, i.e. none.
            with vault._lock:
                vault._queue(rel, f"add {record.fact.id[:12]} {record.fact.source}")
        return [Change("indexed", rel, record.status if record.status != "valid" else "",
                       record.fact.id if record.fact else None)]
    if record.size == 0:
        # An editor saving in place truncates, then writes: restoring now would clobber that
        # write (it lands on the replaced file). The write brings its own event.
        return []
    # A signed fact was edited in place: keep the original, sign the edit as a new fact.
    return _amend_in_place(vault, rel, previous)


def _looks_like_draft(vault: Vault, rel: str) -> bool:
    try:
        return gestures.is_draft(gestures.parse_note(decode(read_bytes(vault.root / rel, rel), rel), rel))
    except FormatError:
        return False


def _amend_in_place(vault: Vault, rel: str, previous: IndexedFact) -> list[Change]:
    original = previous.fact
    edited_text = _read_text_or_none(vault, rel)
    vault.restore_fact_file(rel, original)
    changes = [Change("restored", rel, "signed facts are immutable; the original is kept",
                      original.id)]
    try:
        note = gestures.parse_note(edited_text or "", rel)
        props = dict(note.props)
        props["source"] = vault.config.owner
        props["supersedes"] = original.id
        props.pop("derived_from", None)
        claim = gestures.claim_from_draft(props, vault.config.owner)
    except (FormatError, InvalidFact) as exc:
        field, reason = _field_reason(exc)
        draft_rel = vault.park_draft(rel, edited_text or "", field, reason, original.id)
        return [*changes, Change("rejected", draft_rel, f"{field}: {reason}")]
    if _same_claim(claim, original):
        return changes  # only formatting or unsigned properties changed
    fact = vault.write_claim(claim)
    return [*changes, Change("amended", str(fact_relpath(fact)), f"supersedes {original.id[:12]}",
                             fact.id)]


def _same_claim(claim: Claim, original: Fact) -> bool:
    mine = (claim.entity, claim.relation, claim.value, claim.confidence, claim.trust, claim.scope,
            claim.valid_until)
    theirs = (original.entity, original.relation, original.value, original.confidence,
              original.trust, original.scope, original.valid_until)
    return mine == theirs


def _fact_deleted(vault: Vault, rel: str) -> list[Change]:
    previous = vault.index.fact_at(rel)
    if previous is None or previous.status != "valid":
        vault.ingest([], [rel])
        return [Change("removed", rel)]
    original = previous.fact
    if previous.present and previous.path not in (None, rel):
        vault.ingest([], [rel])  # the fact moved: another file holds it now
        return [Change("removed", rel, f"moved to {previous.path}", original.id)]
    if is_system_source(original.source) or not previous.live:
        vault.restore_fact_file(rel, original)
        why = ("system facts cannot be retracted by deleting them" if previous.live
               else "it is no longer live (superseded, retracted or expired)")
        vault.notify(f"Restored {rel}: {why}.")
        return [Change("restored", rel, why, original.id)]
    vault.restore_fact_file(rel, original)
    retraction = vault.retract(original.id)
    return [Change("retracted", rel, f"retraction {retraction.id[:12]} by {retraction.source}",
                   retraction.id)]


def _conflict_note(vault: Vault, rel: str) -> list[Change]:
    try:
        text = decode(read_bytes(vault.root / rel, rel), rel)
    except FormatError as exc:
        return _unreadable(vault, rel, exc)
    request = read_resolution(gestures.parse_note(text, rel).props)
    if request is None:
        return []
    value = request.value
    fact = vault.resolve(request.conflict_id, winner=request.winner,
                         value=None if value is None else value)
    return [Change("resolved", rel, f"conflict {request.conflict_id[:12]}", fact.id)]


def _draft(vault: Vault, rel: str, source: str, only_if_draft: bool = False,
           problem: InvalidFact | None = None) -> list[Change]:
    try:
        text = decode(read_bytes(vault.root / rel, rel), rel)
    except FormatError as exc:
        return _unreadable(vault, rel, exc)
    if not text:
        return []  # truncated by an editor saving in place (or not written yet): wait for it
    try:
        note = gestures.parse_note(text, rel)
    except FormatError as exc:
        if only_if_draft:
            return []
        vault.write_note(rel, _error_only(text, "frontmatter", exc.reason), "draft rejected")
        return [Change("rejected", rel, exc.reason)]
    if only_if_draft and not gestures.is_draft(note):
        return []
    try:
        if problem is not None:
            raise problem
        claim = gestures.claim_from_draft(dict(note.props), source)
        if claim.source != source:
            raise InvalidFact("source", f"a draft in this folder is signed as {source}, "
                                        f"not {claim.source}")
        fact = vault.write_claim(claim, notes=gestures.typed_notes(note))
    except InvalidFact as exc:
        vault.write_note(rel, gestures.annotate(note, exc.field, exc.reason), "draft rejected")
        return [Change("rejected", rel, f"{exc.field}: {exc.reason}")]
    vault.remove_note(rel, f"draft filed as {fact.id[:12]}")
    return [Change("signed", str(fact_relpath(fact)), f"from {rel}", fact.id)]


def _unreadable(vault: Vault, rel: str, exc: FormatError) -> list[Change]:
    """A draft, loose note or conflict note that cannot be read as text: binary, not UTF-8,
    oversized, a symlink, or not a file at all (a FIFO, a socket: never opened). There is
    nothing to annotate, so the reason goes into the file's status (never a silent skip)."""
    record = note_record(vault.root, rel, "rejected", exc.reason)
    if record is None:
        return []  # gone meanwhile
    vault.index.apply([record], [])
    return [Change("rejected", rel, exc.reason)]


def _error_only(text: str, field: str, reason: str) -> str:
    callout = f"> [!error] stigmem could not read this note\n> **{field}**: {reason}\n\n"
    return text if callout in text else callout + text


def _read_text_or_none(vault: Vault, rel: str) -> str | None:
    try:
        return decode(read_bytes(vault.root / rel, rel), rel)
    except FormatError:
        return None


def _field_reason(exc: FormatError | InvalidFact) -> tuple[str, str]:
    if isinstance(exc, InvalidFact):
        return exc.field, exc.reason
    return "frontmatter", exc.reason



