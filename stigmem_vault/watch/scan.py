"""Incremental scan: bring the index in step with the fact files on disk.

A file whose (size, mtime_ns) matches what the index recorded is not read again, so a scan of
an unchanged vault costs one ``stat`` per file. Changed and new files are read once, hashed,
parsed and verified; files that disappeared are detached from their facts. Every problem
(malformed, forged, symlink, oversized...) becomes a file status with its reason; nothing
stops the scan.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from stigmem_vault.index.index import Index
from stigmem_vault.index.ingest import FileRecord
from stigmem_vault.vault.layout import FACTS_DIR
from stigmem_vault.vault.trust import TrustStore
from stigmem_vault.vault.verify import MAX_FACT_FILE_BYTES, Verdict, verify_bytes

BATCH = 1000
Progress = Callable[[int], None]


@dataclass
class ScanReport:
    scanned: int = 0
    unchanged: int = 0
    indexed: int = 0
    removed: int = 0
    problems: list[tuple[str, str, str]] = field(default_factory=list)  # (path, status, reason)


def is_candidate(name: str) -> bool:
    """Fact files are visible .md files; editors' temp and swap files are not."""
    return name.endswith(".md") and not name.startswith((".", "~"))


def walk_facts(root: Path) -> Iterator[tuple[str, os.stat_result]]:
    """(vault-relative path, lstat) of every candidate file under facts/, symlinks included."""
    stack = [root / FACTS_DIR]
    prefix = len(str(root)) + 1
    while stack:
        directory = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if not entry.name.startswith("."):
                    stack.append(Path(entry.path))
            elif is_candidate(entry.name):
                yield entry.path[prefix:].replace(os.sep, "/"), entry.stat(follow_symlinks=False)


def read_record(root: Path, rel: str, st: os.stat_result, trust: TrustStore) -> FileRecord:
    """Read, hash and verify one file into a FileRecord (never raises for bad content)."""
    if stat.S_ISLNK(st.st_mode):
        target = os.readlink(root / rel)
        return FileRecord(rel, st.st_size, st.st_mtime_ns, None, Verdict.MALFORMED.value,
                          f"is a symlink (to {target}); fact files must be regular files")
    if not stat.S_ISREG(st.st_mode):
        return FileRecord(rel, st.st_size, st.st_mtime_ns, None, Verdict.MALFORMED.value,
                          "is not a regular file")
    if st.st_size > MAX_FACT_FILE_BYTES:
        return FileRecord(rel, st.st_size, st.st_mtime_ns, None, Verdict.MALFORMED.value,
                          f"is {st.st_size} bytes, over the {MAX_FACT_FILE_BYTES}-byte limit")
    try:
        with open(root / rel, "rb") as handle:
            data = handle.read(MAX_FACT_FILE_BYTES + 1)
            fresh = os.fstat(handle.fileno())
    except OSError as exc:
        return FileRecord(rel, st.st_size, st.st_mtime_ns, None, Verdict.MALFORMED.value,
                          f"cannot be read: {exc.strerror or exc}")
    item = verify_bytes(rel, data, trust)
    return FileRecord(rel, fresh.st_size, fresh.st_mtime_ns, hashlib.sha256(data).hexdigest(),
                      item.verdict.value, item.reason, item.fact)


def scan(root: Path, index: Index, trust: TrustStore, progress: Progress | None = None) -> ScanReport:
    """Index every new or changed fact file and forget removed ones."""
    report = ScanReport()
    known = index.known_files()
    seen: set[str] = set()
    batch: list[FileRecord] = []
    for rel, st in walk_facts(root):
        seen.add(rel)
        report.scanned += 1
        if known.get(rel) == (st.st_size, st.st_mtime_ns):
            report.unchanged += 1
            continue
        record = read_record(root, rel, st, trust)
        if record.status != Verdict.VALID.value:
            report.problems.append((rel, record.status, record.reason))
        batch.append(record)
        if len(batch) >= BATCH:
            index.apply(batch, [])
            report.indexed += len(batch)
            if progress:
                progress(len(batch))
            batch = []
    removed = [path for path in known if path not in seen]
    index.apply(batch, removed)
    report.indexed += len(batch)
    report.removed = len(removed)
    if progress and batch:
        progress(len(batch))
    return report
