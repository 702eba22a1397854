"""Incremental scan: find what changed on disk since the index last looked, and index facts.

A note whose (size, mtime_ns) matches what the index recorded is not read again, so a scan of
an unchanged vault costs one ``stat`` per note. ``changes`` lists new, changed and removed
notes; ``index_facts`` reads, hashes and verifies fact files in batches (a large batch on a
pool of processes, watch/records.py) and inserts them. Every problem
(malformed, forged, symlink, FIFO, oversized...) becomes a file status with its reason; nothing
stops the scan. The walk only ``lstat``s: a file that is not a regular file (a FIFO, a socket,
a device, a symlink) is reported from its ``lstat`` and never opened (vault/reading.py).
Notes outside ``facts/`` are returned to the caller, which decides what they mean (drafts,
conflict notes) — see api/gestures.py.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from stigmem_vault.index.conflicts import Key
from stigmem_vault.index.index import Index
from stigmem_vault.index.ingest import FileRecord
from stigmem_vault.vault.layout import FACTS_DIR
from stigmem_vault.vault.trust import TrustStore
from stigmem_vault.vault.verify import CANDIDATE_VERDICTS, verify_bytes
from stigmem_vault.watch.filters import VaultFilter
from stigmem_vault.watch.outcome import Change
from stigmem_vault.watch.records import read_record as read_record  # re-exported: one way
from stigmem_vault.watch.records import read_records

# Records per index transaction. Large: a transaction rewrites every index page it touched,
# and a first index touches pages all over each index, so 1,000-record transactions spent
# about 60% of the insert time committing (10,000: about 25%).
BATCH = 10_000
BULK_FILES = 20_000  # a first index of at least this many files: Index.bulk_load
NOTE_STATUS = "note"
UNSEEN_MTIME = -1  # a file indexed by a read-only open: no stat matches it
Progress = Callable[[int, int], None]  # (files indexed so far, files to index)
Committed = Callable[[str], bytes | None]  # a path's bytes at git HEAD, None if not committed
Head = Callable[[], Mapping[str, str]]  # path -> blob id of every file at git HEAD
# Folders whose notes stigmem generates itself, or that hold templates: never drafts.
SKIP_DIRS = frozenset({".git", ".obsidian", ".trash", ".stigmem", "templates", "entities"})


@dataclass
class ScanReport:
    scanned: int = 0
    unchanged: int = 0
    indexed: int = 0
    removed: int = 0
    problems: list[tuple[str, str, str]] = field(default_factory=list)  # (path, status, reason)
    dirty_keys: set[Key] = field(default_factory=set)  # keys whose facts changed
    changes: list[Change] = field(default_factory=list)  # gestures carried out
    # Signed facts edited or deleted since last indexed, left for a writer to carry out as
    # gestures (a read-only open keeps their indexed originals).
    awaiting: list[str] = field(default_factory=list)


@dataclass
class Changes:
    facts: list[tuple[str, os.stat_result]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    scanned: int = 0
    unchanged: int = 0


def is_fact_path(rel: str) -> bool:
    return rel.startswith(FACTS_DIR + "/")


def walk_notes(root: Path) -> Iterator[tuple[str, os.stat_result]]:
    """(vault-relative path, lstat) of every Markdown note the watcher would care about."""
    keep = VaultFilter()
    top = str(root)
    stack = [top]  # folders as str: a Path per folder costs more than the scandir itself
    prefix = len(top) + 1
    while stack:
        directory = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                top_level_skip = directory == top and entry.name in SKIP_DIRS
                if not top_level_skip and not entry.name.startswith("."):
                    stack.append(entry.path)
                continue
            rel = entry.path[prefix:].replace(os.sep, "/")
            if keep(rel):
                yield rel, entry.stat(follow_symlinks=False)


def changes(root: Path, index: Index) -> Changes:
    """What differs between the notes on disk and the file states the index recorded."""
    known = index.known_files()
    found = Changes()
    seen: set[str] = set()
    for rel, st in walk_notes(root):
        seen.add(rel)
        found.scanned += 1
        if known.get(rel) == (st.st_size, st.st_mtime_ns):
            found.unchanged += 1
        elif is_fact_path(rel):
            found.facts.append((rel, st))
        else:
            found.notes.append(rel)
    found.removed = [path for path in known if path not in seen]
    return found


def note_record(root: Path, rel: str, status: str = NOTE_STATUS, reason: str = "") -> FileRecord | None:
    """The file state of a non-fact note, so an unchanged note is not read again."""
    try:
        st = os.lstat(root / rel)
    except OSError:
        return None
    return FileRecord(rel, st.st_size, st.st_mtime_ns, None, status, reason)


def index_facts(root: Path, index: Index, trust: TrustStore, facts: list[tuple[str, os.stat_result]],
                removed: list[str], progress: Progress | None = None,
                unseen: bool = False, committed: Committed | None = None,
                head: Head | None = None) -> ScanReport:
    """Read, verify and index the given fact files in batches; forget the removed paths.

    With ``unseen`` (a read-only open), the files are indexed without their stat data, so the
    next scan reads them again: a writer then still carries out what they ask (commits a
    valid fact file no writer committed).

    With ``committed`` (a path's bytes at git HEAD), a file that no longer verifies but whose
    committed bytes do is a person's pending edit of a signed fact (§14): the committed fact
    is indexed in its place, without stat data, and the path is listed in ``awaiting``. So an
    index built from scratch keeps the signed original too, as an up-to-date one does.

    With ``head`` (a first index: watch/detect.py ``Watermark.fresh``), each file state is
    settled as it is inserted; HEAD's blobs are read when the first batch is, while the
    workers read on."""
    report = ScanReport()
    batch: list[FileRecord] = []
    blobs: Mapping[str, str] | None = None
    first = len(facts) >= BULK_FILES and index.is_empty()
    # A large batch is read on a pool of processes while this one inserts (watch/records.py).
    with index.bulk_load() if first else contextlib.nullcontext(), \
            contextlib.closing(read_records(root, facts, trust)) as records:
        for record in records:
            rel = record.path
            if record.status not in CANDIDATE_VERDICTS and committed is not None:
                original = _committed_record(rel, committed(rel), trust)
                if original is not None:
                    record = original
                    report.awaiting.append(rel)
            if unseen:
                record = replace(record, mtime_ns=UNSEEN_MTIME)
            if record.status not in CANDIDATE_VERDICTS:
                report.problems.append((rel, record.status, record.reason))
            batch.append(record)
            if len(batch) >= BATCH:
                if head is not None and blobs is None:
                    blobs = head()
                report.dirty_keys |= index.apply(batch, [], blobs)
                report.indexed += len(batch)
                if progress:
                    progress(report.indexed, len(facts))
                batch = []
        if head is not None and blobs is None:
            blobs = head()
        report.dirty_keys |= index.apply(batch, removed, blobs)
    report.indexed += len(batch)
    report.removed = len(removed)
    if progress and batch:
        progress(report.indexed, len(facts))
    return report


def _committed_record(rel: str, data: bytes | None, trust: TrustStore) -> FileRecord | None:
    """The record of a path's committed bytes if they are a signed fact (valid or vouched),
    never matching a stat."""
    if data is None:
        return None
    item = verify_bytes(rel, data, trust)
    if item.verdict.value not in CANDIDATE_VERDICTS:
        return None
    return FileRecord(rel, len(data), UNSEEN_MTIME, hashlib.sha256(data).hexdigest(),
                      item.verdict.value, item.reason, item.fact)


def scan(root: Path, index: Index, trust: TrustStore, progress: Progress | None = None) -> ScanReport:
    """Index every new or changed fact file and forget removed ones (notes are only recorded)."""
    found = changes(root, index)
    report = index_facts(root, index, trust, found.facts, found.removed, progress)
    notes = [r for r in (note_record(root, rel) for rel in found.notes) if r is not None]
    index.apply(notes, [])
    report.scanned, report.unchanged = found.scanned, found.unchanged
    return report
