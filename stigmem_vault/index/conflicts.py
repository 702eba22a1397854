"""Liveness and contradictions, recomputed per (entity, relation, scope) key.

Within a key, the facts of each garden (and those of no garden) are apart: a fact replaces, or
conflicts with, only facts of its own garden, except by an explicit ``supersedes``. So a fact
a principal may not read (a garden it is not in) never changes what it sees on its own facts.

Rules (docs/spec.md §Liveness and conflicts):

* A fact F *replaces* a fact S when F is valid and present, and either ``F.supersedes == S`` or
  (F is on S's key and S is in ``F.derived_from``) — provided F's source is S's source, the
  vault owner, or a system source. Nobody else can retire another author's fact.
* Implicitly, a later fact (by HLC) from the same source on the same key replaces the earlier
  one; on a multi-valued relation only when the value is the same.
* A fact is *live* when it is valid, present, not replaced, and its confidence is above 0.
  Expiry (``valid_until``) is applied at query time, since it depends on the clock.
* On a single-valued relation (the default when no schema says otherwise), every pair of live
  facts with different values is an open conflict. A conflict whose pair is no longer both live
  is ``resolved`` if the vault owner replaced one of them, else ``obsolete``. A pair that was
  live together at some HLC (each fact is live from its HLC to its first replacer's) is
  recorded even when both facts arrive already replaced, so the order of arrival never matters.

Everything here is derived from the facts table, so a rebuild gives identical answers.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterable
from itertools import combinations, pairwise
from typing import Any

from stigmem_vault.index.ingest import Key
from stigmem_vault.model.identifiers import is_system_source

_CHUNK = 900
# A facts row as sqlite3 returns it: (id, source, hlc, confidence, value_type, value_json,
# status, present, garden_id).
_Row = tuple[Any, ...]


def conflict_id(fact_a: str, fact_b: str) -> str:
    low, high = sorted((fact_a, fact_b))
    return hashlib.sha256(f"stigmem.conflict/1\n{low}\n{high}".encode()).hexdigest()[:32]


def recompute(conn: sqlite3.Connection, keys: Iterable[Key], owner: str,
              is_multi: Callable[[str], bool]) -> None:
    for key in sorted(set(keys)):
        _recompute_key(conn, key, owner, is_multi(key[1]))


def _has_authority(source: str, target_source: str, owner: str) -> bool:
    return source in (target_source, owner) or is_system_source(source)


def _recompute_key(conn: sqlite3.Connection, key: Key, owner: str, multi: bool) -> None:
    rows = conn.execute(
        "SELECT id, source, hlc, confidence, value_type, value_json, status, present, garden_id"
        " FROM facts WHERE entity = ? AND relation = ? AND scope = ?", key).fetchall()
    facts = {r[0]: r for r in rows}
    if not facts:
        return
    candidates = {i: r for i, r in facts.items() if r[6] == "valid" and r[7]}
    replaced: dict[str, list[tuple[str, str, str]]] = {}  # id -> [(hlc, replacer id, source)]

    ids = list(facts)
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start:start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        for fid, source, hlc, supersedes, derived, entity, relation, scope, garden in conn.execute(
                "SELECT id, source, hlc, supersedes, derived_from, entity, relation, scope,"
                " garden_id"
                f" FROM facts WHERE status = 'valid' AND present = 1 AND (supersedes IN ({marks})"
                f" OR id IN (SELECT fact_id FROM derivations WHERE parent IN ({marks})))",
                chunk + chunk):
            targets = {supersedes} if supersedes in facts else set()
            if (entity, relation, scope) == key:
                targets |= {d for d in json.loads(derived) if d in facts and facts[d][8] == garden}
            for target in targets - {fid}:
                if _has_authority(source, facts[target][1], owner):
                    replaced.setdefault(target, []).append((hlc, fid, source))

    # Same source, same key: each fact is replaced by the next one in HLC order.
    chains: dict[tuple[str, ...], list[tuple[str, str]]] = {}
    for fid, row in candidates.items():
        group = (row[8], row[1], row[4], row[5]) if multi else (row[8], row[1])
        chains.setdefault(group, []).append((row[2], fid))
    for chain in chains.values():
        chain.sort()
        for (_, older), (hlc, newer) in pairwise(chain):
            replaced.setdefault(older, []).append((hlc, newer, facts[newer][1]))

    superseded_by = {fid: min(options)[1] for fid, options in replaced.items()}
    live = [fid for fid, row in candidates.items() if fid not in superseded_by and row[3] > 0]

    open_pairs: set[tuple[str, str]] = set()
    if not multi:
        for a, b in combinations(sorted(live), 2):
            if facts[a][8] == facts[b][8] and (facts[a][4], facts[a][5]) != (facts[b][4], facts[b][5]):
                open_pairs.add((a, b))
    contradicted = {fid for pair in open_pairs for fid in pair}
    past_pairs: set[tuple[str, str]] = set()
    if not multi:
        for garden in {row[8] for row in candidates.values()}:
            past_pairs |= _past_pairs(facts, {i: r for i, r in candidates.items() if r[8] == garden},
                                      replaced)

    conn.executemany(
        "UPDATE facts SET superseded_by = ?, live = ?, contradicted = ? WHERE id = ?",
        [(superseded_by.get(fid), int(fid in live), int(fid in contradicted), fid)
         for fid in facts])
    _store_conflicts(conn, key, facts, open_pairs, past_pairs, replaced, owner)


def _past_pairs(facts: dict[str, _Row], candidates: dict[str, _Row],
                replaced: dict[str, list[tuple[str, str, str]]]) -> set[tuple[str, str]]:
    """Pairs with unequal values that were both live at some HLC, derived from the facts alone.

    A fact is live from its own HLC until the HLC of its first replacer. Recording exactly these
    pairs (rather than whatever pairs happened to be live together when a batch arrived) makes
    the conflicts table the same whether the facts came one by one or all in one rebuild.
    """
    ends = {fid: min(options)[0] for fid, options in replaced.items()}
    spans = sorted((str(row[2]), fid) for fid, row in candidates.items() if float(row[3]) > 0)
    pairs: set[tuple[str, str]] = set()
    active: list[tuple[str | None, str]] = []  # (end, id) of facts still live at the sweep point
    for start, fid in spans:
        active = [(end, other) for end, other in active if end is None or end > start]
        end = ends.get(fid)
        if end is not None and end <= start:
            continue  # replaced before (or as) it began: never live
        for _, other in active:
            if (facts[fid][4], facts[fid][5]) != (facts[other][4], facts[other][5]):
                pairs.add((min(fid, other), max(fid, other)))
        active.append((end, fid))
    return pairs


def _store_conflicts(conn: sqlite3.Connection, key: Key, facts: dict[str, _Row],
                     open_pairs: set[tuple[str, str]], past_pairs: set[tuple[str, str]],
                     replaced: dict[str, list[tuple[str, str, str]]], owner: str) -> None:
    existing = {row[0]: row for row in conn.execute(
        "SELECT id, fact_a, fact_b, status, resolution FROM conflicts"
        " WHERE entity = ? AND relation = ? AND scope = ?", key)}
    for a, b in open_pairs:
        cid = conflict_id(a, b)
        opened = max(str(facts[a][2]), str(facts[b][2]))
        conn.execute(
            "INSERT INTO conflicts VALUES (?,?,?,?,?,?,?,'open',NULL)"
            " ON CONFLICT (id) DO UPDATE SET status = 'open', resolution = NULL",
            (cid, *key, a, b, opened))
    for a, b in sorted(past_pairs - open_pairs):  # live together once, not any more
        cid = conflict_id(a, b)
        if cid not in existing:
            opened = max(str(facts[a][2]), str(facts[b][2]))
            conn.execute("INSERT INTO conflicts VALUES (?,?,?,?,?,?,?,'obsolete',NULL)",
                         (cid, *key, a, b, opened))
            existing[cid] = (cid, a, b, "obsolete", None)
    open_ids = {conflict_id(a, b) for a, b in open_pairs}
    recorded = open_ids | {conflict_id(a, b) for a, b in past_pairs}
    for cid, a, b, status, resolution in existing.values():
        if cid not in recorded:
            # Its pair was never live together after all (a replacer stamped before one of
            # them arrived later): a rebuild would not record it, so neither does this index.
            conn.execute("DELETE FROM conflicts WHERE id = ?", (cid,))
            continue
        if cid in open_ids:
            continue
        by_owner = sorted(option for fid in (a, b) for option in replaced.get(fid, [])
                          if option[2] == owner or is_system_source(option[2]))
        new = ("resolved", by_owner[0][1]) if by_owner else ("obsolete", None)
        if new != (status, resolution):
            conn.execute("UPDATE conflicts SET status = ?, resolution = ? WHERE id = ?",
                         (*new, cid))
