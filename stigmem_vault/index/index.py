"""``Index``: the SQLite cache of a vault — what the API queries instead of the files."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from stigmem_vault.index import query, recall
from stigmem_vault.index.conflicts import Key, recompute
from stigmem_vault.index.db import Database, restore_tallies
from stigmem_vault.index.ingest import FileRecord, FreshLoad, apply
from stigmem_vault.index.query import ConflictRecord, Filters, IndexedFact, Recalled
from stigmem_vault.index.schema import QUERY_INDEXES, TALLY_TRIGGERS


class Index:
    """Facts, file states and conflicts of one vault, in one SQLite file.

    ``fingerprint`` summarises everything the derived state depends on besides the facts
    (owner, trust store, relation cardinalities); a different fingerprint rebuilds the index.
    """

    def __init__(self, path: Path, *, owner: str, multi_relations: frozenset[str],
                 fingerprint: str) -> None:
        self.db = Database(path, fingerprint)
        self.owner = owner
        self.multi_relations = multi_relations
        self._load: FreshLoad | None = None  # while bulk_load runs

    @property
    def rebuilt(self) -> bool:
        """True when this open created the index from nothing (a full scan is needed)."""
        return self.db.rebuilt

    def close(self) -> None:
        self.db.close()

    # ---------------------------------------------------------------- writing

    def known_files(self) -> dict[str, tuple[int, int]]:
        with self.db.lock:
            return {path: (size, mtime) for path, size, mtime in
                    self.db.conn.execute("SELECT path, size, mtime_ns FROM files")}

    def file_stats(self, paths: list[str]) -> dict[str, tuple[int, int]]:
        """(size, mtime_ns) recorded for those of ``paths`` the index knows."""
        found: dict[str, tuple[int, int]] = {}
        with self.db.lock:
            for start in range(0, len(paths), 900):
                chunk = paths[start:start + 900]
                found.update((path, (size, mtime)) for path, size, mtime in self.db.conn.execute(
                    f"SELECT path, size, mtime_ns FROM files WHERE path IN"
                    f" ({','.join('?' * len(chunk))})", chunk))
        return found

    def fact_files_by_scope(self) -> dict[str, int]:
        """How many files the index records under each ``facts/<scope>/`` folder."""
        with self.db.lock:
            rows = self.db.conn.execute(
                "SELECT substr(key, 7), n FROM tallies WHERE key > 'scope:' AND key < 'scope;'"
                " AND n != 0").fetchall()
        return {scope: count for scope, count in rows}

    def file_count(self) -> int:
        return self._tally("files")

    def _tally(self, key: str) -> int:
        """A running total the schema's triggers keep (index/schema.py, tallies)."""
        with self.db.lock:
            row = self.db.conn.execute("SELECT n FROM tallies WHERE key = ?", (key,)).fetchone()
        return int(row[0]) if row else 0

    # Settling (watch/detect.py): which recorded files hold exactly their bytes at a git tree.

    def git_tree(self) -> str | None:
        """The git tree the settled files were last checked against (None: never)."""
        with self.db.lock:
            row = self.db.conn.execute("SELECT value FROM meta WHERE key='git_tree'").fetchone()
        return row[0] if row else None

    def unsettled_paths(self) -> list[str]:
        with self.db.lock:
            return [path for (path,) in
                    self.db.conn.execute("SELECT path FROM files WHERE settled = 0")]

    def settle(self, tree: str, blobs: dict[str, str], paths: list[str] | None) -> None:
        """Record ``tree`` as the one checked against, and mark settled each of ``paths``
        (every file when None) whose indexed bytes are its blob in ``tree`` (``blobs``:
        path -> blob id there). A file indexed without its stat is never settled, so the
        next scan reads it again."""
        with self.db.transaction() as conn:
            if paths is None:
                conn.execute("UPDATE files SET settled = 0 WHERE settled = 1")
                checked = list(blobs.items())
            else:
                conn.executemany("UPDATE files SET settled = 0 WHERE path = ?",
                                 [(path,) for path in paths])
                checked = [(path, blobs[path]) for path in paths if path in blobs]
            conn.executemany("UPDATE files SET settled = 1 WHERE path = ? AND blob = ?"
                             " AND mtime_ns >= 0", checked)
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('git_tree', ?)", (tree,))

    def is_empty(self) -> bool:
        """True if no file state is recorded (what a first index starts from)."""
        with self.db.lock:
            return self.db.conn.execute("SELECT 1 FROM files LIMIT 1").fetchone() is None

    @contextmanager
    def bulk_load(self) -> Iterator[None]:
        """Insert without the query indexes and the triggers that keep the running totals,
        then create them and count the totals once (schema.QUERY_INDEXES, TALLY_TRIGGERS):
        for a first index of many files, a sort per index instead of a B-tree insert per row
        each, and one count instead of two upserts per row. Queries meanwhile are answered,
        only slower, and totals lag; an open restores whatever a load that stopped left out.
        Meanwhile a fact alone on its key is inserted with its liveness instead of being
        recomputed (ingest.FreshLoad)."""
        load = FreshLoad()
        with self.db.transaction() as conn:
            for name in QUERY_INDEXES:
                conn.execute(f"DROP INDEX IF EXISTS {name}")
            for name in TALLY_TRIGGERS:
                conn.execute(f"DROP TRIGGER IF EXISTS {name}")
            load.start(conn)
        self._load = load
        try:
            yield
        finally:
            self._load = None
            with self.db.transaction() as conn:
                for sql in QUERY_INDEXES.values():
                    conn.execute(sql)
                restore_tallies(conn)

    def apply(self, records: list[FileRecord], removed: list[str],
              head: Mapping[str, str] | None = None) -> set[Key]:
        """Record files and facts in one transaction and recompute the keys they touch.
        With ``head`` (path -> blob id at HEAD), a file whose bytes are its blob there is
        recorded settled (a first index: watch/detect.py ``Watermark.fresh``)."""
        if not records and not removed:
            return set()
        with self.db.transaction() as conn:
            load = self._load if self._load is not None and self._load.usable(conn) else None
            dirty, settled = apply(conn, records, removed, head, load)
            recompute(conn, dirty, self.owner, self.multi_relations.__contains__)
        return dirty | settled

    # ---------------------------------------------------------------- reading

    def query(self, filters: Filters) -> list[IndexedFact]:
        with self.db.lock:
            return query.select_facts(self.db.conn, filters)

    def count(self, filters: Filters) -> int:
        with self.db.lock:
            return query.count_facts(self.db.conn, filters)

    def get(self, fact_id: str) -> IndexedFact | None:
        with self.db.lock:
            return query.get_fact(self.db.conn, fact_id)

    def get_many(self, fact_ids: list[str]) -> dict[str, IndexedFact]:
        """The facts with these exact ids that are indexed, by id (one query per 900)."""
        found: dict[str, IndexedFact] = {}
        with self.db.lock:
            for start in range(0, len(fact_ids), 900):
                found.update((item.fact.id, item) for item in query.get_facts(
                    self.db.conn, fact_ids[start:start + 900]))
        return found

    def fact_at(self, path: str) -> IndexedFact | None:
        """The fact the file at ``path`` held when last indexed (even if now absent)."""
        with self.db.lock:
            row = self.db.conn.execute("SELECT fact_id FROM files WHERE path = ?", (path,)).fetchone()
            if row is None or row[0] is None:
                return None
            return query.get_fact(self.db.conn, row[0])

    def valid_fact_paths(self, paths: list[str]) -> set[str]:
        """Those of ``paths`` for which ``fact_at(path)`` is a fact with status valid (in bulk)."""
        found: set[str] = set()
        with self.db.lock:
            for start in range(0, len(paths), 900):
                chunk = paths[start:start + 900]
                found.update(row[0] for row in self.db.conn.execute(
                    "SELECT f.path FROM files f JOIN facts x ON x.id = f.fact_id"
                    f" WHERE x.status = 'valid' AND f.path IN ({','.join('?' * len(chunk))})", chunk))
        return found

    def file_stat(self, path: str) -> tuple[int, int] | None:
        """(size, mtime_ns) the index recorded for ``path``."""
        with self.db.lock:
            row = self.db.conn.execute("SELECT size, mtime_ns FROM files WHERE path = ?",
                                       (path,)).fetchone()
        return (row[0], row[1]) if row else None

    def file_state(self, path: str) -> tuple[str, str] | None:
        """(status, reason) the index recorded for the file at ``path``."""
        with self.db.lock:
            row = self.db.conn.execute("SELECT status, reason FROM files WHERE path = ?",
                                       (path,)).fetchone()
        return (row[0], row[1]) if row else None

    def file_sha256(self, path: str) -> str | None:
        """The SHA-256 of the bytes the index read at ``path`` (None if it read none)."""
        with self.db.lock:
            row = self.db.conn.execute("SELECT sha256 FROM files WHERE path = ?",
                                       (path,)).fetchone()
        return row[0] if row else None

    def ids_with_cid(self, cid: str) -> list[str]:
        with self.db.lock:
            return query.find_by_cid(self.db.conn, cid)

    def ids_with_prefix(self, prefix: str, limit: int = 5) -> list[str]:
        with self.db.lock:
            return query.find_by_prefix(self.db.conn, prefix, limit)

    def derived_children(self, fact_id: str) -> list[str]:
        with self.db.lock:
            return query.derived_children(self.db.conn, fact_id)

    def superseders(self, fact_id: str) -> list[str]:
        with self.db.lock:
            return query.superseders(self.db.conn, fact_id)

    def ref_edges(self, entities: list[str],
                  filters: Filters) -> list[tuple[str, str, str, float]]:
        with self.db.lock:
            return query.ref_edges(self.db.conn, entities, filters)

    def garden_records(self) -> list[IndexedFact]:
        with self.db.lock:
            return query.garden_records(self.db.conn)

    def recall(self, text: str, filters: Filters, limit: int = 10,
               **options: Any) -> list[Recalled]:
        """``index.recall.recall``: weights, depth and include_neighbors as options."""
        with self.db.lock:
            return recall.recall(self.db.conn, text, filters, limit, **options)

    def conflicts(self, status: str | None = None) -> list[ConflictRecord]:
        with self.db.lock:
            return query.list_conflicts(self.db.conn, status)

    def linked_names(self, entity: str) -> set[str]:
        """The source and every ``ref`` value of each fact ever indexed on ``entity``: the
        names whose entity notes the notes of those facts link to."""
        with self.db.lock:
            rows = self.db.conn.execute(
                "SELECT source FROM facts WHERE entity = ? UNION "
                "SELECT value_text FROM facts WHERE entity = ? AND value_type = 'ref'",
                (entity, entity)).fetchall()
        return {str(row[0]) for row in rows}

    def conflicts_on(self, keys: set[Key]) -> list[ConflictRecord]:
        """Every conflict (any status) on the given (entity, relation, scope) keys."""
        if not keys:
            return []
        with self.db.lock:
            if len(keys) > 200:  # a big batch (a full scan): one pass over all conflicts
                return [c for c in query.list_conflicts(self.db.conn)
                        if (c.entity, c.relation, c.scope) in keys]
            return [c for key in sorted(keys) for c in query.list_conflicts(self.db.conn, key=key)]

    def conflict(self, conflict_id: str) -> ConflictRecord | None:
        if not conflict_id:
            return None  # "" prefixes every id: it must not pick out "the only conflict"
        with self.db.lock:
            rows = [c for c in query.list_conflicts(self.db.conn) if c.id.startswith(conflict_id)]
        return rows[0] if len(rows) == 1 else None

    def file_statuses(self, problems_only: bool = True) -> list[tuple[str, str, str]]:
        """(path, status, reason) of fact files that are not valid (or of every file)."""
        sql = "SELECT path, status, reason FROM files"
        if problems_only:  # notes (drafts, conflict notes) are not facts: not problems
            sql += " WHERE status NOT IN ('valid', 'note')"
        with self.db.lock:
            return [tuple(r) for r in self.db.conn.execute(sql + " ORDER BY path")]

    def counts(self) -> dict[str, int]:
        """Files, facts (whose files are present), live facts and open conflicts, from the
        running totals."""
        return {key: self._tally(key) for key in ("files", "facts", "live", "open_conflicts")}
