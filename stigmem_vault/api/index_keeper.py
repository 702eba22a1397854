"""Keeping the index: opening it, bringing it in step with the files, the notes the vault
writes from it (conflict notes), and every query answered from it.

The index's derived state depends on the owner, the trust store and the relation
cardinalities as well as on the facts, so those go into its fingerprint: change any of them
and the index is rebuilt on the next open.

A writer's scan also carries out gestures (an edited or deleted signed fact, a draft): the
façade hands the keeper a ``carry_out`` callable for that (api/gestures.py), so the keeper
itself never signs anything.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from stigmem_vault.api.commits import CommitQueue
from stigmem_vault.api.context import VaultContext
from stigmem_vault.api.results import Change, ChangeKind, Neighbor, Provenance
from stigmem_vault.errors import InvalidFact, NotFound
from stigmem_vault.index.conflicts import Key
from stigmem_vault.index.db import INDEX_FILE
from stigmem_vault.index.index import Index
from stigmem_vault.index.ingest import FileRecord
from stigmem_vault.index.query import ConflictRecord, Filters, IndexedFact, Recalled, now_ms
from stigmem_vault.index.recall import resolved_weights
from stigmem_vault.model.fact import Fact, Scope, TrustClass, parse_enum
from stigmem_vault.model.hlc import HLC, as_of_stamp
from stigmem_vault.model.identifiers import normalize_identifier, normalize_relation, normalize_source
from stigmem_vault.model.relations import Cardinality, RelationSchema
from stigmem_vault.model.values import ValueType
from stigmem_vault.vault.git_state import blob_id
from stigmem_vault.vault.layout import ENTITIES_DIR, entity_note_relpath
from stigmem_vault.vault.notes import (
    HISTORY_LIMIT,
    ConflictView,
    EntityFact,
    EntityView,
    choosing,
    conflict_note_relpath,
    render_conflict,
    render_entity,
)
from stigmem_vault.vault.store import write_atomic
from stigmem_vault.vault.verify import CANDIDATE_VERDICTS, attestation, vouched_by
from stigmem_vault.watch.detect import Watermark, candidates, detect, head_for
from stigmem_vault.watch.filters import VaultFilter
from stigmem_vault.watch.scan import (
    Changes,
    Progress,
    ScanReport,
    index_facts,
    is_fact_path,
    note_record,
    read_record,
)

_STALE_NOTE = re.compile(r"[0-9a-f]{12}\.md")  # a conflict note's id part and suffix
# Bump when the rules that derive liveness/conflicts change: old indexes then rebuild.
RULES_VERSION = "rules/3"

ENTITY_NOTE_DELAY = 1.0  # seconds a write's entity notes wait, so a burst renders each once
# Under a steady stream of writes, the timer waits this many times as long as its last
# rendering took (at most ENTITY_NOTE_MAX_DELAY), so notes take about a tenth of the time.
ENTITY_NOTE_BACKOFF = 10.0
ENTITY_NOTE_MAX_DELAY = 30.0
ENTITY_LIVE_LIMIT = 500  # live facts an entity note lists (an entity rarely has more)

# How long (seconds) the paths a scan looked at stand for what may have changed since it: a
# command reading pending edits right after the scan that opened its index.
FRESH_SCAN = 1.0

# Own writes remembered so the watcher can tell them from other programs' edits: the most
# recent ones only (a node lives for months). The watcher handles a write's events within
# seconds, and one forgotten sooner is only read again: a fact file the index holds as it is
# is passed over by its stat, and a note this process rendered holds no gesture.
OWN_WRITES_KEPT = 100_000

CarryOut = Callable[[list[str]], list[Change]]  # gesture paths -> what was done


# A recall as_of may run ahead of this clock by this much (another machine's clock, a
# rounding): beyond, it asks about the future, which no index knows.
AS_OF_FUTURE_MS = 5_000


class IndexKeeper:
    """The vault's index and everything read from it."""

    def __init__(self, ctx: VaultContext, commits: CommitQueue | None) -> None:
        self._ctx = ctx
        self._commits = commits
        self._index: Index | None = None
        self._stale = False  # opened for a write, not yet brought up to date
        self._caught_up = False  # a scan of this process has brought the index up to date
        self._open_lock = threading.Lock()  # concurrent first writes open it once
        self._own_writes: dict[str, str | None] = {}  # path -> sha256 of what we last wrote
        self._own_lock = threading.Lock()
        self._opened: list[Change] = []  # conflicts opened since take_opened(), for the log
        # Signed fact files the last scan left awaiting a writer (their originals indexed).
        self._awaiting: list[str] = []
        # (when, paths) the last scan looked at through git: see pending_candidates.
        self._looked: tuple[float, list[str]] | None = None
        self.carry_out: CarryOut | None = None  # set by the façade for a writer
        # Entities whose notes a write made stale, regenerated off the write path (a timer,
        # flush, close): a burst of writes to one entity re-renders its note once.
        self._dirty_entities: set[str] = set()
        self._dirty_lock = threading.Lock()
        # Held for a whole rendering: a flush (or close) waits for one the timer is in the
        # middle of, so its notes are written before the caller commits.
        self._render_lock = threading.Lock()
        self._dirty_timer: threading.Timer | None = None
        self._note_delay = ENTITY_NOTE_DELAY

    # ------------------------------------------------------------- the index itself

    @property
    def index(self) -> Index:
        """The vault's index, opened (and brought up to date) on first use."""
        if self._index is None or self._stale:
            self.refresh()
        assert self._index is not None
        return self._index

    def _open(self) -> Index:
        with self._open_lock:
            if self._index is None:
                ctx = self._ctx
                self._index = Index(self.path(), owner=ctx.config.owner,
                                    multi_relations=self._multi(), fingerprint=self.fingerprint())
            return self._index

    def path(self) -> Path:
        """Where the index lives: inside the vault (``.stigmem/index/``, this clone's cache,
        never committed), except for a copy without a node identity, whose index goes to the
        user's cache so that reading someone else's vault never writes into it."""
        ctx = self._ctx
        if ctx.node is not None:
            return ctx.root / INDEX_FILE
        digest = hashlib.sha256(str(ctx.root).encode()).hexdigest()[:16]
        return ctx.keys.home / "cache" / digest / "index.sqlite3"

    def fingerprint(self) -> str:
        ctx = self._ctx
        state = {
            "rules": RULES_VERSION,
            "owner": ctx.config.owner,
            "owner_key": ctx.config.owner_key,
            "bindings": sorted((b.source, b.key, b.signature) for b in ctx.trust.bindings()),
            "multi": sorted(self._multi()),
        }
        return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()

    @property
    def schemas(self) -> dict[str, RelationSchema]:
        """The vault's relation schemas, by relation (replaced when they change on disk)."""
        return self._ctx.schemas

    def _multi(self) -> frozenset[str]:
        return frozenset(r for r, s in self._ctx.schemas.items()
                         if s.cardinality is Cardinality.MULTI)

    def close(self) -> None:
        with self._dirty_lock:
            timer, self._dirty_timer = self._dirty_timer, None
        if timer is not None:
            timer.cancel()
        if self._index is not None:
            self._index.close()
            self._index = None

    # ------------------------------------------------------------- scans

    def refresh(self, progress: Progress | None = None, folders: Iterable[str] = ()) -> ScanReport:
        """Bring the index in step with the files; a writer also carries out the gestures
        made while nobody watched (an edited or deleted signed fact, a draft). Without
        ``progress``, the vault's progress hook hears about it as "indexing". ``folders``
        (ending with "/") are walked whole (watch/detect.py)."""
        hook = self._ctx.progress
        if progress is None and hook is not None:
            def progress(done: int, total: int) -> None:
                hook("indexing", done, total)
        index = self._open()
        self._stale = False
        ctx = self._ctx
        if ctx.node is None:  # a copy without a writer: files are what they are
            return self._index_only(index, progress, folders=folders)
        if self._commits is None or self.carry_out is None or ctx.git is None:
            return self._index_only(index, progress, keep_signed=True,  # opened read-only
                                    folders=folders)
        with ctx.git.locked():
            found, watermark = detect(ctx.root, index, folders)
            gesture_paths, plain, removed = _split_gestures(index, found)
            report = index_facts(ctx.root, index, ctx.trust, plain, removed, progress,
                                 committed=ctx.git.blob_at_head, head=head_for(watermark))
            self._adopt_untracked(index, [rel for rel, _st in plain])
            # A pending edit found by a scan from scratch is a gesture too (ticked: signed now).
            done = self.carry_out(gesture_paths + report.awaiting + found.notes)
            report.changes.extend(done)
            for change in done:
                if change.kind is ChangeKind.REJECTED:
                    report.problems.append((change.path, "rejected", change.detail))
            # Record every note as seen (a draft that was filed is gone), so the next scan of an
            # unchanged vault does not read and parse each conflict or loose note again.
            # (Not over a state the processing itself recorded, e.g. a rejected draft's reason.)
            index.apply([r for r in (note_record(ctx.root, n) for n in found.notes)
                         if r and index.file_stat(r.path) != (r.size, r.mtime_ns)], [])
            self.sync_notes(report.dirty_keys)
            self._settle(index, watermark)
        report.scanned, report.unchanged = found.scanned, found.unchanged
        self._caught_up = True
        return report

    def _settle(self, index: Index, watermark: Watermark | None) -> None:
        if watermark is not None:
            watermark.settle(index)
        paths = None if watermark is None else watermark.paths
        self._looked = None if paths is None else (time.monotonic(), paths)

    def pending_candidates(self) -> set[str] | None:
        """The paths whose files may differ from their indexed states (watch/detect.py), for
        finding pending edits: those the scan that just ran looked at (a read-only command
        that opened the index a moment ago does not ask git twice), else git's answer now."""
        index = self.index
        looked, self._looked = self._looked, None
        # Only a read-only open (one command, no watcher, no writes of its own) may reuse its
        # scan: in a node, files change between any scan and a later request (the scan's
        # paths would miss an edit made since: a race a client saw).
        if looked is not None and self._commits is None \
                and time.monotonic() - looked[0] < FRESH_SCAN:
            return set(looked[1])
        return candidates(self._ctx.root, index)

    def fact_files_by_scope(self) -> dict[str, int]:
        """How many fact files each ``facts/<scope>/`` holds, from the index brought up to
        date: a deleted signed fact a read-only open keeps indexed is not counted."""
        counts = self.index.fact_files_by_scope()
        for rel in self._awaiting:
            if is_fact_path(rel) and not os.path.lexists(self._ctx.root / rel):
                scope = rel.split("/", 2)[1]
                counts[scope] = counts.get(scope, 0) - 1
        return counts

    def catch_up(self) -> list[Change]:
        """Bring the index up to date if no scan of this process has yet (first use, opened
        for a write or as it is), and return what that scan carried out (the gestures made
        while nobody watched)."""
        if self._caught_up and self._index is not None and not self._stale:
            return []
        return self.refresh().changes + self.take_opened()

    def open_as_is(self) -> bool:
        """Open the index without a scan, to be read as it is while a scan runs (a node
        starting); False if it is new, rebuilt or never scanned (then it is left to a scan)."""
        index = self._open()
        if index.db.rebuilt or index.git_tree() is None:
            self._stale = True  # whoever reads it first scans first
            return False
        return True

    def _adopt_untracked(self, index: Index, rels: list[str]) -> None:
        """Valid signed facts dropped in while nobody watched (an agent writing files) are
        committed like any other write, with the very bytes that verified; anything else
        stays out of git."""
        git = self._ctx.git
        if not rels or git is None or self._commits is None:
            return
        with git.git_index.holding() as tracked:  # with this writer's entries not yet written
            untracked = [rel for rel in rels if rel not in tracked]  # most files are tracked
        for rel in untracked:
            state = index.file_state(rel)
            if state is not None and state[0] in CANDIDATE_VERDICTS:
                self._commits.adopt(rel, index.file_sha256(rel), f"adopt {rel}")

    def _index_only(self, index: Index, progress: Progress | None,
                    keep_signed: bool = False, folders: Iterable[str] = ()) -> ScanReport:
        """Index the files as they are. With ``keep_signed`` (a writer's vault opened
        read-only), an edited or deleted signed fact keeps its indexed original: the edit is
        a gesture that only a writer carries out (as an amendment or a retraction), so a
        read shows the same facts before and after, whatever the timing."""
        root = self._ctx.root
        found, watermark = detect(root, index, folders)
        facts, removed = found.facts, found.removed
        awaiting: list[str] = []
        if keep_signed:
            awaiting, facts, removed = _split_gestures(index, found)
        # A writer's vault read: new fact files are indexed, but as seen by no writer, and
        # notes (drafts) are not recorded, so the next writer's scan still commits the one
        # and files the other, as it would have without this read.
        git = self._ctx.git
        report = index_facts(root, index, self._ctx.trust, facts, removed, progress,
                             unseen=keep_signed,
                             committed=git.blob_at_head if keep_signed and git else None,
                             head=head_for(watermark))
        if not keep_signed:
            index.apply([r for r in (note_record(root, n) for n in found.notes) if r], [])
        self._settle(index, watermark)
        report.scanned, report.unchanged = found.scanned, found.unchanged
        report.awaiting = awaiting + report.awaiting
        self._awaiting = report.awaiting
        self._caught_up = True
        return report

    def reindex(self, progress: Progress | None = None) -> ScanReport:
        """Throw the index away and build it again from the files."""
        self.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path()}{suffix}").unlink(missing_ok=True)
        return self.refresh(progress)

    def config_changed(self) -> ScanReport | None:
        """The trust store or schemas changed: rebuild if the index depends on what changed.

        Returns the report of the re-index (with the gestures its scan carried out), if any."""
        if self._index is not None and self._index.db.fingerprint != self.fingerprint():
            # Not closed here: a reader on another thread (a node's request) may hold the old
            # index between taking it and querying it. It reads the same file, consistently
            # (WAL snapshots), while the new one rebuilds it, and closes once nobody holds it.
            self._index = None
            return self.refresh()
        return None

    def index_paths(self, rels: list[str]) -> list[Change]:
        """(Re)index fact files as they are now, without any gesture."""
        records, removed = [], []
        for rel in rels:
            try:
                records.append(read_record(self._ctx.root, rel, os.lstat(self._ctx.root / rel),
                                           self._ctx.trust))
            except FileNotFoundError:
                removed.append(rel)
        self.ingest(records, removed)
        return [Change(ChangeKind.INDEXED, r.path, r.status, r.fact_id)
                for r in records]

    def ingest(self, records: list[FileRecord], removed: list[str]) -> None:
        """Apply file records to the index and refresh the conflict notes they touch."""
        self.sync_notes(self.index.apply(records, removed))

    def record_written(self, written: list[tuple[str, bytes, Fact]]) -> None:
        """Index facts this process just wrote (one transaction), so the next query sees them.

        Every write is indexed, even by a process that has not read the index yet (a one-shot
        assert): a later edit of the file is then an amendment, whatever the timing. The rest
        of the vault is brought up to date on first read, not now."""
        if self._index is None:
            self._open()
            self._stale = True
        assert self._index is not None
        records = []
        for rel, data, fact in written:
            digest = hashlib.sha256(data).hexdigest()
            st = os.stat(self._ctx.root / rel)
            self._remember(rel, digest)
            verdict, reason = attestation(fact, self._ctx.trust)  # we signed it: binding only
            records.append(FileRecord(rel, st.st_size, st.st_mtime_ns, digest,
                                      verdict.value, reason, fact,
                                      vouched_by(verdict, fact, self._ctx.trust), blob_id(data)))
        keys = self._index.apply(records, [])
        self.sync_conflict_notes(keys)
        self.defer_entity_notes(keys)  # not on the write path: see flush_entity_notes

    # ------------------------------------------------------------- own writes

    def remember_write(self, rel: str, data: bytes | None) -> None:
        self._remember(rel, None if data is None else hashlib.sha256(data).hexdigest())

    def _remember(self, rel: str, digest: str | None) -> None:
        with self._own_lock:
            own = self._own_writes
            own.pop(rel, None)  # to the end: the dict's order is the order of the last writes
            own[rel] = digest
            while len(own) > OWN_WRITES_KEPT:
                del own[next(iter(own))]

    def indexed_as_is(self, rel: str) -> bool:
        """True if the index holds the file ``rel`` with its current size and mtime: the
        check a gesture makes first, made without git's lock (it only reads)."""
        if rel.endswith("/") or rel.startswith(VaultFilter.config_prefixes):
            return False
        try:
            st = os.lstat(self._ctx.root / rel)
        except OSError:
            return False
        return self.index.file_stat(rel) == (st.st_size, st.st_mtime_ns)

    def is_own_write(self, rel: str) -> bool:
        """True (once) if ``rel`` is exactly as this process last wrote or removed it."""
        with self._own_lock:
            if rel not in self._own_writes:
                return False
            expected = self._own_writes[rel]
        try:
            current = hashlib.sha256((self._ctx.root / rel).read_bytes()).hexdigest()
        except OSError:
            current = None
        if current == expected:
            return True
        with self._own_lock:
            self._own_writes.pop(rel, None)  # someone changed it after us: a real change
        return False

    # ------------------------------------------------------------- notes the vault writes

    def write_note(self, rel: str, text: str, note: str) -> bool:
        """Write a generated or annotated note (not a fact); False if it was already so."""
        path = self._ctx.root / rel
        data = text.encode("utf-8")
        try:
            if path.read_bytes() == data:
                return False
        except OSError:
            pass
        commits = self._writer_queue()
        commits.intend([(rel, data)])  # journaled first: see CommitQueue.intend
        try:
            write_atomic(path, data, scratch=self._ctx.scratch)
        except BaseException:
            commits.abandon([(rel, data)])
            raise
        self.remember_write(rel, data)
        commits.add([(rel, data)], [note])
        if self._index is not None and not rel.startswith(ENTITIES_DIR + "/"):  # never scanned
            record = note_record(self._ctx.root, rel)
            if record:
                self._index.apply([record], [])
        return True

    def remove_note(self, rel: str, note: str) -> None:
        commits = self._writer_queue()
        commits.intend([(rel, None)])
        try:
            (self._ctx.root / rel).unlink(missing_ok=True)
        except BaseException:
            commits.abandon([(rel, None)])
            raise
        self.remember_write(rel, None)
        commits.remove(rel, note)
        if self._index is not None:
            self._index.apply([], [rel])

    def sync_notes(self, keys: Iterable[Key]) -> int:
        """Bring the generated notes of ``keys`` in step: their conflict notes, then the
        entity notes of their entities (and the notes their links need)."""
        keys = set(keys)
        return self.sync_conflict_notes(keys) + self.sync_entity_notes(keys)

    def defer_entity_notes(self, keys: Iterable[Key]) -> None:
        """Mark the entities on ``keys`` for regeneration within ENTITY_NOTE_DELAY seconds
        (or at the next flush or close), off the caller's path."""
        if self._commits is None:
            return
        with self._dirty_lock:
            self._dirty_entities.update(entity for entity, _relation, _scope in keys)
            if self._dirty_timer is None and self._dirty_entities:
                # The timer holds the keeper weakly: a dropped vault is not kept alive by it.
                self._dirty_timer = threading.Timer(self._note_delay, _timed_entity_notes,
                                                    (weakref.ref(self),))
                self._dirty_timer.daemon = True
                self._dirty_timer.start()

    def timed_entity_notes(self) -> None:
        with self._dirty_lock:
            self._dirty_timer = None
        # A vault closing under the timer, or a full disk: the entities stay marked and the
        # next flush (or close) retries.
        started = time.monotonic()
        with contextlib.suppress(Exception):
            self.flush_entity_notes()
        took = time.monotonic() - started
        self._note_delay = min(ENTITY_NOTE_MAX_DELAY,
                               max(ENTITY_NOTE_DELAY, took * ENTITY_NOTE_BACKOFF))

    def flush_entity_notes(self) -> int:
        """Regenerate the entity notes that writes marked stale; return how many changed."""
        with self._render_lock:
            with self._dirty_lock:
                entities, self._dirty_entities = self._dirty_entities, set()
            if not entities or self._commits is None or self._index is None:
                return 0
            try:
                return self.sync_entity_notes((entity, "", "") for entity in entities)
            except BaseException:
                with self._dirty_lock:
                    self._dirty_entities |= entities
                raise

    def sync_entity_notes(self, keys: Iterable[Key]) -> int:
        """Rewrite the entity note of every entity on ``keys``, and write the missing notes of
        the entities and sources that those notes, and every fact note on those entities,
        link to; return how many changed. Incremental:
        only the touched entities are read from the index. A read-only open writes none."""
        if self._commits is None:
            return 0
        index = self._index
        assert index is not None
        entities = {entity for entity, _relation, _scope in keys}
        linked: set[str] = set()
        notes: list[tuple[str, str, str]] = []
        for entity in sorted(entities):
            # Every fact note on the entity links its source (and ref value), listed here or not.
            linked |= index.linked_names(entity)
            notes.append((str(entity_note_relpath(entity)),
                          render_entity(self._entity_view(index, entity)), f"entity note {entity}"))
        for entity in sorted(linked - entities):  # a link target: written once, if missing
            rel = str(entity_note_relpath(entity))
            if not (self._ctx.root / rel).exists():
                notes.append((rel, render_entity(self._entity_view(index, entity)),
                              f"entity note {entity}"))
        return self.write_notes(notes)

    def write_notes(self, notes: list[tuple[str, str, str]]) -> int:
        """Write generated notes (vault path, text, commit note) that are never scanned, such
        as entity notes, with one journal write for all; return how many changed."""
        changed: list[tuple[str, bytes, str]] = []
        for rel, text, note in notes:
            data = text.encode("utf-8")
            try:
                if (self._ctx.root / rel).read_bytes() == data:
                    continue
            except OSError:
                pass
            changed.append((rel, data, note))
        if not changed:
            return 0
        commits = self._writer_queue()
        commits.intend([(rel, data) for rel, data, _note in changed])  # see CommitQueue.intend
        written = 0
        try:
            for rel, data, _note in changed:
                write_atomic(self._ctx.root / rel, data, scratch=self._ctx.scratch)
                self.remember_write(rel, data)
                written += 1
        except BaseException:
            commits.abandon([(rel, data) for rel, data, _note in changed[written:]])
            raise
        finally:
            done = changed[:written]
            if done:
                commits.add([(rel, data) for rel, data, _note in done],
                            [note for _rel, _data, note in done])
        return written

    def _entity_view(self, index: Index, entity: str) -> EntityView:
        live = index.query(Filters(entity=entity, limit=ENTITY_LIVE_LIMIT))
        history = index.query(Filters(entity=entity, include_superseded=True,
                                      include_expired=True, newest_first=True,
                                      limit=HISTORY_LIMIT))
        root = self._ctx.root

        def shown(item: IndexedFact) -> EntityFact:
            # The index knows where each file is; a file removed since is re-rendered without
            # its link when the scan records the removal (its key changes).
            return EntityFact(item.fact, item.path if item.present else None, item.live)

        keys = {(entity, i.fact.relation, i.fact.scope.value) for i in live}
        conflicts = []
        for record in index.conflicts_on(keys):
            rel = conflict_note_relpath(record.id, record.entity, record.relation, record.scope)
            if record.status == "open" and (root / rel).exists():
                conflicts.append((record.id, record.relation, record.scope, record.status))
        return EntityView(entity, [shown(i) for i in live], [shown(i) for i in history],
                          conflicts)

    def sync_conflict_notes(self, keys: Iterable[Key]) -> int:
        """Write or update the conflict note of every conflict on ``keys``; return how many
        changed. A read-only open writes none."""
        if self._commits is None:
            return 0
        index = self._index
        assert index is not None
        changed = 0
        keys = set(keys)
        noted: set[str] = set()
        for record in index.conflicts_on(keys):
            rel = str(conflict_note_relpath(record.id, record.entity, record.relation,
                                            record.scope))
            noted.add(rel)
            view = _conflict_view(index, record)
            if view is None:
                continue
            new = not os.path.lexists(self._ctx.root / rel)
            if not new and record.status == "open" and _person_choosing(self._ctx.root / rel):
                continue  # still open, and a person is choosing in it: theirs (§14.1)
            if self.write_note(rel, render_conflict(view),
                               f"conflict {record.id[:12]} {record.status}"):
                changed += 1
                if new and record.status == "open":
                    with self._own_lock:
                        self._opened.append(Change(
                            ChangeKind.CONFLICT, rel,
                            f"opened on {record.entity} {record.relation}", record.id))
        for entity, relation, scope in keys:  # notes of conflicts the index no longer records
            pattern = conflict_note_relpath("0" * 12, entity, relation, scope)
            stem = pattern.name[:-len("0" * 12 + ".md")]
            try:
                names = [e.name for e in os.scandir(self._ctx.root / pattern.parent)]
            except OSError:
                continue
            for name in names:
                rel = str(pattern.parent / name)
                if rel not in noted and name.startswith(stem) \
                        and _STALE_NOTE.fullmatch(name[len(stem):]):
                    self.remove_note(rel, f"conflict {name[len(stem):-3]} withdrawn")
                    changed += 1
        return changed

    def take_opened(self) -> list[Change]:
        """The conflicts opened since the last call (each a CONFLICT change), for a log."""
        with self._own_lock:
            opened, self._opened = self._opened, []
        return opened

    def _writer_queue(self) -> CommitQueue:
        self._ctx.writer()
        assert self._commits is not None
        return self._commits

    # ------------------------------------------------------------- queries

    def query(self, *, entity: str | None = None, relation: str | None = None,
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
                **flags: Any) -> Filters:
        """Normalize user-given filter values exactly as the fields themselves are normalized."""
        scopes = [scope] if isinstance(scope, str) else scope
        trusts = [trust] if isinstance(trust, str) else trust
        if min_confidence is not None and not 0.0 <= float(min_confidence) <= 1.0:
            raise InvalidFact("min_confidence", f"{min_confidence!r} is outside 0.0-1.0")
        if value_type is not None:
            value_type = parse_enum(ValueType, value_type, "value_type").value  # String -> string
        if as_of is not None:
            as_of = _past_stamp(as_of)
        return Filters(
            entity=normalize_identifier(entity, "entity") if entity else None,
            relation=normalize_relation(relation) if relation else None,
            source=normalize_source(source) if source else None,
            scopes=tuple(parse_enum(Scope, s, "scope").value for s in scopes) if scopes else None,
            trust=tuple(parse_enum(TrustClass, t, "trust").value for t in trusts) if trusts else None,
            value_type=value_type, min_confidence=min_confidence, as_of=as_of, **flags)

    def recall(self, text: str, *, limit: int = 10, scope: str | list[str] | None = None,
               min_confidence: float | None = None, trust: str | list[str] | None = None,
               include_contradicted: bool = True, include_unattested: bool = False,
               include_vouched: bool = True, gardens: tuple[str, ...] | None = None,
               as_of: str | None = None, weights: Mapping[str, float] | None = None,
               depth: int = 2, include_neighbors: bool = True) -> list[Recalled]:
        """Ranked recall over live facts (index/recall.py): the text's matches and, with
        ``include_neighbors``, the facts of entities up to ``depth`` ref hops from them, scored
        by ``weights``. ``as_of`` (an HLC or ISO time, not in the future): the vault as it
        stood then. ``gardens``: None for every fact, else facts outside gardens and those of
        these gardens."""
        if not text.strip():
            raise InvalidFact("query", "must not be empty")
        if not 1 <= depth <= 3:
            raise InvalidFact("depth", f"{depth} is outside 1-3")
        try:
            resolved_weights(weights)
        except ValueError as exc:
            raise InvalidFact("weights", str(exc)) from None
        filters = self.filters(scope=scope, min_confidence=min_confidence, trust=trust,
                               include_contradicted=include_contradicted,
                               include_unattested=include_unattested,
                               include_vouched=include_vouched, gardens=gardens, as_of=as_of)
        return self.index.recall(text, filters, limit, weights=weights, depth=depth,
                                 include_neighbors=include_neighbors)

    def lookup(self, fact_id: str) -> IndexedFact:
        """The indexed fact with this id, or an unambiguous prefix of 8+ hex digits."""
        wanted = fact_id.strip().lower()
        if len(wanted) < 8 or len(wanted) > 64 or any(c not in "0123456789abcdef" for c in wanted):
            raise InvalidFact("id", f"{fact_id!r} is not a fact id or a prefix of 8+ hex digits")
        ids = [wanted] if len(wanted) == 64 else self.index.ids_with_prefix(wanted)
        items = [item for item in (self.index.get(i) for i in ids) if item is not None]
        if not items:
            raise NotFound("fact", fact_id)
        if len(items) > 1:
            raise InvalidFact("id", f"prefix {fact_id!r} is ambiguous: "
                                    + ", ".join(i.fact.id[:16] for i in items))
        return items[0]

    def provenance(self, fact_id: str) -> Provenance:
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
        git = self._ctx.git
        commits = git.log_for(item.path) if git is not None and item.path else []
        return Provenance(
            item, state[0] if state else None, state[1] if state else None,
            sorted(self._ctx.trust.sources_for(item.fact.signer)), replaced, replaced_by,
            [(parent, index.get(parent)) for parent in item.fact.derived_from],
            index.derived_children(item.fact.id), commits)

    def neighbors(self, entity: str, *, depth: int = 1, scopes: list[str] | None = None,
                  relation_prefix: str | None = None, min_confidence: float = 0.0,
                  gardens: tuple[str, ...] | None = None) -> list[Neighbor]:
        """Entities reachable through live ``ref`` facts (either direction), breadth first.

        ``gardens``: None walks every fact; else facts outside gardens and those of these."""
        if not 1 <= depth <= 3:
            raise InvalidFact("depth", f"{depth} is outside 1-3")
        start = normalize_identifier(entity, "entity")
        allowed = tuple(self.filters(scope=scopes).scopes or tuple(s.value for s in Scope))
        seen = {start}
        frontier = [(start, [start])]
        found: list[Neighbor] = []
        for hops in range(1, depth + 1):
            paths = dict(frontier)
            edges = self.index.ref_edges(list(paths), Filters(scopes=allowed,
                                                              min_confidence=min_confidence,
                                                              gardens=gardens))
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

    def conflicts(self, status: str | None = None) -> list[ConflictRecord]:
        if status is not None and status not in ("open", "resolved", "obsolete"):
            raise InvalidFact("status", f"{status!r} is not one of: open, resolved, obsolete")
        return self.index.conflicts(status)


def _past_stamp(as_of: str) -> str:
    """An as_of point (an HLC stamp or an ISO 8601 time) as a stamp, refused when it is in
    the future: a query or recall reads the vault as it was, not as it will be."""
    stamp = as_of_stamp(as_of)
    if HLC.parse(stamp).wall_ms - now_ms() > AS_OF_FUTURE_MS:
        raise InvalidFact("as_of", f"{as_of!r} is in the future: the vault is read as it was, "
                                   "not as it will be")
    return stamp


def _timed_entity_notes(ref: weakref.ref[IndexKeeper]) -> None:
    keeper = ref()
    if keeper is not None:
        keeper.timed_entity_notes()


def _split_gestures(index: Index, found: Changes,
                    ) -> tuple[list[str], list[tuple[str, os.stat_result]], list[str]]:
    """(gesture paths, plain changed files, plain removals) of a scan's changes: a fact file
    that held a valid fact when last indexed and changed or went is a gesture."""
    # Paths whose file held a valid fact when last indexed: one query, not one per path.
    was_valid = index.valid_fact_paths(
        [rel for rel, _st in found.facts] + [rel for rel in found.removed if is_fact_path(rel)])
    gestures: list[str] = []
    plain: list[tuple[str, os.stat_result]] = []
    removed: list[str] = []
    for rel, st in found.facts:
        (gestures.append(rel) if rel in was_valid else plain.append((rel, st)))
    for rel in found.removed:
        (gestures.append(rel) if is_fact_path(rel) and rel in was_valid else removed.append(rel))
    return gestures, plain, removed


def _person_choosing(path: Path) -> bool:
    try:
        return choosing(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return False


def _conflict_view(index: Index, record: ConflictRecord) -> ConflictView | None:
    if record.fact_a is None or record.fact_b is None:
        return None
    resolution = index.get(record.resolution) if record.resolution else None
    paths = {item.fact.id: item.path for item in (record.fact_a, record.fact_b, resolution)
             if item is not None and item.path and item.present}
    return ConflictView(record.id, record.entity, record.relation, record.scope, record.status,
                        record.fact_a.fact, record.fact_b.fact,
                        resolution.fact if resolution else None, paths)
