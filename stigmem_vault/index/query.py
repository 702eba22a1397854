"""Reading the index: filtered queries, lookups, provenance links, ranked recall, conflicts."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime

from stigmem_vault.model.fact import Claim, Fact, Scope, TrustClass
from stigmem_vault.model.hlc import HLC
from stigmem_vault.model.values import Value, ValueType

FACT_COLUMNS = ("id, entity, relation, value_type, value_json, source, hlc, timestamp, confidence,"
                " trust, scope, valid_until, valid_until_ms, supersedes, derived_from, signer,"
                " signature, status, path, present, superseded_by, live, contradicted, cid, garden_id,"
                " vouched_by")
_PREFIXED_COLUMNS = ", ".join("f." + name.strip() for name in FACT_COLUMNS.split(","))

# How much each trust class counts in recall (observed is first-hand).
TRUST_WEIGHT = {"observed": 1.0, "reported": 0.8, "inferred": 0.6, "stale-risk": 0.3}


@dataclass(frozen=True, slots=True)
class IndexedFact:
    """A fact as the index knows it: the fact plus its verification and liveness."""

    fact: Fact
    status: str
    path: str | None
    present: bool
    live: bool
    superseded_by: str | None
    contradicted: bool
    expired: bool
    cid: str = ""
    vouched_by: str | None = None  # with status 'vouched': the principal that vouched for it


@dataclass(frozen=True, slots=True)
class Recalled:
    item: IndexedFact
    score: float
    breakdown: dict[str, float] = field(default_factory=dict)
    hops: int = 0  # 0: the text matched it; n: a fact of an entity n ref hops from a match


@dataclass(frozen=True, slots=True)
class ConflictRecord:
    id: str
    entity: str
    relation: str
    scope: str
    fact_a: IndexedFact | None
    fact_b: IndexedFact | None
    opened_hlc: str
    status: str
    resolution: str | None


@dataclass(frozen=True, slots=True)
class Filters:
    """Query filters. ``None`` means "any"."""

    entity: str | None = None
    relation: str | None = None
    source: str | None = None
    scopes: tuple[str, ...] | None = None
    trust: tuple[str, ...] | None = None
    value_type: str | None = None
    signer: str | None = None
    supersedes: str | None = None
    min_confidence: float | None = None
    include_superseded: bool = False
    include_expired: bool = False
    include_contradicted: bool = True
    winners_only: bool = False  # of contradicted facts, keep each key's current winner only
    include_vouched: bool = True  # facts vouched for by a principal allowed to (§9.5)
    include_unattested: bool = False  # facts whose signer is not bound to their source
    include_unverified: bool = False  # facts whose file is not valid (unattested, forged...)
    include_absent: bool = False  # facts whose file was deleted
    attested: bool | None = None  # True: only valid facts (signer bound to source); False: others
    as_of: str | None = None  # an HLC: the vault as it stood then
    after_timestamp: str | None = None  # only facts asserted after this ISO time
    # Gardens: None = any fact; else facts outside gardens plus those of these gardens.
    gardens: tuple[str, ...] | None = None
    garden_id: str | None = None  # only the facts of this garden
    newest_first: bool = False
    before: tuple[str, str] | None = None  # keyset cursor (hlc, id): rows after it in the order
    limit: int | None = None
    offset: int = 0


def row_to_item(row: sqlite3.Row | tuple[object, ...], now_ms: int) -> IndexedFact:
    (fid, entity, relation, vtype, vjson, source, hlc, timestamp, confidence, trust, scope,
     valid_until, until_ms, supersedes, derived, signer, signature, status, path, present,
     superseded_by, live, contradicted, cid, garden_id, vouched_by) = tuple(row)
    claim = Claim(entity, relation, Value(ValueType(vtype), json.loads(vjson)), source,
                  confidence, TrustClass(trust), Scope(scope), valid_until, supersedes,
                  tuple(json.loads(derived)), garden_id)
    fact = Fact(fid, claim, hlc, timestamp, signer, signature)
    expired = until_ms is not None and until_ms <= now_ms
    return IndexedFact(fact, status, path, bool(present), bool(live) and not expired,
                       superseded_by, bool(contradicted), expired, cid, vouched_by)


def now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


def select_facts(conn: sqlite3.Connection, filters: Filters) -> list[IndexedFact]:
    where, params = _where(filters)
    if filters.before is not None:
        where.append("(f.hlc, f.id) < (?, ?)" if filters.newest_first else "(f.hlc, f.id) > (?, ?)")
        params += list(filters.before)
    order = "f.hlc DESC, f.id DESC" if filters.newest_first else "f.hlc, f.id"
    sql = f"SELECT {_PREFIXED_COLUMNS} FROM facts f WHERE {' AND '.join(where) or '1'} ORDER BY {order}"
    if filters.limit is not None:
        sql += " LIMIT ? OFFSET ?"
        params += [filters.limit, filters.offset]
    current = now_ms()
    return [row_to_item(row, current) for row in conn.execute(sql, params)]


def count_facts(conn: sqlite3.Connection, filters: Filters) -> int:
    where, params = _where(filters)
    count: int = conn.execute(f"SELECT count(*) FROM facts f WHERE {' AND '.join(where) or '1'}",
                              params).fetchone()[0]
    return count


def _where(filters: Filters) -> tuple[list[str], list[object]]:
    where: list[str] = []
    params: list[object] = []
    for column, value in (("entity", filters.entity), ("relation", filters.relation),
                          ("source", filters.source), ("value_type", filters.value_type),
                          ("signer", filters.signer), ("supersedes", filters.supersedes)):
        if value is not None:
            where.append(f"f.{column} = ?")
            params.append(value)
    if filters.garden_id is not None:
        where.append("f.garden_id = ?")
        params.append(filters.garden_id)
    if filters.gardens is not None:
        where.append(f"(f.garden_id IS NULL OR f.garden_id IN ({','.join('?' * len(filters.gardens))}))")
        params.extend(filters.gardens)
    for column, values in (("scope", filters.scopes), ("trust", filters.trust)):
        if values is not None:
            where.append(f"f.{column} IN ({','.join('?' * len(values))})")
            params.extend(values)
    if filters.min_confidence is not None:
        where.append("f.confidence >= ?")
        params.append(filters.min_confidence)
    if filters.after_timestamp is not None:
        where.append("f.timestamp > ?")
        params.append(filters.after_timestamp)
    if filters.attested is not None:
        where.append("f.status = 'valid'" if filters.attested else "f.status != 'valid'")
    if not filters.include_unverified:
        statuses = ["valid"]
        if filters.include_vouched or filters.include_unattested:
            statuses.append("vouched")
        if filters.include_unattested:
            statuses.append("unattested")
        where.append(f"f.status IN ({','.join(repr(s) for s in statuses)})")
    if filters.as_of is not None:
        cutoff = HLC.parse(filters.as_of, "as_of")
        where.append("f.hlc <= ?")
        params.append(filters.as_of)
        if not filters.include_superseded:
            # Live as of then: not yet replaced by a fact that existed then, not a retraction.
            where.append("f.confidence > 0 AND (f.superseded_by IS NULL OR"
                         " (SELECT s.hlc FROM facts s WHERE s.id = f.superseded_by) > ?)")
            params.append(filters.as_of)
        if not filters.include_expired:
            where.append("(f.valid_until_ms IS NULL OR f.valid_until_ms > ?)")
            params.append(cutoff.wall_ms)
        return where, params
    if not filters.include_absent:
        where.append("f.present = 1")
    if not filters.include_superseded:
        where.append("f.superseded_by IS NULL AND f.confidence > 0")
    if not filters.include_expired:
        where.append("(f.valid_until_ms IS NULL OR f.valid_until_ms > ?)")
        params.append(now_ms())
    if not filters.include_contradicted:
        where.append("f.contradicted = 0")
    if filters.winners_only:
        # The winner of a contradiction: highest confidence, then latest HLC, then id.
        where.append("(f.contradicted = 0 OR NOT EXISTS (SELECT 1 FROM facts g WHERE"
                     " g.entity = f.entity AND g.relation = f.relation AND g.scope = f.scope"
                     " AND g.garden_id IS f.garden_id"
                     " AND g.contradicted = 1 AND g.live = 1 AND g.id != f.id AND"
                     " (g.valid_until_ms IS NULL OR g.valid_until_ms > ?) AND"
                     " (g.confidence, g.hlc, g.id) > (f.confidence, f.hlc, f.id)))")
        params.append(now_ms())
    return where, params


def ref_edges(conn: sqlite3.Connection, entities: list[str],
              filters: Filters) -> list[tuple[str, str, str, float]]:
    """``ref`` facts that pass ``filters`` (live ones by default) touching ``entities``, both
    ways: (from, relation, to, confidence)."""
    if not entities:
        return []
    marks = ",".join("?" * len(entities))
    where, params = _where(filters)
    common = " AND ".join(["f.value_type = 'ref'", *where])
    rows = conn.execute(
        f"SELECT f.entity, f.relation, f.value_text, f.confidence FROM facts f"
        f" WHERE f.entity IN ({marks}) AND {common} UNION SELECT f.entity, f.relation,"
        f" f.value_text, f.confidence FROM facts f WHERE f.value_text IN ({marks}) AND {common}"
        " ORDER BY 1, 2, 3", [*entities, *params, *entities, *params]).fetchall()
    return [(a, r, b, c) for a, r, b, c in rows]


def get_fact(conn: sqlite3.Connection, fact_id: str) -> IndexedFact | None:
    rows = conn.execute(f"SELECT {FACT_COLUMNS} FROM facts WHERE id = ?", (fact_id,)).fetchall()
    return row_to_item(rows[0], now_ms()) if rows else None


def get_facts(conn: sqlite3.Connection, fact_ids: list[str]) -> list[IndexedFact]:
    now = now_ms()
    rows = conn.execute(f"SELECT {FACT_COLUMNS} FROM facts WHERE id IN "
                        f"({','.join('?' * len(fact_ids))})", fact_ids).fetchall()
    return [row_to_item(row, now) for row in rows]


def garden_records(conn: sqlite3.Connection) -> list[IndexedFact]:
    """Every present, valid garden record (model/gardens.py): ``garden:`` facts on a garden's
    own entity, tagged with that garden."""
    current = now_ms()
    return [row_to_item(row, current) for row in conn.execute(
        f"SELECT {FACT_COLUMNS} FROM facts WHERE relation >= 'garden:' AND relation < 'garden;'"
        " AND garden_id = entity AND status = 'valid' AND present = 1")]


def find_by_cid(conn: sqlite3.Connection, cid: str) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT id FROM facts WHERE cid = ? ORDER BY live DESC, hlc DESC", (cid,))]


def find_by_prefix(conn: sqlite3.Connection, prefix: str, limit: int = 5) -> list[str]:
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1) if prefix else ""
    return [r[0] for r in conn.execute(
        "SELECT id FROM facts WHERE id >= ? AND id < ? ORDER BY id LIMIT ?",
        (prefix, upper, limit))]


def derived_children(conn: sqlite3.Connection, fact_id: str) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT fact_id FROM derivations WHERE parent = ? ORDER BY fact_id", (fact_id,))]


def superseders(conn: sqlite3.Connection, fact_id: str) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT id FROM facts WHERE supersedes = ? ORDER BY hlc", (fact_id,))]


def list_conflicts(conn: sqlite3.Connection, status: str | None = None,
                   key: tuple[str, str, str] | None = None) -> list[ConflictRecord]:
    # Only conflicts between facts whose files are still here: a rebuilt index never sees a
    # deleted file, so counting such conflicts would make the cache's answers depend on history.
    where: list[str] = ["EXISTS (SELECT 1 FROM facts a WHERE a.id = fact_a AND a.present = 1)",
                        "EXISTS (SELECT 1 FROM facts b WHERE b.id = fact_b AND b.present = 1)"]
    params: list[object] = []
    if status is not None:
        where.append("status = ?")
        params.append(status)
    if key is not None:
        where.append("entity = ? AND relation = ? AND scope = ?")
        params.extend(key)
    sql = ("SELECT id, entity, relation, scope, fact_a, fact_b, opened_hlc, status, resolution"
           f" FROM conflicts WHERE {' AND '.join(where) or '1'} ORDER BY opened_hlc DESC, id")
    result = []
    for cid, entity, relation, scope, a, b, opened, stat, resolution in conn.execute(
            sql, params).fetchall():
        result.append(ConflictRecord(cid, entity, relation, scope, get_fact(conn, a),
                                     get_fact(conn, b), opened, stat, resolution))
    return result
