"""Carrying out what changed files mean (the rules are in watch/gestures.py and docs/spec.md).

``GestureApplier.apply(paths)`` is what the watcher and a writer's scan call with each batch
of changed files. Every outcome is returned as a ``Change`` so callers (the watcher log,
tests, the CLI) can see what happened; a bad file becomes a status or an annotation, never
an exception that stops the batch.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from stigmem_vault.api.commits import CommitQueue
from stigmem_vault.api.context import VaultContext
from stigmem_vault.api.facts import FactWriter
from stigmem_vault.api.identities import Identities
from stigmem_vault.api.index_keeper import IndexKeeper
from stigmem_vault.api.resolutions import pending_resolution, resolve_from_note
from stigmem_vault.api.results import Change, ChangeKind, PendingNote
from stigmem_vault.errors import FormatError, InvalidFact, StigmemError
from stigmem_vault.index.index import Index
from stigmem_vault.index.query import IndexedFact
from stigmem_vault.model.fact import Claim, Fact
from stigmem_vault.model.identifiers import is_system_source
from stigmem_vault.vault import markdown
from stigmem_vault.vault.layout import FACTS_DIR, fact_relpath
from stigmem_vault.vault.notes import CONFLICTS_DIR
from stigmem_vault.vault.store import write_atomic
from stigmem_vault.vault.verify import CANDIDATE_VERDICTS, decode, read_bytes
from stigmem_vault.watch import gestures
from stigmem_vault.watch.filters import VaultFilter
from stigmem_vault.watch.scan import ScanReport, note_record, read_record

# Properties only a signed file has: a parked edit drops them so it reads as a fresh draft.
_SIGNED_ONLY = frozenset({"format", "id", "hlc", "timestamp", "signer", "signature",
                          "derived_from"})


class GestureApplier:
    """Turns edits of notes into new signed facts, for one open vault (a writer)."""

    def __init__(self, ctx: VaultContext, commits: CommitQueue, keeper: IndexKeeper,
                 facts: FactWriter, identities: Identities,
                 reload_config: Callable[[], ScanReport | None]) -> None:
        self._ctx = ctx
        self._commits = commits
        self._keeper = keeper
        self._facts = facts
        self._identities = identities
        self._reload_config = reload_config
        self._pending_said: dict[str, str] = {}  # path -> the `pending` reason last said

    def restore_fact_file(self, rel: str, fact: Fact) -> None:
        """Put a signed fact back where it was: the bytes its writer wrote (still queued for
        commit, or committed), else the fact rendered again."""
        data = self._signed_bytes(rel, fact)
        write_atomic(self._ctx.root / rel, data, scratch=self._ctx.scratch)
        self._keeper.remember_write(rel, data)
        self._commits.add([(rel, data)], [f"restore {fact.id[:12]}"])
        self._keeper.index_paths([rel])

    def _signed_bytes(self, rel: str, fact: Fact) -> bytes:
        _node, git, _key, _clock = self._ctx.writer()
        return (self._commits.pending(rel) or git.blob_at_head(rel)
                or markdown.render(fact).encode("utf-8"))

    def park_draft(self, rel: str, text: str, field: str, reason: str,
                   supersedes: str | None = None, generated: str = "") -> str:
        """Keep an edit that could not be signed as an annotated draft in the owner's inbox.

        The draft is the owner's amendment of ``supersedes``: once the human fixes the named
        field and ticks `sign`, it is signed like any draft and replaces the original. Its body
        is what the person typed (``generated``, the original's rendered summary, left out).
        """
        owner = self._ctx.config.owner
        slug = gestures.principal_slug(owner)
        stem = rel.rsplit("/", 1)[-1][:-3]
        draft_rel = f"{gestures.INBOX_DIR}/{slug}/{stem}-edit.md"
        try:
            note = gestures.parse_note(text, rel)
            props = {k: v for k, v in note.props.items() if k not in _SIGNED_ONLY}
            props["source"] = owner
            if supersedes is not None:
                props["supersedes"] = supersedes
            props = gestures.untick(props)
            body = gestures.typed_notes(note, generated)
            annotated = gestures.annotate(gestures.Note(props, body + "\n" if body else ""),
                                          field, reason)
        except FormatError:
            annotated = gestures.annotate_unreadable(text, reason)
        self._keeper.write_note(draft_rel, annotated, "edit parked as draft")
        return draft_rel

    def revert(self, target: str) -> str:
        """Throw away a pending edit of a signed fact (a path or a fact id): the file gets the
        signed bytes back. Returns the path; InvalidFact if it names no signed fact."""
        if "/" not in target and not target.endswith(".md"):  # a fact id, or a prefix of one
            known = self._keeper.lookup(target)
            rel = known.path or str(fact_relpath(known.fact))
        else:
            rel = target.strip("/")
        indexed = self._keeper.index.fact_at(rel)
        if indexed is None or indexed.status not in CANDIDATE_VERDICTS:
            raise InvalidFact("path", f"{target}: no signed fact is indexed there")
        self.restore_fact_file(rel, indexed.fact)
        return rel

    def apply(self, paths: list[str]) -> list[Change]:
        changes: list[Change] = []
        if any(p.startswith(VaultFilter.config_prefixes) for p in paths):
            rebuilt = self._reload_config()
            changes.append(Change(ChangeKind.CONFIG, ".stigmem/",
                                  "trust store or schemas changed; re-indexed"))
            changes.extend(rebuilt.changes if rebuilt is not None else [])
        if any(p.endswith("/") for p in paths):
            # A folder moved or vanished: the scan finds out what (walking those folders whole).
            report = self._keeper.refresh(folders=[p for p in paths if p.endswith("/")])
            changes.append(Change(ChangeKind.INDEXED, "/", f"rescanned: {report.indexed} changed, "
                                                   f"{report.removed} removed"))
            changes.extend(report.changes)  # what the rescan carried out
        batch = dict.fromkeys(p for p in paths if not p.endswith("/"))
        # Existing files first: a fact file moved within the vault is indexed at its new path
        # before the deletion of its old path is judged (moving a note is not retracting it).
        for rel in sorted(batch, key=lambda p: not os.path.lexists(self._ctx.root / p)):
            if rel.startswith(VaultFilter.config_prefixes):
                continue
            try:
                done = self._apply_one(rel)
            except StigmemError as exc:  # one bad file never stops the batch
                done = [Change(ChangeKind.REJECTED, rel, str(exc))]
            changes.extend(self._pending_once(rel, done))
        return changes + self._keeper.take_opened()  # "a conflict opened" is said, too

    def _pending_once(self, rel: str, done: list[Change]) -> list[Change]:
        """``done`` without the `pending` lines already said: a person's editor saves every
        couple of seconds while they type, and each save would say it again. A path is said
        pending once when it becomes so, and again only when its reason changes, or after
        anything else happened to it (signed, rejected, gone...)."""
        kept = []
        for change in done:
            if change.kind is ChangeKind.PENDING:
                if self._pending_said.get(change.path) == change.detail:
                    continue
                self._pending_said[change.path] = change.detail
            else:
                self._pending_said.pop(change.path, None)
            kept.append(change)
        if rel in self._pending_said and not os.path.lexists(self._ctx.root / rel):
            del self._pending_said[rel]  # filed, moved or deleted: pending again is news
        return kept

    def _apply_one(self, rel: str) -> list[Change]:
        path = self._ctx.root / rel
        exists = os.path.lexists(path)
        if exists:
            st = os.lstat(path)
            if self._keeper.index.file_stat(rel) == (st.st_size, st.st_mtime_ns):
                return []  # handled already, as it is now (an event seen twice, or after a rescan)
        if self._keeper.is_own_write(rel):
            # This process wrote it and indexed it as it did; only a touched stat needs recording.
            if rel.startswith(FACTS_DIR + "/") and os.path.lexists(path):
                st = os.lstat(path)
                if self._keeper.index.file_stat(rel) != (st.st_size, st.st_mtime_ns):
                    return self._keeper.index_paths([rel])
            return []
        if rel.startswith(FACTS_DIR + "/"):
            return self._fact_file(rel) if exists else self._fact_deleted(rel)
        if not exists:
            return []
        if rel.startswith(CONFLICTS_DIR + "/"):
            return self._conflict_note(rel)
        principal_slug = gestures.inbox_principal(rel)
        if principal_slug is not None:
            try:
                source = self._principal(principal_slug, rel)
            except InvalidFact as exc:  # nobody to sign it as: say so in the note itself
                return self._draft(rel, self._ctx.config.owner, problem=exc)
            return self._draft(rel, source)
        if gestures.is_loose_note(rel):
            moved = self._moved_fact(rel)
            if moved is not None:
                return moved
            return self._draft(rel, self._ctx.config.owner, only_if_draft=True)
        return []

    def _principal(self, slug: str, rel: str) -> str:
        for identity in self._identities.list():
            if gestures.principal_slug(identity.source) == slug:
                return identity.source
        raise InvalidFact("inbox", f"{rel}: no identity in this vault has the inbox folder {slug!r}")

    def _fact_file(self, rel: str) -> list[Change]:
        record = read_record(self._ctx.root, rel, os.lstat(self._ctx.root / rel), self._ctx.trust)
        previous = self._keeper.index.fact_at(rel)
        # A vouched fact (§9.5) is as signed and immutable as a valid one.
        signed = record.status in CANDIDATE_VERDICTS
        if signed or previous is None or previous.status not in CANDIDATE_VERDICTS:
            if not signed and previous is None and self._looks_like_draft(rel):
                return self._draft(rel, self._ctx.config.owner)
            if signed and record.fact is not None \
                    and gestures.sign_ticked(dict(record.fact.extra)):
                return self._untick_valid(rel, record.fact.id)
            self._keeper.ingest([record], [])
            if signed and record.fact is not None:
                # A signed fact another process put here (an agent, a CLI run): every change is
                # committed, and one that is already committed makes an empty commit, i.e. none.
                self._commits.adopt(rel, record.sha256,
                                 f"add {record.fact.id[:12]} {record.fact.source}")
            return [Change(ChangeKind.INDEXED, rel, record.status if record.status != "valid" else "",
                           record.fact.id if record.fact else None)]
        if record.size == 0:
            # An editor saving in place truncates, then writes: restoring now would clobber that
            # write (it lands on the replaced file). The write brings its own event.
            return []
        # A signed fact was edited in place. Until the person ticks `sign` the edit is pending:
        # the file is theirs to type in, and the index (every query, recall, peer) keeps the
        # signed original. On `sign`: keep the original, sign the edit as a new fact.
        edited = self._read_text_or_none(rel)
        try:
            ticked = edited is not None and gestures.sign_ticked(gestures.parse_note(edited, rel).props)
        except FormatError as exc:
            if edited is None or not gestures.ticked_unreadable(edited):
                ticked = False
            else:  # ticked, but the properties do not read: say why in place, untick, keep
                # it pending (never committed; the index keeps the original)
                write_atomic(self._ctx.root / rel,
                             gestures.annotate_unreadable(edited, exc.reason).encode("utf-8"),
                             scratch=self._ctx.scratch)
                return [Change(ChangeKind.REJECTED, rel, f"frontmatter: {exc.reason}",
                               previous.fact.id)]
        if not ticked:
            return [Change(ChangeKind.PENDING, rel, "edit of a signed fact; tick `sign` to sign it",
                           previous.fact.id)]
        return self._amend_in_place(rel, previous)

    def _untick_valid(self, rel: str, fact_id: str) -> list[Change]:
        """`sign` ticked on a fact file that still verifies (only unsigned properties, the body
        or formatting changed): there is nothing to sign. The file is kept without its `sign`
        line and committed, so a later edit is pending again until `sign` is ticked anew."""
        text = self._read_text_or_none(rel)
        if text is None:
            return []
        data = gestures.drop_sign(text).encode("utf-8")
        write_atomic(self._ctx.root / rel, data, scratch=self._ctx.scratch)
        self._keeper.remember_write(rel, data)
        self._commits.add([(rel, data)], [f"edit {fact_id[:12]} (unsigned properties)"])
        self._keeper.index_paths([rel])
        return [Change(ChangeKind.INDEXED, rel, "nothing to sign: only unsigned properties "
                                                "changed; `sign` removed", fact_id)]

    def _looks_like_draft(self, rel: str) -> bool:
        try:
            text = decode(read_bytes(self._ctx.root / rel, rel), rel)
            return gestures.is_draft(gestures.parse_note(text, rel))
        except FormatError:
            return False

    def _amend_in_place(self, rel: str, previous: IndexedFact) -> list[Change]:
        original = previous.fact
        edited_text = self._read_text_or_none(rel)
        # The summary rendered for the original is not the person's text (it shows the old
        # value): it is left out of what the amendment carries.
        generated = gestures.summary_of(self._signed_bytes(rel, original).decode("utf-8", "replace"))
        self.restore_fact_file(rel, original)
        changes = [Change(ChangeKind.RESTORED, rel, "signed facts are immutable; the original is kept",
                          original.id)]
        try:
            note = gestures.parse_note(edited_text or "", rel)
            props = dict(note.props)
            props["source"] = self._ctx.config.owner
            props["supersedes"] = original.id
            props.pop("derived_from", None)
            claim = gestures.claim_from_draft(props, self._ctx.config.owner)
        except (FormatError, InvalidFact) as exc:
            field, reason = _field_reason(exc)
            draft_rel = self.park_draft(rel, edited_text or "", field, reason, original.id,
                                        generated)
            return [*changes, Change(ChangeKind.REJECTED, draft_rel, f"{field}: {reason}")]
        if _same_claim(claim, original):
            return changes  # only formatting or unsigned properties changed
        notes = gestures.typed_notes(note, generated)
        fact = self._facts.write_claim(claim, notes=notes,
                                       unsigned=gestures.kept_properties(note.props))
        return [*changes, Change(ChangeKind.AMENDED, str(fact_relpath(fact)),
                                 f"supersedes {original.id[:12]}", fact.id)]

    def _fact_deleted(self, rel: str) -> list[Change]:
        previous = self._keeper.index.fact_at(rel)
        if previous is None or previous.status not in CANDIDATE_VERDICTS:
            self._keeper.ingest([], [rel])
            return [Change(ChangeKind.REMOVED, rel)]
        original = previous.fact
        if previous.present and previous.path not in (None, rel):
            self._keeper.ingest([], [rel])  # the fact moved: another file holds it now
            self._commits.remove(rel, f"move {original.id[:12]} to {previous.path}")
            return [Change(ChangeKind.REMOVED, rel, f"moved to {previous.path}", original.id)]
        if is_system_source(original.source) or not previous.live:
            self.restore_fact_file(rel, original)
            why = ("system facts cannot be retracted by deleting them" if previous.live
                   else "it is no longer live (superseded, retracted or expired)")
            self._ctx.notify(f"Restored {rel}: {why}.")
            return [Change(ChangeKind.RESTORED, rel, why, original.id)]
        self.restore_fact_file(rel, original)
        retraction = self._facts.retract(original.id)
        return [Change(ChangeKind.RETRACTED, rel, f"retraction {retraction.id[:12]} by {retraction.source}",
                       retraction.id)]

    def _conflict_note(self, rel: str) -> list[Change]:
        try:
            text = decode(read_bytes(self._ctx.root / rel, rel), rel)
        except FormatError as exc:
            return self._unreadable(rel, exc)
        return resolve_from_note(rel, text, self._keeper, self._facts)  # on `sign` only

    def _draft(self, rel: str, source: str, only_if_draft: bool = False,
               problem: InvalidFact | None = None) -> list[Change]:
        try:
            text = decode(read_bytes(self._ctx.root / rel, rel), rel)
        except FormatError as exc:
            return self._unreadable(rel, exc)
        if not text:
            return []  # truncated by an editor saving in place (or not written yet): wait for it
        try:
            note = gestures.parse_note(text, rel)
        except FormatError as exc:
            if only_if_draft or gestures.needs_sign(rel):
                if not gestures.ticked_unreadable(text):
                    return []  # a person may be typing: nothing is rewritten before `sign`
                # Ticked, but the properties do not read: say why in the note, untick it.
                self._keeper.write_note(rel, gestures.annotate_unreadable(text, exc.reason),
                                        "draft rejected")
                return [Change(ChangeKind.REJECTED, rel, f"frontmatter: {exc.reason}")]
            self._keeper.write_note(rel, _error_only(text, "frontmatter", exc.reason), "draft rejected")
            return [Change(ChangeKind.REJECTED, rel, exc.reason)]
        if only_if_draft and not gestures.is_draft(note):
            return []
        if gestures.needs_sign(rel) and not gestures.sign_ticked(note.props):
            return [Change(ChangeKind.PENDING, rel, "draft; tick `sign` to sign it")]
        try:
            if problem is not None:
                raise problem
            claim = gestures.claim_from_draft(dict(note.props), source)
            if claim.source != source:
                raise InvalidFact("source", f"a draft in this folder is signed as {source}, "
                                            f"not {claim.source}")
            fact = self._facts.write_claim(claim, notes=gestures.typed_notes(note),
                                           unsigned=gestures.kept_properties(note.props))
        except InvalidFact as exc:
            # annotate() unticks `sign`: the person fixes the named field and ticks it again
            self._keeper.write_note(rel, gestures.annotate(note, exc.field, exc.reason), "draft rejected")
            return [Change(ChangeKind.REJECTED, rel, f"{exc.field}: {exc.reason}")]
        self._keeper.remove_note(rel, f"draft filed as {fact.id[:12]}")
        return [Change(ChangeKind.SIGNED, str(fact_relpath(fact)), f"from {rel}", fact.id)]

    def _moved_fact(self, rel: str) -> list[Change] | None:
        """A signed fact note dragged out of facts/ (e.g. into Projects/): a move, never a
        retraction. Facts live under facts/, so it is put back where it was indexed (its
        canonical path for a fact this vault wrote); a second copy of a fact whose file is still
        there is removed. None when ``rel`` is not a valid signed fact this vault knows."""
        try:
            text = decode(read_bytes(self._ctx.root / rel, rel), rel)
            if "signature" not in gestures.parse_note(text, rel).props:
                return None
        except FormatError:
            return None
        record = read_record(self._ctx.root, rel, os.lstat(self._ctx.root / rel), self._ctx.trust)
        if record.status not in CANDIDATE_VERDICTS or record.fact is None:
            return None
        known = self._keeper.index.get(record.fact.id)
        home = known.path if known is not None and known.path else str(fact_relpath(record.fact))
        if not home.startswith(FACTS_DIR + "/"):
            home = str(fact_relpath(record.fact))
        target = self._ctx.root / home
        if os.path.lexists(target):
            os.unlink(self._ctx.root / rel)  # a second signed copy: facts/ keeps the one
            return [Change(ChangeKind.MOVED, rel, f"a copy of {home}; removed", record.fact.id)]
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self._ctx.root / rel, target)
        self._ctx.notify(f"Moved {rel} back to {home}: signed facts live under facts/.")
        return [Change(ChangeKind.MOVED, home, f"put back from {rel}", record.fact.id)]

    def _unreadable(self, rel: str, exc: FormatError) -> list[Change]:
        """A draft, loose note or conflict note that cannot be read as text: binary, not
        UTF-8, oversized, a symlink, or not a file at all (a FIFO, a socket: never opened).
        There is nothing to annotate, so the reason goes into the file's status (never a
        silent skip)."""
        record = note_record(self._ctx.root, rel, "rejected", exc.reason)
        if record is None:
            return []  # gone meanwhile
        self._keeper.index.apply([record], [])
        return [Change(ChangeKind.REJECTED, rel, exc.reason)]

    def _read_text_or_none(self, rel: str) -> str | None:
        try:
            return decode(read_bytes(self._ctx.root / rel, rel), rel)
        except FormatError:
            return None


def find_pending(ctx: VaultContext, index: Index,
                 candidates: set[str] | None = None) -> list[PendingNote]:
    """Every person's draft, every signed fact file edited but not signed (the index still
    holds its original), and every open conflict note with a choice not signed yet, each
    marked ``ticked`` once its `sign` is: then a writer signs it. Reads only; changes nothing.

    ``candidates`` (watch/detect.py): the only paths whose files may differ from their
    indexed states; then only those fact files are looked at, not every one."""
    found: list[PendingNote] = []
    root = ctx.root
    facts = None if candidates is None else _fact_candidates(root, candidates)
    for dirpath, dirnames, filenames in os.walk(root):
        here = os.path.relpath(dirpath, root).replace(os.sep, "/")
        here = "" if here == "." else here + "/"
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")
                             and _may_hold_pending(here + d + "/")
                             and (facts is None or here + d != FACTS_DIR))
        names = sorted(filenames)
        if here == "" and facts is not None:
            names += facts  # after the vault's top files: the order of a full walk
        for name in names:
            rel = here + name
            if not name.endswith(".md"):
                continue
            if rel.startswith(FACTS_DIR + "/"):
                indexed = index.fact_at(rel)
                if indexed is None or indexed.status not in CANDIDATE_VERDICTS:
                    continue
                try:
                    st = os.lstat(root / rel)
                except OSError:
                    continue
                if index.file_stat(rel) == (st.st_size, st.st_mtime_ns):
                    continue
                if read_record(root, rel, st, ctx.trust).status not in CANDIDATE_VERDICTS:
                    found.append(PendingNote(rel, "edit", indexed.fact.id, _ticked(root, rel)))
            elif rel.startswith(CONFLICTS_DIR + "/"):
                resolution = pending_resolution(root, rel)
                if resolution is not None:
                    found.append(resolution)
            elif gestures.is_loose_note(rel) or gestures.inbox_principal(rel) is not None:
                if not gestures.needs_sign(rel):
                    continue
                try:
                    text = decode(read_bytes(root / rel, rel), rel)
                    note = gestures.parse_note(text, rel)
                except FormatError:
                    continue
                if gestures.is_draft(note):
                    error = note.props.get(gestures.ERROR_PROPERTY)
                    found.append(PendingNote(rel, "draft", ticked=gestures.sign_ticked(note.props),
                                             error=str(error) if error else None))
    return found


def _fact_candidates(root: Path, candidates: set[str]) -> list[str]:
    """The fact files among ``candidates`` (a folder stands for the files under it), sorted."""
    found: set[str] = set()
    for rel in candidates:
        if rel.endswith("/"):
            base = root / rel
            for dirpath, _dirnames, filenames in os.walk(base):
                inner = os.path.relpath(dirpath, root).replace(os.sep, "/")
                found.update(f"{inner}/{name}" for name in filenames)
        else:
            found.add(rel)
    return sorted(rel for rel in found if rel.startswith(FACTS_DIR + "/"))


def _ticked(root: Path, rel: str) -> bool:
    try:
        text = decode(read_bytes(root / rel, rel), rel)
    except FormatError:
        return False
    try:
        return gestures.sign_ticked(gestures.parse_note(text, rel).props)
    except FormatError:
        return gestures.ticked_unreadable(text)


def _may_hold_pending(folder: str) -> bool:
    if folder.startswith(gestures.INBOX_DIR + "/"):
        parts = folder.split("/")
        return len(parts) < 3 or parts[1] == "" or parts[1].startswith("user-")
    return folder.startswith((FACTS_DIR + "/", CONFLICTS_DIR + "/")) \
        or not folder.startswith(gestures.MANAGED_DIRS)


def _same_claim(claim: Claim, original: Fact) -> bool:
    mine = (claim.entity, claim.relation, claim.value, claim.confidence, claim.trust, claim.scope,
            claim.valid_until, claim.garden_id)
    theirs = (original.entity, original.relation, original.value, original.confidence,
              original.trust, original.scope, original.valid_until, original.garden_id)
    return mine == theirs


def _error_only(text: str, field: str, reason: str) -> str:
    callout = f"> [!error] stigmem could not read this note\n> **{field}**: {reason}\n\n"
    return text if callout in text else callout + text


def _field_reason(exc: FormatError | InvalidFact) -> tuple[str, str]:
    if isinstance(exc, InvalidFact):
        return exc.field, exc.reason
    return "frontmatter", exc.reason
