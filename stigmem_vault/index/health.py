"""Reading the index for health sweeps and change feeds: what ``lint`` and ``changes`` need.

Every function takes the scopes to look in (the caller's, already fenced) and reads only facts
whose files are here and verify as the caller's listings would show them (``statuses``), so a
sweep never reports on a fact its caller could not list.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from stigmem_vault.index.index import Index
from stigmem_vault.index.query import FACT_COLUMNS, IndexedFact, now_ms, row_to_item

LIVE = "f.live = 1 AND (f.valid_until_ms IS NULL OR f.valid_until_ms > :now)"
_PREFIXED = ", ".join("f." + name.strip() for name in FACT_COLUMNS.split(","))


def _marks(prefix: str, values: Sequence[str]) -> tuple[str, dict[str, object]]:
    names = [f":{prefix}{i}" for i in range(len(values))]
    return ",".join(names) or "NULL", {f"{prefix}{i}": v for i, v in enumerate(values)}


def _where(scopes: Sequence[str], statuses: Sequence[str], entity: str | None,
           relation: str | None) -> tuple[str, dict[str, object]]:
    scope_marks, params = _marks("s", scopes)
    status_marks, more = _marks("v", statuses)
    params.update(more, entity=entity, relation=relation, now=now_ms())
    return (f"f.present = 1 AND f.scope IN ({scope_marks}) AND f.status IN ({status_marks})"
            " AND (:entity IS NULL OR f.entity = :entity)"
            " AND (:relation IS NULL OR f.relation = :relation)"), params


def _facts(index: Index, sql: str, params: dict[str, object]) -> list[IndexedFact]:
    with index.db.lock:
        rows = index.db.conn.execute(sql, params).fetchall()
    now = now_ms()
    return [row_to_item(row, now) for row in rows]


def count(index: Index, scopes: Sequence[str], statuses: Sequence[str], entity: str | None,
          relation: str | None) -> int:
    where, params = _where(scopes, statuses, entity, relation)
    with index.db.lock:
        found: int = index.db.conn.execute(f"SELECT count(*) FROM facts f WHERE {where}",
                                           params).fetchone()[0]
    return found


def expiring(index: Index, scopes: Sequence[str], statuses: Sequence[str], entity: str | None,
             relation: str | None, until_ms: int) -> list[IndexedFact]:
    """Facts that are live but for their expiry, expired or expiring by ``until_ms``."""
    where, params = _where(scopes, statuses, entity, relation)
    return _facts(index, f"SELECT {_PREFIXED} FROM facts f WHERE {where} AND f.live = 1"
                         " AND f.valid_until_ms IS NOT NULL AND f.valid_until_ms <= :until"
                         " ORDER BY f.valid_until_ms, f.id", {**params, "until": until_ms})


def live(index: Index, scopes: Sequence[str], statuses: Sequence[str], entity: str | None,
         relation: str | None, extra: str = "1",
         extra_params: dict[str, object] | None = None) -> list[IndexedFact]:
    """Live, unexpired facts (newest first), narrowed further by the SQL condition ``extra``."""
    where, params = _where(scopes, statuses, entity, relation)
    return _facts(index, f"SELECT {_PREFIXED} FROM facts f WHERE {where} AND {LIVE}"
                         f" AND ({extra}) ORDER BY f.hlc DESC, f.id DESC",
                  {**params, **(extra_params or {})})


def orphans(index: Index, scopes: Sequence[str], statuses: Sequence[str],
            entity: str | None) -> list[tuple[str, str]]:
    """(entity, scope) pairs that have facts here but none live now."""
    where, params = _where(scopes, statuses, entity, None)
    with index.db.lock:
        rows = index.db.conn.execute(
            f"SELECT f.entity, f.scope FROM facts f WHERE {where} GROUP BY f.entity, f.scope"
            f" HAVING SUM(CASE WHEN {LIVE} THEN 1 ELSE 0 END) = 0 ORDER BY 1, 2",
            params).fetchall()
    return [(e, s) for e, s in rows]


def with_live_facts(index: Index, names: Sequence[str], scopes: Sequence[str],
                    statuses: Sequence[str]) -> set[str]:
    """Which of ``names`` are the entity, or the id, of a live fact in ``scopes``."""
    found: set[str] = set()
    for start in range(0, len(names), 400):
        chunk = names[start:start + 400]
        where, params = _where(scopes, statuses, None, None)
        name_marks, more = _marks("n", chunk)
        with index.db.lock:
            rows = index.db.conn.execute(
                f"SELECT f.entity FROM facts f WHERE {where} AND {LIVE} AND f.entity IN"
                f" ({name_marks}) UNION SELECT f.id FROM facts f WHERE {where} AND {LIVE}"
                f" AND f.id IN ({name_marks})", {**params, **more}).fetchall()
        found.update(r[0] for r in rows)
    return found


# ---------------------------------------------------------------- change feed


def generation(index: Index) -> str:
    """A token naming this build of the index: a rebuild numbers its rows anew, so a change
    cursor is only meaningful within the generation it was taken in."""
    query = "SELECT value FROM meta WHERE key = 'generation'"
    with index.db.lock:
        row = index.db.conn.execute(query).fetchone()
    if row is not None:
        return str(row[0])
    with index.db.transaction() as conn:  # the first feed of this build names it
        conn.execute("INSERT OR IGNORE INTO meta VALUES ('generation', ?)",
                     (secrets.token_hex(8),))
        return str(conn.execute(query).fetchone()[0])


def changed_since(index: Index, after_row: int, scopes: Sequence[str],
                  statuses: Sequence[str], limit: int) -> tuple[list[tuple[int, IndexedFact]], int]:
    """Facts first indexed after row ``after_row`` (in index order), whatever their liveness,
    at most ``limit``; and the newest row number of the index (where an empty feed resumes)."""
    where, params = _where(scopes, statuses, None, None)
    with index.db.lock:
        conn = index.db.conn
        conn.execute("BEGIN")  # one snapshot: another process may index between the reads
        try:
            rows = conn.execute(f"SELECT f.rowid, {_PREFIXED} FROM facts f WHERE {where}"
                                " AND f.rowid > :after ORDER BY f.rowid LIMIT :limit",
                                {**params, "after": after_row, "limit": limit}).fetchall()
            newest: int = conn.execute("SELECT coalesce(max(rowid), 0) FROM facts").fetchone()[0]
        finally:
            conn.execute("COMMIT")
    now = now_ms()
    return [(row[0], row_to_item(row[1:], now)) for row in rows], newest


__all__ = ["changed_since", "count", "expiring", "generation", "live", "orphans",
           "with_live_facts"]
