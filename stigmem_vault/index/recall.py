"""Ranked recall over the index (spec §13.5): the best full-text matches of a query, plus the
facts of the entities they reach through ``ref`` facts, scored by weighted signals.

    signal        value (0..1)
    lexical       FTS5 BM25 of the match, scaled by the best candidate's (0 for a neighbour)
    graph         1 / (1 + hops): 1 for a match, 1/2, 1/3, 1/4 for a neighbour 1-3 hops away
    source_trust  verdict weight x trust-class weight (as a FactRecord's source_trust)
    recency       0.5 ^ (age in days / 30), age from the fact's HLC to now (or to as_of)
    semantic      0: this index has no embeddings, so its weight is not used

    score = (sum of weight x signal over the used signals / sum of their weights)
            x confidence x (0.5 if contradicted, else 1)

*As of* an HLC (``filters.as_of``) recall reads the vault as it stood then: the facts live at
that point (§13.4), contradicted if a conflict partner was live then too, aged from then.

Identifiers are searched by their parts: the tokenizer splits on every character that is not a
letter or digit (``service:latency_p99_ms`` holds latency, p99 and ms), and the indexed text
also carries the parts of camelCase words (``openIncident``: open, incident).
"""

from __future__ import annotations

import math
import re
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stigmem_vault.index.query import (
    _PREFIXED_COLUMNS,
    TRUST_WEIGHT,
    Filters,
    Recalled,
    _where,
    now_ms,
    ref_edges,
    row_to_item,
)
from stigmem_vault.model.hlc import HLC, WALL_DIGITS

SIGNALS = ("lexical", "semantic", "graph", "source_trust", "recency")
USED_SIGNALS = ("lexical", "graph", "source_trust", "recency")
# Upstream's defaults (its SDKs send them whenever they send weights at all).
DEFAULT_WEIGHTS = {"lexical": 0.35, "semantic": 0.35, "graph": 0.15, "source_trust": 0.10,
                   "recency": 0.05}
# How much a verification verdict lets a reader trust the source (FactRecord.source_trust).
# A fact the vault vouched for ranks between one its source signed and an unattested one.
VERDICT_TRUST = {"valid": 1.0, "vouched": 0.75, "unattested": 0.5, "unknown-signer": 0.25}
RECENCY_HALF_LIFE_DAYS = 30.0
CONTRADICTED_FACTOR = 0.5
MAX_QUERY_TOKENS = 32
SEED_ENTITIES = 20  # a graph walk starts from the entities of this many best matches at most
MAX_REACHED = 200  # and stops adding entities beyond this many

_WORD = re.compile(r"\w+", re.UNICODE)
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def searchable(text: str) -> str:
    """``text`` as the full-text index receives it: itself, then the parts of its camelCase
    words (the tokenizer already splits at ``:_-./`` and every other non-alphanumeric)."""
    parts = [_CAMEL_BOUNDARY.sub(" ", word) for word in _WORD.findall(text)
             if not word.islower() and not word.isupper() and _CAMEL_BOUNDARY.search(word)]
    return " ".join([text, *parts]) if parts else text


def match_expression(text: str) -> str | None:
    """The FTS5 query for ``text``: its words OR-ed, each quoted (a word with ``_`` in it is
    then a phrase of its parts, in order); None when it has no words."""
    tokens = _WORD.findall(text.lower())[:MAX_QUERY_TOKENS]
    return " OR ".join(f'"{token}"' for token in tokens) if tokens else None


def resolved_weights(given: Mapping[str, float] | None) -> dict[str, float]:
    """The weights of a recall: the defaults, with the given ones in their place. Raises
    ValueError naming a key that is no signal, a weight outside 0-1, or weights that leave
    every used signal at 0."""
    weights = dict(DEFAULT_WEIGHTS)
    for key, value in (given or {}).items():
        if key not in DEFAULT_WEIGHTS:
            raise ValueError(f"{key!r} is not a signal; the signals are {', '.join(SIGNALS)}")
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not math.isfinite(value) or not 0.0 <= value <= 1.0:
            raise ValueError(f"{key} must be a number from 0 to 1, not {value!r}")
        weights[key] = float(value)
    if not any(weights[key] > 0 for key in USED_SIGNALS):
        raise ValueError("at least one of lexical, graph, source_trust and recency must be "
                         "above 0 (semantic is not used: this node has no embeddings)")
    return weights


@dataclass(slots=True)
class _Candidate:
    rowid: int
    fact_id: str
    entity: str
    hlc: str
    trust: str
    status: str
    confidence: float
    contradicted: bool
    lexical: float = 0.0
    hops: int = 0


_LIGHT = "f.rowid, f.id, f.entity, f.hlc, f.trust, f.status, f.confidence, f.contradicted"


def _candidate(row: tuple[Any, ...], lexical: float = 0.0, hops: int = 0) -> _Candidate:
    """A candidate from a row of ``_LIGHT`` (and perhaps a rank after it)."""
    rowid, fact_id, entity, hlc, trust, status, confidence, contradicted = row[:8]
    return _Candidate(rowid, fact_id, entity, hlc, trust, status, float(confidence),
                      bool(contradicted), lexical, hops)


def recall(conn: sqlite3.Connection, text: str, filters: Filters, limit: int = 10, *,
           weights: Mapping[str, float] | None = None, depth: int = 2,
           include_neighbors: bool = True) -> list[Recalled]:
    """The ``limit`` best-scoring facts that pass ``filters`` for ``text`` (module docstring)."""
    match = match_expression(text)
    if match is None:
        return []
    chosen = resolved_weights(weights)
    used = [(name, chosen[name]) for name in USED_SIGNALS if chosen[name] > 0]
    at_ms = HLC.parse(filters.as_of, "as_of").wall_ms if filters.as_of else now_ms()
    wanted = max(limit * 5, 50)
    matches = _lexical(conn, match, filters, wanted)
    scored = _scored(conn, list(matches.values()), filters, used, at_ms)
    if include_neighbors and matches and not _neighbours_cannot_rank(scored, used, limit):
        neighbours = _neighbours(conn, matches, filters, depth, wanted)
        scored += _scored(conn, neighbours, filters, used, at_ms)
    scored.sort(key=lambda entry: (entry[0], entry[1]))
    best = scored[:limit]
    if not best:
        return []
    current = now_ms()
    rows = {row[0]: row[1:] for row in conn.execute(
        f"SELECT f.rowid, {_PREFIXED_COLUMNS} FROM facts f WHERE f.rowid IN "
        f"({','.join('?' * len(best))})", [entry[2].rowid for entry in best])}
    return [Recalled(row_to_item(rows[entry[2].rowid], current), -entry[0], _breakdown(entry),
                     entry[2].hops) for entry in best]


# (-score, fact id, candidate, (lexical, graph, source_trust, recency), contradicted factor):
# sorting these puts the best first, ties broken by ascending id.
_Scored = tuple[float, str, _Candidate, tuple[float, float, float, float], float]
_DAY_MS = 86_400_000


def _scored(conn: sqlite3.Connection, candidates: list[_Candidate], filters: Filters,
            used: list[tuple[str, float]], at_ms: int) -> list[_Scored]:
    contradicted = (_contradicted_at(conn, candidates, filters.as_of) if filters.as_of
                    else {c.fact_id for c in candidates if c.contradicted})
    total = sum(weight for _name, weight in used)
    weight = dict(used)
    w_lexical, w_graph = weight.get("lexical", 0.0) / total, weight.get("graph", 0.0) / total
    w_trust, w_recency = weight.get("source_trust", 0.0) / total, weight.get("recency", 0.0) / total
    scored = []
    for candidate in candidates:  # hundreds per recall: plain arithmetic, no dicts
        graph = 1.0 / (1 + candidate.hops)
        trust = VERDICT_TRUST.get(candidate.status, 0.0) * TRUST_WEIGHT[candidate.trust]
        age_days = max(0.0, (at_ms - int(candidate.hlc[:WALL_DIGITS])) / _DAY_MS)
        recency = math.pow(0.5, age_days / RECENCY_HALF_LIFE_DAYS)
        blended = (w_lexical * candidate.lexical + w_graph * graph + w_trust * trust
                   + w_recency * recency)
        penalty = CONTRADICTED_FACTOR if candidate.fact_id in contradicted else 1.0
        scored.append((-blended * candidate.confidence * penalty, candidate.fact_id, candidate,
                       (candidate.lexical, graph, trust, recency), penalty))
    return scored


def _breakdown(entry: _Scored) -> dict[str, float]:
    negative, _fact_id, candidate, (lexical, graph, trust, recency), penalty = entry
    return {"lexical": round(lexical, 6), "semantic": 0.0, "graph": round(graph, 6),
            "source_trust": round(trust, 6), "recency": round(recency, 6),
            "trust": TRUST_WEIGHT[candidate.trust], "confidence": candidate.confidence,
            "contradicted_factor": penalty, "score": round(-negative, 6)}


def _neighbours_cannot_rank(scored: list[_Scored], used: list[tuple[str, float]],
                            limit: int) -> bool:
    """True when ``limit`` matches already score above anything a neighbour could: a
    neighbour has no lexical score and a graph score of 1/2 at most, every other signal,
    confidence and factor at most 1. Then the walk would change nothing, and is skipped."""
    if len(scored) < limit:
        return False
    weights = dict(used)
    total = sum(weights.values())
    ceiling = (0.5 * weights.get("graph", 0.0) + weights.get("source_trust", 0.0)
               + weights.get("recency", 0.0)) / total
    kth_best = -sorted(entry[0] for entry in scored)[limit - 1]
    return kth_best > ceiling


def _lexical(conn: sqlite3.Connection, match: str, filters: Filters,
             wanted: int) -> dict[int, _Candidate]:
    """The best ``wanted`` BM25 matches that pass the filters, by rowid."""
    where, params = _where(filters)
    where_sql = " AND ".join(where) or "1"
    # First the best 2x matches of the text alone (FTS5 ranks without touching the facts
    # table), then the filters: if enough pass, they are exactly the best that pass. Only what
    # scoring needs is read; whole rows only for the facts that make the cut.
    ranked = conn.execute(
        f"SELECT {_LIGHT}, m.rank FROM (SELECT rowid, bm25(facts_fts, 2.0, 2.0, 1.0, 0.5) AS rank"
        " FROM facts_fts WHERE facts_fts MATCH ? ORDER BY rank LIMIT ?) m"
        f" JOIN facts f ON f.rowid = m.rowid WHERE {where_sql} ORDER BY m.rank LIMIT ?",
        [match, 2 * wanted, *params, wanted]).fetchall()
    if len(ranked) < wanted:  # the filters left too few: rank every match that passes them
        ranked = conn.execute(
            f"SELECT {_LIGHT}, m.rank FROM (SELECT rowid, bm25(facts_fts, 2.0, 2.0, 1.0, 0.5)"
            " AS rank FROM facts_fts WHERE facts_fts MATCH ?) m"
            f" JOIN facts f ON f.rowid = m.rowid WHERE {where_sql} ORDER BY m.rank LIMIT ?",
            [match, *params, wanted]).fetchall()
    # BM25 magnitudes depend on corpus size; scale by the best match so lexical is 0..1.
    best = max((-float(row[-1]) for row in ranked), default=0.0) or 1.0
    return {row[0]: _candidate(row, lexical=max(0.0, -float(row[-1])) / best) for row in ranked}


def _neighbours(conn: sqlite3.Connection, candidates: dict[int, _Candidate],
                filters: Filters, depth: int, wanted: int) -> list[_Candidate]:
    """The facts of the entities the best matches reach through ``ref`` facts that pass the
    filters (both directions, breadth first, up to ``depth`` hops), newest first, at most
    ``wanted`` of them, leaving out the matches themselves (they keep hop 0)."""
    ordered = sorted(candidates.values(), key=lambda c: (-c.lexical, c.fact_id))  # not rowids:
    # a rebuilt index numbers its rows otherwise, and must answer alike
    hops: dict[str, int] = {}
    for candidate in ordered:
        if len(hops) >= SEED_ENTITIES:
            break
        hops.setdefault(candidate.entity, 0)
    frontier = list(hops)
    # The walk crosses only ref facts the caller may read: its scopes, gardens and verdicts.
    edge_filters = Filters(scopes=filters.scopes, min_confidence=filters.min_confidence,
                           include_unattested=filters.include_unattested,
                           include_vouched=filters.include_vouched, gardens=filters.gardens,
                           as_of=filters.as_of)
    for hop in range(1, depth + 1):
        if not frontier or len(hops) >= MAX_REACHED:
            break
        reached: list[str] = []
        for source, _relation, target, _confidence in ref_edges(conn, frontier, edge_filters):
            for entity in (source, target):
                if entity not in hops and len(hops) < MAX_REACHED:
                    hops[entity] = hop
                    reached.append(entity)
        frontier = reached
    neighbours = [entity for entity, hop in hops.items() if hop > 0]
    if not neighbours:
        return []
    where, params = _where(filters)
    rows = conn.execute(
        f"SELECT {_LIGHT} FROM facts f WHERE f.entity IN ({','.join('?' * len(neighbours))})"
        f" AND {' AND '.join(where) or '1'} ORDER BY f.hlc DESC LIMIT ?",
        [*neighbours, *params, wanted]).fetchall()
    return [_candidate(row, hops=hops[row[2]]) for row in rows if row[0] not in candidates]


def _contradicted_at(conn: sqlite3.Connection, candidates: list[_Candidate],
                     as_of: str) -> set[str]:
    """The candidates (each live at ``as_of``) that were contradicted then: in a conflict
    (§13.3) whose other fact was live at ``as_of`` too (stamped by then, not yet replaced)."""
    ids = [c.fact_id for c in candidates]
    if not ids:
        return set()
    marks = ",".join("?" * len(ids))
    rows = conn.execute(
        "SELECT c.fact_a, c.fact_b, (SELECT s.hlc FROM facts s WHERE s.id = o.superseded_by)"
        " FROM conflicts c JOIN facts o ON o.id = (CASE WHEN c.fact_a IN"
        f" ({marks}) THEN c.fact_b ELSE c.fact_a END)"
        f" WHERE (c.fact_a IN ({marks}) OR c.fact_b IN ({marks})) AND c.opened_hlc <= ?"
        " AND o.status IN ('valid', 'vouched')", [*ids, *ids, *ids, as_of]).fetchall()
    wanted = set(ids)
    found: set[str] = set()
    for fact_a, fact_b, replaced_at in rows:
        if replaced_at is None or replaced_at > as_of:
            found.update({fact_a, fact_b} & wanted)
    return found
