"""The index-backed half of ``Vault``: queries, recall, provenance, conflicts, the watcher.

``Vault`` (api/vault.py) owns identities and writes; this mixin owns everything that needs the
index. It lives apart only to keep each module readable; callers only ever see ``Vault``.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from stigmem_vault.api import indexing
from stigmem_vault.api.gestures import Change, apply_changes
from stigmem_vault.errors import AccessDenied, FormatError, InvalidFact, NotFound
from stigmem_vault.index.index import Index
from stigmem_vault.index.ingest import FileRecord
from stigmem_vault.index.query import ConflictRecord, Filters, IndexedFact, Recalled
from stigmem_vault.model.fact import Fact, Scope, TrustClass, make_claim, parse_enum
from stigmem_vault.model.identifiers import (
    is_system_source,
    normalize_identifier,
    normalize_relation,
    normalize_source,
)
from stigmem_vault.model.values import Value, ValueType, make_value, parse_cli_value
from stigmem_vault.vault import config as cfg
from stigmem_vault.vault import markdown
from stigmem_vault.vault.reading import read_regular
from stigmem_vault.vault.store import write_atomic
from stigmem_vault.vault.verify import attestation
from stigmem_vault.watch import gestures
from stigmem_vault.watch.filters import VaultFilter
from stigmem_vault.watch.scan import Progress, ScanReport, changes, index_facts, is_fact_path, note_record
from stigmem_vault.watch.watcher import Watcher

if TYPE_CHECKING:
    from stigmem_vault.api.vault import Vault

NOTICES_FILE = ".stigmem/local/notices.log"
# Properties only a signed file has: a parked edit drops them so it reads as a fresh draft.
_SIGNED_ONLY = frozenset({"format", "id", "hlc", "timestamp", "signer", "signature",
                          "derived_from"})


@dataclass(frozen=True, slots=True)
class Provenance:
    item: IndexedFact
    file_status: str | None
    file_reason: str | None
    signer_sources: list[str]
    replaced: list[IndexedFact]  # older facts this one replaced (its supersedes chain)
    replaced_by: list[IndexedFact]  # newer facts that replace it, oldest first
    derived_from: list[tuple[str, IndexedFact | None]]
    derived_by: list[str]
    commits: list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Neighbor:
    entity: str
    relation: str
    hops: int
    confidence: float
    path: list[str]


class MemoryMixin:
    """Requires the attributes Vault sets up (root, config, trust, schemas, git, ...)."""

    _index: Index | None
    _own_writes: dict[str, str | None]
    _own_lock: threading.Lock

    # ------------------------------------------------------------- the index

    @property
    def index(self: Vault) -> Index:  # type: ignore[misc]
        """The vault's index, opened (and brought up to date) on first use."""
        if self._index is None:
            self._index = indexing.open_index(self)
            self.refresh()
        return self._index

    def refresh(self: Vault, progress: Progress | None = None) -> ScanReport:  # type: ignore[misc]
        """Bring the index in step with the files; carry out gestures made while nobody watched."""
        if self._index is None:
            self._index = indexing.open_index(self)
        index = self._index
        if self.git is None or not self.writable:
            return self._index_only(index, progress)
        with self.git.locked():
            found = changes(self.root, index)
            gesture_paths: list[str] = []
            plain: list = []
            # Paths whose file held a valid fact when last indexed: one query, not one per path.
            was_valid = index.valid_fact_paths(
                [rel for rel, _st in found.facts] + [rel for rel in found.removed if is_fact_path(rel)])
            for rel, st in found.facts:
                (gesture_paths.append(rel) if rel in was_valid else plain.append((rel, st)))
            removed: list[str] = []
            for rel in found.removed:
                (gesture_paths.append(rel) if is_fact_path(rel) and rel in was_valid
                 else removed.append(rel))
            report = index_facts(self.root, index, self.trust, plain, removed, progress)
            self._adopt_untracked(index, [rel for rel, _st in plain])
            done = apply_changes(self, gesture_paths + found.notes)
            report.changes.extend(done)
            for change in done:
                if change.kind == "rejected":
                    report.problems.append((change.path, "rejected", change.detail))
            # Record every note as seen (a draft that was filed is gone), so the next scan of an
            # unchanged vault does not read and parse each conflict or loose note again.
            # (Not over a state the processing itself recorded, e.g. a rejected draft's reason.)
            index.apply([r for r in (note_record(self.root, n) for n in found.notes)
                         if r and index.file_stat(r.path) != (r.size, r.mtime_ns)], [])
            indexing.sync_conflict_notes(self, index, report.dirty_keys)
        report.scanned, report.unchanged = found.scanned, found.unchanged
        return report

    def _adopt_untracked(self: Vault, index: Index, rels: list[str]) -> None:  # type: ignore[misc]
        """Valid signed facts dropped in while nobody watched (an agent writing files) are
        committed like any other write; anything else stays out of git."""
        if not rels or self.git is None:
            return
        tracked = self.git.repo.index
        tracked.read()
        with self._lock:
            for rel in rels:
                if rel in tracked:  # checked first: most files are tracked, and this is cheaper
                    continue
                state = index.file_state(rel)
                if state is not None and state[0] == "valid":
                    self._queue(rel, f"adopt {rel}")

    def _index_only(self: Vault, index: Index, progress: Progress | None) -> ScanReport:  # type: ignore[misc]
        found = changes(self.root, index)
        report = index_facts(self.root, index, self.trust, found.facts, found.removed, progress)
        index.apply([r for r in (note_record(self.root, n) for n in found.notes) if r], [])
        report.scanned, report.unchanged = found.scanned, found.unchanged
        return report

    def reindex(self: Vault, progress: Progress | None = None) -> ScanReport:  # type: ignore[misc]
        """Throw the index away and build it again from the files."""
        if self._index is not None:
            self._index.close()
            self._index = None
        for suffix in ("", "-wal", "-shm"):
            Path(f"{indexing.index_path(self)}{suffix}").unlink(missing_ok=True)
        self._index = indexing.open_index(self)
        return self.refresh(progress)

    def reload_config(self: Vault) -> ScanReport | None:  # type: ignore[misc]
        """Re-read the trust store and schemas (changed on disk); re-index if they matter.

        Returns the report of the re-index (with the gestures its scan carried out), if any."""
        from stigmem_vault.vault.trust import TrustStore

        self.trust = TrustStore.load(self.root, self.config.owner_keys())
        self.schemas = cfg.load_schemas(self.root)
        if self._index is not None and self._index.db.fingerprint != indexing.fingerprint(self):
            self._index.close()
            self._index = None
            self._index = indexing.open_index(self)
            return self.refresh()
        return None

    def index_paths(self: Vault, rels: list[str]) -> list[Change]:  # type: ignore[misc]
        """(Re)index fact files as they are now, without any gesture."""
        from stigmem_vault.watch.scan import read_record

        records, removed = [], []
        for rel in rels:
            try:
                records.append(read_record(self.root, rel, os.lstat(self.root / rel), self.trust))
            except FileNotFoundError:
                removed.append(rel)
        self.ingest(records, removed)
        return [Change("indexed", r.path, r.status, r.fact.id if r.fact else None) for r in records]

    def ingest(self: Vault, records: list[FileRecord], removed: list[str]) -> None:  # type: ignore[misc]
        """Apply file records to the index and refresh the conflict notes they touch."""
        dirty = self.index.apply(records, removed)
        indexing.sync_conflict_notes(self, self.index, dirty)

    def _after_writes(self: Vault, written: list[tuple[str, bytes, Fact]]) -> None:  # type: ignore[misc]
        """Index facts this process just wrote (one transaction), so the next query sees them."""
        records = []
        for rel, data, fact in written:
            digest = hashlib.sha256(data).hexdigest()
            st = os.stat(self.root / rel)
            with self._own_lock:
                self._own_writes[rel] = digest
            if self._index is not None:
                verdict, reason = attestation(fact, self.trust)  # we signed it: binding only
                records.append(FileRecord(rel, st.st_size, st.st_mtime_ns, digest,
                                          verdict.value, reason, fact))
        if self._index is not None:
            dirty = self._index.apply(records, [])
            indexing.sync_conflict_notes(self, self._index, dirty)

    # ------------------------------------------------------------- own writes

    def _remember_write(self, rel: str, data: bytes | None) -> None:
        with self._own_lock:
            self._own_writes[rel] = None if data is None else hashlib.sha256(data).hexdigest()

    def _indexed_as_is(self: Vault, rel: str) -> bool:  # type: ignore[misc]
        """True if the index holds the file ``rel`` with its current size and mtime: the
        check apply_changes makes first, made without git's lock (it only reads)."""
        if rel.endswith("/") or rel.startswith(VaultFilter.config_prefixes):
            return False
        try:
            st = os.lstat(self.root / rel)
        except OSError:
            return False
        return self.index.file_stat(rel) == (st.st_size, st.st_mtime_ns)

    def is_own_write(self: Vault, rel: str) -> bool:  # type: ignore[misc]
        """True (once) if ``rel`` is exactly as this process last wrote or removed it."""
        with self._own_lock:
            if rel not in self._own_writes:
                return False
            expected = self._own_writes[rel]
        try:
            current = hashlib.sha256(read_regular(self.root / rel, rel)).hexdigest()
        except FormatError:  # gone, or not a regular file any more (a FIFO is never opened)
            current = None
        if current == expected:
            return True
        with self._own_lock:
            self._own_writes.pop(rel, None)  # someone changed it after us: a real change
        return False

    def write_note(self: Vault, rel: str, text: str, note: str) -> bool:  # type: ignore[misc]
        """Write a generated or annotated note (not a fact); False if it was already so."""
        path = self.root / rel
        data = text.encode("utf-8")
        try:  # (a larger file, or one that is not a regular file, is not it: replace it)
            if read_regular(path, rel, limit=len(data)) == data:
                return False
        except FormatError:
            pass
        self._writer()
        write_atomic(path, data, scratch=self.scratch)
        self._remember_write(rel, data)
        self._queue(rel, note)
        if self._index is not None:
            record = note_record(self.root, rel)
            if record:
                self._index.apply([record], [])
        return True

    def remove_note(self: Vault, rel: str, note: str) -> None:  # type: ignore[misc]
        self._writer()
        (self.root / rel).unlink(missing_ok=True)
        self._remember_write(rel, None)
        self._queue_removal(rel, note)
        if self._index is not None:
            self._index.apply([], [rel])

    def restore_fact_file(self: Vault, rel: str, fact: Fact) -> None:  # type: ignore[misc]
        """Put a signed fact back where it was (committed bytes if any, else re-rendered)."""
        assert self.git is not None
        data = self.git.blob_at_head(rel) or markdown.render(fact).encode("utf-8")
        write_atomic(self.root / rel, data, scratch=self.scratch)
        self._remember_write(rel, data)
        self._queue(rel, f"restore {fact.id[:12]}")
        self.index_paths([rel])

    def park_draft(self: Vault, rel: str, text: str, field: str, reason: str,  # type: ignore[misc]
                   supersedes: str | None = None) -> str:
        """Keep an edit that could not be signed as an annotated draft in the owner's inbox.

        The draft is the owner's amendment of ``supersedes``: once the human fixes the named
        field and saves, it is signed like any inbox draft and replaces the original.
        """
        slug = gestures.principal_slug(self.config.owner)
        stem = rel.rsplit("/", 1)[-1][:-3]
        draft_rel = f"{gestures.INBOX_DIR}/{slug}/{stem}-edit.md"
        try:
            note = gestures.parse_note(text, rel)
            props = {k: v for k, v in note.props.items() if k not in _SIGNED_ONLY}
            props["source"] = self.config.owner
            if supersedes is not None:
                props["supersedes"] = supersedes
            annotated = gestures.annotate(gestures.Note(props, note.body), field, reason)
        except Exception:
            annotated = f"> [!error] stigmem\n> **{field}**: {reason}\n\n" + text
        self.write_note(draft_rel, annotated, "edit parked as draft")
        return draft_rel

    def notify(self: Vault, message: str) -> None:  # type: ignore[misc]
        """Record a notice for the human (shown by `stigmem status`)."""
        line = f"{datetime.now(UTC).isoformat(timespec='seconds')} {message}\n"
        path = self.root / NOTICES_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(line)

    def notices(self: Vault, limit: int = 20) -> list[str]:  # type: ignore[misc]
        try:
            lines = (self.root / NOTICES_FILE).read_text("utf-8").splitlines()
        except OSError:
            return []
        return lines[-limit:]

    # ------------------------------------------------------------- queries

    def query(self: Vault, *, entity: str | None = None, relation: str | None = None,  # type: ignore[misc]
              source: str | None = None, scope: str | list[str] | None = None,
              trust: str | list[str] | None = None, value_type: str | None = None,
              signer: str | None = None, supersedes: str | None = None,
              min_confidence: float | None = None, include_superseded: bool = False,
              include_expired: bool = False, include_contradicted: bool = True,
              include_unverified: bool = False, as_of: str | None = None,
              limit: int | None = None, offset: int = 0) -> list[IndexedFact]:
        """Facts from the index; by default only live ones (not superseded, retracted or expired)."""
        return self.index.query(self.filters(
            entity=entity, relation=relation, source=source, scope=scope, trust=trust,
            value_type=value_type, signer=signer, supersedes=supersedes,
            min_confidence=min_confidence, include_superseded=include_superseded,
            include_expired=include_expired, include_contradicted=include_contradicted,
            include_unverified=include_unverified, as_of=as_of, limit=limit, offset=offset))

    def filters(self, *, entity: str | None = None, relation: str | None = None,
                source: str | None = None, scope: str | list[str] | None = None,
                trust: str | list[str] | None = None, value_type: str | None = None,
                min_confidence: float | None = None, as_of: str | None = None,
                **flags: object) -> Filters:
        """Normalize user-given filter values exactly as the fields themselves are normalized."""
        scopes = [scope] if isinstance(scope, str) else scope
        trusts = [trust] if isinstance(trust, str) else trust
        if min_confidence is not None and not 0.0 <= float(min_confidence) <= 1.0:
            raise InvalidFact("min_confidence", f"{min_confidence!r} is outside 0.0-1.0")
        if value_type is not None:
            value_type = parse_enum(ValueType, value_type, "value_type").value  # String -> string
        if as_of is not None:
            from stigmem_vault.model.hlc import HLC

            HLC.parse(as_of, "as_of")
        return Filters(
            entity=normalize_identifier(entity, "entity") if entity else None,
            relation=normalize_relation(relation) if relation else None,
            source=normalize_source(source) if source else None,
            scopes=tuple(parse_enum(Scope, s, "scope").value for s in scopes) if scopes else None,
            trust=tuple(parse_enum(TrustClass, t, "trust").value for t in trusts) if trusts else None,
            value_type=value_type, min_confidence=min_confidence, as_of=as_of,
            **flags)  # type: ignore[arg-type]

    def recall(self: Vault, text: str, *, limit: int = 10, scope: str | list[str] | None = None,  # type: ignore[misc]
               min_confidence: float | None = None, trust: str | list[str] | None = None,
               include_contradicted: bool = True,
               include_unattested: bool = False) -> list[Recalled]:
        """Ranked recall over live facts: BM25 blended with recency and trust, times confidence."""
        if not text.strip():
            raise InvalidFact("query", "must not be empty")
        filters = self.filters(scope=scope, min_confidence=min_confidence, trust=trust,
                               include_contradicted=include_contradicted,
                               include_unattested=include_unattested)
        return self.index.recall(text, filters, limit)

    def provenance(self: Vault, fact_id: str) -> Provenance:  # type: ignore[misc]
        item = self.lookup(fact_id)
        index = self.index
        replaced: list[IndexedFact] = []
        cursor = item
        while cursor.fact.supersedes and len(replaced) < 100:
            older = index.get(cursor.fact.supersedes)
            if older is None:
                break
            replaced.append(older)
            cursor = older
        replaced_by: list[IndexedFact] = []
        cursor = item
        while cursor.superseded_by and len(replaced_by) < 100:
            newer = index.get(cursor.superseded_by)
            if newer is None:
                break
            replaced_by.append(newer)
            cursor = newer
        state = index.file_state(item.path) if item.path else None
        commits = self.git.log_for(item.path) if self.git is not None and item.path else []
        return Provenance(
            item, state[0] if state else None, state[1] if state else None,
            sorted(self.trust.sources_for(item.fact.signer)), replaced, replaced_by,
            [(parent, index.get(parent)) for parent in item.fact.derived_from],
            index.derived_children(item.fact.id), commits)

    def lookup(self: Vault, fact_id: str) -> IndexedFact:  # type: ignore[misc]
        """The indexed fact with this id, or an unambiguous prefix of 8+ hex digits."""
        wanted = fact_id.strip().lower()
        if len(wanted) < 8 or len(wanted) > 64 or any(c not in "0123456789abcdef" for c in wanted):
            raise InvalidFact("id", f"{fact_id!r} is not a fact id or a prefix of 8+ hex digits")
        ids = [wanted] if len(wanted) == 64 else self.index.ids_with_prefix(wanted)
        items = [item for item in (self.index.get(i) for i in ids) if item is not None]
        if not items:
            raise NotFound("fact", fact_id, "list facts with `stigmem list`")
        if len(items) > 1:
            raise InvalidFact("id", f"prefix {fact_id!r} is ambiguous: "
                                    + ", ".join(i.fact.id[:16] for i in items))
        return items[0]

    def neighbors(self: Vault, entity: str, *, depth: int = 1,  # type: ignore[misc]
                  scopes: list[str] | None = None, relation_prefix: str | None = None,
                  min_confidence: float = 0.0) -> list[Neighbor]:
        """Entities reachable through live ``ref`` facts (either direction), breadth first."""
        if not 1 <= depth <= 3:
            raise InvalidFact("depth", f"{depth} is outside 1-3")
        start = normalize_identifier(entity, "entity")
        allowed = tuple(self.filters(scope=scopes).scopes or tuple(s.value for s in Scope))
        seen = {start}
        frontier = [(start, [start])]
        found: list[Neighbor] = []
        for hops in range(1, depth + 1):
            paths = dict(frontier)
            edges = self.index.ref_edges(list(paths), allowed, min_confidence)
            frontier = []
            for source_entity, relation, target, confidence in edges:
                if relation_prefix and not relation.startswith(relation_prefix):
                    continue
                here, there = ((source_entity, target) if source_entity in paths
                               else (target, source_entity))
                if there in seen or here not in paths:
                    continue
                seen.add(there)
                path = [*paths[here], there]
                found.append(Neighbor(there, relation, hops, confidence, path))
                frontier.append((there, path))
        return found

    # ------------------------------------------------------------- conflicts

    def conflicts(self: Vault, status: str | None = None) -> list[ConflictRecord]:  # type: ignore[misc]
        if status is not None and status not in ("open", "resolved", "obsolete"):
            raise InvalidFact("status", f"{status!r} is not one of: open, resolved, obsolete")
        return self.index.conflicts(status)

    def resolve(self: Vault, conflict_id: str, *, winner: str | None = None,  # type: ignore[misc]
                value: object = None, source: str | None = None) -> Fact:
        """Resolve an open conflict with a signed fact (by the owner unless ``source`` says)."""
        record = self.index.conflict(conflict_id.strip().lower())
        if record is None:
            raise NotFound("conflict", conflict_id, "list them with `stigmem conflicts`")
        if record.status != "open":
            raise InvalidFact("conflict", f"{record.id} is already {record.status}")
        if record.fact_a is None or record.fact_b is None:
            raise InvalidFact("conflict", f"{record.id} refers to facts the index no longer has")
        a, b = record.fact_a.fact, record.fact_b.fact
        author = source or self.config.owner
        if author != self.config.owner and not is_system_source(author):
            raise AccessDenied("resolution_requires_owner",
                               f"only the vault owner ({self.config.owner}) can resolve a conflict "
                               f"between other authors; {author} cannot")
        if (winner is None) == (value is None):
            raise InvalidFact("winner", "give exactly one of a winner (a, b or a fact id) or a value")
        if winner is not None:
            choice = winner.strip().lower()
            chosen = (a if choice in ("a", a.id) or (len(choice) >= 8 and a.id.startswith(choice))
                      else b if choice in ("b", b.id) or (len(choice) >= 8 and b.id.startswith(choice))
                      else None)
            if chosen is None:
                raise InvalidFact("winner", f"{winner!r} is neither a, b, {a.id[:12]} nor {b.id[:12]}")
            typed: Value = chosen.value
        else:
            typed = _typed_like(value, a.value)
        claim = make_claim(entity=record.entity, relation=record.relation, value=typed,
                           source=source or self.config.owner, confidence=1.0,
                           trust=TrustClass.OBSERVED, scope=record.scope,
                           derived_from=[a.id, b.id])
        return self.write_claim(claim)

    # ------------------------------------------------------------- the watcher

    def watch(self: Vault, on_change: Callable[[list[Change]], None] | None = None,  # type: ignore[misc]
              on_error: Callable[[BaseException], None] | None = None) -> Watcher:
        """A started watcher that turns file changes into index updates and signed facts."""
        _ = self.index  # catch up first: the scan finds what changed while nobody watched

        def handle(paths: list[str]) -> None:
            assert self.git is not None or not self.writable
            # Files already indexed as they are now (this process's own new fact files, or
            # another writer's that it indexed itself): nothing to do, and no reason to wait
            # for git's lock, which a commit may hold for a while, to find that out.
            paths = [p for p in paths if not self._indexed_as_is(p)]
            if not paths:
                return
            if self.git is not None and self.writable:
                with self.git.locked():
                    done = apply_changes(self, paths)
            else:
                done = self.index_paths([p for p in paths if is_fact_path(p)])
            if on_change is not None and done:
                on_change(done)

        watcher = Watcher(self.root, handle, on_error or (lambda exc: self.notify(f"watcher: {exc}")))
        watcher.start()
        return watcher


def _typed_like(value: object, like: Value) -> Value:
    """A resolution value typed like the conflicting facts (text typed in a note is coerced)."""
    if isinstance(value, Value):
        return value
    if isinstance(value, str) and like.type.value in ("number", "boolean", "null"):
        value = parse_cli_value(like.type.value, value)
    return make_value(like.type.value, value)

