"""The SQLite index: connection, pragmas, version check and rebuild, transactions.

The index is a cache of the vault. It lives in ``.stigmem/index/index.sqlite3`` (never in
git). If its schema version or its configuration fingerprint (owner, trust store, relation
cardinalities) differs from what the vault says now, or SQLite cannot read it, it is deleted
and rebuilt — the answers never depend on what the cache happened to hold. A file that
is only busy, locked or unwritable is reported, not deleted.
"""

from __future__ import annotations

import fcntl
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from stigmem_vault.errors import StorageError
from stigmem_vault.index.schema import DDL, QUERY_INDEXES, RECOUNT, SCHEMA_VERSION, TALLY_TRIGGERS

INDEX_FILE = ".stigmem/index/index.sqlite3"


def _unreadable(exc: sqlite3.DatabaseError) -> bool:
    """True when SQLite says the file is not (or no longer) a database it can read."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    # SQLITE_ERROR covers a database of another shape (say, a missing meta table).
    return name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or name == "SQLITE_ERROR"


class Database:
    """One SQLite connection with the pragmas we rely on. Thread-safe by a lock."""

    busy_seconds = 10.0  # how long a statement waits for another connection's write lock

    def __init__(self, path: Path, fingerprint: str) -> None:
        self.path = path
        self.fingerprint = fingerprint
        self.lock = threading.RLock()
        self.rebuilt = False
        path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = self._connect_or_rebuild()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.busy_seconds, isolation_level=None,
                               check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # a cache: durability comes from the vault
        conn.execute(f"PRAGMA busy_timeout={int(self.busy_seconds * 1000)}")
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute("PRAGMA cache_size=-65536")
        # An INSERT OR REPLACE then fires the delete trigger of the row it replaces, which
        # the running totals rely on (index/schema.py, tallies).
        conn.execute("PRAGMA recursive_triggers=ON")
        return conn

    def _connect_or_rebuild(self) -> sqlite3.Connection:
        # Every writer of the vault indexes what it writes, so several processes open the
        # index at once: opening (and a rebuild) is serialised across them by a file lock,
        # and a rebuild of a readable index happens inside it, in one transaction, never by
        # deleting files another process still has open (its writes went to a deleted file
        # and the index came back "malformed").
        with open(f"{self.path}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            conn: sqlite3.Connection | None = None
            try:
                conn = self._connect()
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if version == SCHEMA_VERSION:
                    row = conn.execute("SELECT value FROM meta WHERE key='fingerprint'").fetchone()
                    if row and row[0] == self.fingerprint:
                        self._create_missing_indexes(conn)
                        return conn
                self._reset(conn)
                return conn
            except sqlite3.DatabaseError as exc:
                if conn is not None:
                    conn.close()
                if not _unreadable(exc):
                    # Busy, locked, read-only, full, I/O: the file may be fine and another
                    # process may have it open, so deleting it would be wrong (and, at a
                    # million facts, cost minutes of rebuild). Say what stopped us.
                    raise StorageError(f"{self.path}: cannot open the index: {exc}") from exc
            self._delete_files()
            try:
                conn = self._connect()
                self._reset(conn)
            except sqlite3.DatabaseError as exc:
                raise StorageError(f"{self.path}: cannot create the index: {exc}") from exc
            return conn

    def _reset(self, conn: sqlite3.Connection) -> None:
        """Empty the database and create the current schema, in one transaction."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            rows = conn.execute("SELECT type, name, sql FROM sqlite_master WHERE type IN "
                                "('table', 'view') AND name NOT LIKE 'sqlite_%'").fetchall()
            # Virtual tables first: dropping one drops its shadow tables.
            rows.sort(key=lambda r: not (r[2] or "").upper().startswith("CREATE VIRTUAL"))
            for kind, name, _sql in rows:
                quoted = '"' + name.replace('"', '""') + '"'
                conn.execute(f"DROP {'VIEW' if kind == 'view' else 'TABLE'} IF EXISTS {quoted}")
            ddl = DDL + "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
            for statement in _statements(ddl):
                conn.execute(statement)
            conn.execute("INSERT INTO meta VALUES ('fingerprint', ?)", (self.fingerprint,))
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        self.rebuilt = True

    def _create_missing_indexes(self, conn: sqlite3.Connection) -> None:
        """Create the query indexes and tally triggers a first index that stopped midway left
        out (Index.bulk_load), counting the totals afresh. A load under way in another process
        now gets them early: it only goes slower, and counts again when it ends."""
        have = set(conn.execute("SELECT type, name FROM sqlite_master"))
        missing = [sql for name, sql in QUERY_INDEXES.items() if ("index", name) not in have]
        recount = any(("trigger", name) not in have for name in TALLY_TRIGGERS)
        if not missing and not recount:
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            # Locked past the busy timeout by a load still under way, which creates them when
            # it ends: queries are only slower, and totals lag, until then.
            return
        try:
            for sql in missing:
                conn.execute(sql)
            if recount:
                restore_tallies(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _delete_files(self) -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT (rollback on error), serialised within the process."""
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def read(self, sql: str, params: tuple[object, ...] | dict[str, object] = ()) -> list[sqlite3.Row]:
        with self.lock:
            cursor = self.conn.execute(sql, params)
            cursor.row_factory = sqlite3.Row
            return cursor.fetchall()

    def close(self) -> None:
        with self.lock:
            self.conn.close()


def restore_tallies(conn: sqlite3.Connection) -> None:
    """Create the tally triggers and count every total afresh, in the caller's transaction:
    from its end on, the triggers keep them."""
    for sql in TALLY_TRIGGERS.values():
        conn.execute(sql)
    for sql in RECOUNT:
        conn.execute(sql)


def _statements(sql: str) -> Iterator[str]:
    """The statements of ``sql`` one by one (a trigger's body holds semicolons of its own)."""
    pending = ""
    for line in sql.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending
            pending = ""
    if pending.strip():
        raise ValueError(f"an incomplete SQL statement: {pending.strip()[:80]}")
