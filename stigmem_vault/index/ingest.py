"""Writing into the index: file states and the facts they hold.

The index receives ``FileRecord`` values (a file's stat, its verdict and, when it parsed, its
``Fact``); it never reads the vault itself, so it can be rebuilt from any source of facts and
tested without files. Each ``apply`` returns the (entity, relation, scope) keys it touched
whose liveness and conflicts the caller must recompute, and those it settled itself (a fact
alone on its key in a first index: ``FreshLoad``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, replace

from stigmem_vault.canonical.cid import upstream_cid
from stigmem_vault.index.conflicts import Key, lone_live
from stigmem_vault.index.recall import searchable
from stigmem_vault.model.fact import Fact
from stigmem_vault.model.values import ValueType, expiry_instant, ref_target

Rows = tuple[tuple[object, ...], tuple[str, ...]]  # a fact's row, and its four FTS texts


@dataclass(frozen=True, slots=True)
class FileRecord:
    path: str
    size: int
    mtime_ns: int
    sha256: str | None
    status: str
    reason: str
    fact: Fact | None = None
    vouched_by: str | None = None  # the voucher of a 'vouched' fact (vault/verify.py)
    blob: str | None = None  # git blob id of the bytes read (None: not read, a note)
    # The fact's rows (``with_rows``), worked out where the file was read (a pool worker,
    # watch/records.py) so that the one process inserting does not; None: worked out here.
    # A record from a worker carries its rows and no ``fact``: the rows hold all the index
    # needs, and a Fact's objects cost three times the rows to pickle and unpickle.
    rows: Rows | None = None

    def __reduce__(self) -> tuple[type[FileRecord], tuple[object, ...]]:
        # Field by field, in order: pool workers pickle a record per file, and the default
        # for a frozen dataclass with slots costs twice as much to pickle (and to unpickle
        # in the one process inserting them). tests/index/test_records.py holds it to fields().
        return FileRecord, (self.path, self.size, self.mtime_ns, self.sha256, self.status,
                            self.reason, self.fact, self.vouched_by, self.blob, self.rows)

    @property
    def fact_id(self) -> str | None:
        """The id of the fact the file holds (None: it holds none that parsed)."""
        if self.rows is not None:
            return str(self.rows[0][0])
        return None if self.fact is None else self.fact.id


def with_rows(record: FileRecord) -> FileRecord:
    """The record carrying its fact's index rows, ready to insert."""
    return record if record.fact is None else replace(record, rows=fact_rows(record))


def lean(record: FileRecord) -> FileRecord:
    """The record with its rows and without its ``fact``: what a worker sends."""
    if record.fact is None:
        return record
    return FileRecord(record.path, record.size, record.mtime_ns, record.sha256, record.status,
                      record.reason, vouched_by=record.vouched_by, blob=record.blob,
                      rows=fact_rows(record))


def fact_rows(record: FileRecord) -> Rows | None:
    """The rows of the record's fact: those it carries, else worked out now (None: no fact)."""
    if record.rows is not None or record.fact is None:
        return record.rows
    row = fact_row(record.fact, record.status, record.path, record.vouched_by)
    return row, fts_texts(record.fact, row)


def fts_texts(fact: Fact, row: tuple[object, ...]) -> tuple[str, ...]:
    """What the full-text index holds for a fact: entity, relation, value text, source."""
    return tuple(map(searchable, (fact.entity, fact.relation, str(row[5]), fact.source)))


def fact_row(fact: Fact, status: str, path: str,
             vouched_by: str | None = None) -> tuple[object, ...]:
    value = fact.value
    until_ms = None
    if fact.valid_until is not None:
        until_ms = int(expiry_instant(fact.valid_until).timestamp() * 1000)
    # A ref's text is what it points at (normal form), so the graph finds it by entity.
    text = ref_target(value.v) if value.type is ValueType.REF and isinstance(value.v, str) \
        else value.display()
    return (
        fact.id, fact.entity, fact.relation, value.type.value, json.dumps(value.v),
        text,
        # A NUMBER's v is always an int or float; isinstance tells the type checker so.
        float(value.v) if value.type is ValueType.NUMBER and isinstance(value.v, int | float) else None,
        fact.source, fact.hlc, fact.timestamp, fact.confidence, fact.trust.value,
        fact.scope.value, fact.valid_until, until_ms, fact.supersedes,
        json.dumps(list(fact.derived_from)) if fact.derived_from else "[]", fact.signer, fact.signature,
        upstream_cid(fact.claim), fact.garden_id, status, vouched_by, path,
    )


# Positions in a fact row (``fact_row``) that ``apply`` reads back.
_ENTITY, _RELATION, _CONFIDENCE, _SCOPE, _SUPERSEDES, _DERIVED = 1, 2, 10, 12, 15, 16

_INSERT_FACT = """
INSERT INTO facts (rowid, id, entity, relation, value_type, value_json, value_text, value_num,
                   source, hlc, timestamp, confidence, trust, scope, valid_until, valid_until_ms,
                   supersedes, derived_from, signer, signature, cid, garden_id, status, vouched_by,
                   path, live,
                   present)
VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,1)
"""


class _NewFacts:
    """Facts seen for the first time, inserted together (one ``executemany``, not a statement
    per row: most of a first index's inserting). Each is numbered here, from the largest
    rowid in the table, so that its FTS row can name it without reading it back; that is
    the number SQLite itself would give, and the caller's transaction keeps it. ``flush``
    before any other statement reads or changes ``facts``, so it sees them."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.rows: list[tuple[object, ...]] = []
        self.fts_rows: list[tuple[object, ...]] = []
        self.next_rowid: int | None = None

    def add(self, row: tuple[object, ...], texts: tuple[str, ...], live: bool = False) -> None:
        """Insert the fact, not live (``recompute`` works it out), or with ``live`` as it is."""
        if self.next_rowid is None:
            self.next_rowid = self.conn.execute(
                "SELECT coalesce(max(rowid), 0) + 1 FROM facts").fetchone()[0]
        rowid = self.next_rowid
        self.next_rowid += 1
        self.rows.append((rowid, *row, int(live)))
        self.fts_rows.append((rowid, *texts))

    def flush(self) -> None:
        if self.rows:
            self.conn.executemany(_INSERT_FACT, self.rows)
            self.conn.executemany("INSERT INTO facts_fts (rowid, entity, relation, value_text,"
                                  " source) VALUES (?,?,?,?,?)", self.fts_rows)
            self.rows, self.fts_rows = [], []


class FreshLoad:
    """A first index into an empty index (``Index.bulk_load``): what it has inserted so far,
    so that a new fact that is the first on its key, that no fact loaded before names, and
    that names none, is inserted with its liveness (``conflicts.lone_live``) instead of being
    read back and recomputed: in a vault of facts mostly alone on their keys, that is most of
    the inserting process's work besides the inserts themselves. A later fact on the key, or
    naming it, recomputes the key as any other apply does.

    Hashes, not values: a million keys held as tuples of strings would cost hundreds of MB;
    a collision only sends a fact down the general path. It holds while every fact in the
    index came through it: every apply of its ``Index`` (from any thread) keeps its account,
    but from the first commit of another connection (``PRAGMA data_version``: another
    process, or another ``Index`` on the same file) the load recomputes every key it
    touches, as one without it."""

    def __init__(self) -> None:
        self.keys: set[int] = set()
        self.named: set[int] = set()  # ids a loaded fact supersedes or derives from
        self.version: int | None = None
        self.holds = True

    def start(self, conn: sqlite3.Connection) -> None:
        """In the load's first transaction: it holds only on an index holding no fact."""
        self.holds = conn.execute("SELECT 1 FROM facts LIMIT 1").fetchone() is None
        self.version = _data_version(conn)

    def usable(self, conn: sqlite3.Connection) -> bool:
        """Asked in each apply's transaction: whether that apply may rely on the load (no
        other connection has committed since it began)."""
        if self.holds and _data_version(conn) != self.version:
            self.holds = False
        return self.holds

    def alone(self, key: Key, fact_id: str, named: list[str]) -> bool:
        """Record a fact the load meets; True if it is alone on its key as far as the load
        has seen, named by no fact before it, and naming none."""
        seen = hash(key) in self.keys or hash(fact_id) in self.named
        self.keys.add(hash(key))
        self.named.update(map(hash, named))
        return not seen and not named


def _data_version(conn: sqlite3.Connection) -> int:
    """Changes when another connection commits to the database (never for this one's own)."""
    return int(conn.execute("PRAGMA data_version").fetchone()[0])


def apply(conn: sqlite3.Connection, records: list[FileRecord], removed: list[str],
          head: Mapping[str, str] | None = None,
          load: FreshLoad | None = None) -> tuple[set[Key], set[Key]]:
    """Record file states and facts; mark facts of removed or rewritten files absent. A file
    state is recorded unsettled, unless ``head`` (path -> blob id at HEAD) holds the bytes
    read, as they were (a file indexed without its stat never is: watch/detect.py).

    Returns the keys whose liveness and conflicts the caller must recompute, and the keys of
    facts inserted alone in a first index (``load``), settled here."""
    dirty: set[Key] = set()
    settled_here: set[Key] = set()
    for path, fact_id in _held_facts(conn, removed).items():
        _detach_file(conn, path, fact_id, dirty)
        conn.execute("DELETE FROM files WHERE path = ?", (path,))
    # What each path held and which facts are already known: two reads per batch, not per
    # record. Both maps are kept current as the records are applied (a batch may name a path or
    # a fact twice). Nothing below reads ``files``, so its rows are written together at the end.
    held = _held_facts(conn, [r.path for r in records])
    known = _known_ids(conn, [fid for fid in (r.fact_id for r in records) if fid is not None])
    file_rows: list[tuple[object, ...]] = []
    new = _NewFacts(conn)
    for record in records:
        fact_id = record.fact_id
        previous = held.get(record.path)
        if previous and previous != fact_id:
            new.flush()
            _detach_file(conn, record.path, previous, dirty)
        held[record.path] = fact_id
        settled = head is not None and record.blob is not None and record.mtime_ns >= 0 \
            and head.get(record.path) == record.blob
        file_rows.append((record.path, record.size, record.mtime_ns, record.sha256, record.status,
                          record.reason, fact_id, record.blob, int(settled)))
        rows = fact_rows(record)
        if fact_id is None or rows is None:
            continue
        row, texts = rows
        key = (str(row[_ENTITY]), str(row[_RELATION]), str(row[_SCOPE]))
        derived_from = json.loads(str(row[_DERIVED])) if row[_DERIVED] != "[]" else []
        targets = [str(row[_SUPERSEDES])] if row[_SUPERSEDES] else []
        targets += derived_from
        alone = load is not None and load.alone(key, fact_id, targets)
        if fact_id in known:
            new.flush()
            conn.execute("UPDATE facts SET status = ?, vouched_by = ?, path = ?, present = 1"
                         " WHERE id = ?", (record.status, record.vouched_by, record.path, fact_id))
        elif alone:  # new, and nothing it could be weighed against is in the index
            confidence = row[_CONFIDENCE]
            new.add(row, texts, live=isinstance(confidence, int | float)
                    and lone_live(record.status, confidence))
            known.add(fact_id)
            settled_here.add(key)
            continue
        else:  # a fact seen for the first time: its text goes into FTS once
            new.add(row, texts)
            known.add(fact_id)
        if derived_from:
            conn.executemany("INSERT OR IGNORE INTO derivations VALUES (?, ?)",
                             [(fact_id, parent) for parent in derived_from])
        dirty.add(key)
        # A supersession or resolution reaches into other keys: recompute those too.
        if targets:
            new.flush()
            marks = ",".join("?" * len(targets))
            dirty.update(conn.execute(
                f"SELECT entity, relation, scope FROM facts WHERE id IN ({marks})", targets))
    new.flush()
    conn.executemany(
        "INSERT OR REPLACE INTO files (path, size, mtime_ns, sha256, status, reason, fact_id,"
        " blob, settled) VALUES (?,?,?,?,?,?,?,?,?)", file_rows)
    return dirty, settled_here


_CHUNK = 900  # bound parameters per IN (...) query


def _held_facts(conn: sqlite3.Connection, paths: list[str]) -> dict[str, str | None]:
    """path -> the fact id its file held when last indexed (only paths the index knows)."""
    held: dict[str, str | None] = {}
    for start in range(0, len(paths), _CHUNK):
        chunk = paths[start:start + _CHUNK]
        held.update(conn.execute(f"SELECT path, fact_id FROM files WHERE path IN"
                                 f" ({','.join('?' * len(chunk))})", chunk).fetchall())
    return held


def _known_ids(conn: sqlite3.Connection, ids: list[str]) -> set[str]:
    known: set[str] = set()
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start:start + _CHUNK]
        known.update(r[0] for r in conn.execute(
            f"SELECT id FROM facts WHERE id IN ({','.join('?' * len(chunk))})", chunk))
    return known


def _detach_file(conn: sqlite3.Connection, path: str, fact_id: str | None,
                 dirty: set[Key]) -> None:
    """The file no longer holds its fact (``fact_id``, what ``files`` says it held): the fact
    stays known but is no longer present. Found by id: facts.path has no index, and a scan
    of every fact per removed file would cost seconds in a vault of a million."""
    if fact_id is None:
        return
    for entity, relation, scope in conn.execute(
            "UPDATE facts SET present = 0, path = NULL WHERE id = ? AND path = ?"
            " RETURNING entity, relation, scope", (fact_id, path)).fetchall():
        dirty.add((entity, relation, scope))
