"""Writing into the index: file states and the facts they hold.

The index receives ``FileRecord`` values (a file's stat, its verdict and, when it parsed, its
``Fact``); it never reads the vault itself, so it can be rebuilt from any source of facts and
tested without files. Each ``apply`` returns the (entity, relation, scope) keys it touched;
the caller recomputes liveness and conflicts for exactly those keys.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from stigmem_vault.canonical.cid import upstream_cid
from stigmem_vault.model.fact import Fact
from stigmem_vault.model.values import ValueType, expiry_instant

Key = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class FileRecord:
    path: str
    size: int
    mtime_ns: int
    sha256: str | None
    status: str
    reason: str
    fact: Fact | None = None


def fact_row(fact: Fact, status: str, path: str) -> tuple[object, ...]:
    value = fact.value
    until_ms = None
    if fact.valid_until is not None:
        until_ms = int(expiry_instant(fact.valid_until).timestamp() * 1000)
    return (
        fact.id, fact.entity, fact.relation, value.type.value, json.dumps(value.v),
        value.display(), float(value.v) if value.type is ValueType.NUMBER else None,  # type: ignore[arg-type]
        fact.source, fact.hlc, fact.timestamp, fact.confidence, fact.trust.value,
        fact.scope.value, fact.valid_until, until_ms, fact.supersedes,
        json.dumps(list(fact.derived_from)), fact.signer, fact.signature,
        upstream_cid(fact.claim), status, path,
    )


_INSERT_FACT = """
INSERT INTO facts (id, entity, relation, value_type, value_json, value_text, value_num, source,
                   hlc, timestamp, confidence, trust, scope, valid_until, valid_until_ms,
                   supersedes, derived_from, signer, signature, cid, status, path, present)
VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,1)
RETURNING rowid
"""


def apply(conn: sqlite3.Connection, records: list[FileRecord], removed: list[str]) -> set[Key]:
    """Record file states and facts; mark facts of removed or rewritten files absent."""
    dirty: set[Key] = set()
    for path in removed:
        _detach_file(conn, path, dirty)
        conn.execute("DELETE FROM files WHERE path = ?", (path,))
    for record in records:
        previous = conn.execute("SELECT fact_id FROM files WHERE path = ?",
                                (record.path,)).fetchone()
        fact = record.fact
        if previous and previous[0] and (fact is None or previous[0] != fact.id):
            _detach_file(conn, record.path, dirty)
        conn.execute(
            "INSERT OR REPLACE INTO files (path, size, mtime_ns, sha256, status, reason, fact_id)"
            " VALUES (?,?,?,?,?,?,?)",
            (record.path, record.size, record.mtime_ns, record.sha256, record.status,
             record.reason, fact.id if fact else None))
        if fact is None:
            continue
        known = conn.execute("UPDATE facts SET status = ?, path = ?, present = 1 WHERE id = ?"
                             " RETURNING rowid", (record.status, record.path, fact.id)).fetchone()
        if known is None:  # a fact seen for the first time: its text goes into FTS once
            (rowid,) = conn.execute(_INSERT_FACT, fact_row(fact, record.status, record.path)).fetchone()
            conn.execute(
                "INSERT INTO facts_fts (rowid, entity, relation, value_text, source)"
                " VALUES (?,?,?,?,?)",
                (rowid, fact.entity, fact.relation, fact.value.display(), fact.source))
        if fact.derived_from:
            conn.executemany("INSERT OR IGNORE INTO derivations VALUES (?, ?)",
                             [(fact.id, parent) for parent in fact.derived_from])
        dirty.add((fact.entity, fact.relation, fact.scope.value))
        # A supersession or resolution reaches into other keys: recompute those too.
        targets = [fact.supersedes] if fact.supersedes else []
        targets += list(fact.derived_from)
        if targets:
            marks = ",".join("?" * len(targets))
            dirty.update(conn.execute(
                f"SELECT entity, relation, scope FROM facts WHERE id IN ({marks})", targets))
    return dirty


def _detach_file(conn: sqlite3.Connection, path: str, dirty: set[Key]) -> None:
    """The file no longer holds its fact: the fact stays known but is no longer present."""
    for entity, relation, scope in conn.execute(
            "UPDATE facts SET present = 0, path = NULL WHERE path = ?"
            " RETURNING entity, relation, scope", (path,)).fetchall():
        dirty.add((entity, relation, scope))
