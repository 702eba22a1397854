"""Liveness and contradictions, recomputed per (entity, relation, scope) key.

Within a key, the facts of each garden (and those of no garden) are apart: a fact replaces, or
conflicts with, only facts of its own garden, except by an explicit ``supersedes``. So a fact
a principal may not read (a garden it is not in) never changes what it sees on its own facts.

Rules (docs/spec.md §Liveness and conflicts):

* The *candidates* are the present facts whose verdict is ``valid`` (signed by their source) or
  ``vouched`` (signed by a principal V who may vouch for other sources).
* A fact F *replaces* a fact S when F is a candidate, and either ``F.supersedes == S`` or
  (F is on S's key and S is in ``F.derived_from``) — provided F has authority over S: the
  principal that speaks for F (its source if valid, its voucher V if vouched) is S's source,
  the vault owner, or a system source; or F and S are both only vouched for, in the name of
  the same source. A vouched claim never retires what its source really signed unless V may.
* Implicitly, a later fact (by HLC) from the same source on the same key replaces the earlier
  one it has authority over; on a multi-valued relation only when the value is the same.
* A fact is *live* when it is a candidate, not replaced, and its confidence is above 0.
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
from itertools import combinations
from typing import Any

from stigmem_vault.model.identifiers import is_system_source

Key = tuple[str, str, str]  # (entity, relation, scope): what liveness and conflicts are computed per

_CHUNK = 900  # bound parameters per statement
_KEYS_PER_READ = _CHUNK // 3
# A facts row as sqlite3 returns it: (id, source, hlc, confidence, value_type, value_json,
# status, present, vouched_by, garden_id).
_Row = tuple[Any, ...]
_CANDIDATE = ("valid", "vouched")
_CANDIDATE_SQL = "('valid', 'vouched')"
# Who replaced a fact: (hlc, replacer id, the principal that speaks for the replacer: its
# source when it is valid, None when it is only vouched for, so it never resolves a conflict).
_Replacer = tuple[str, str, str | None]


def conflict_id(fact_a: str, fact_b: str) -> str:
    low, high = sorted((fact_a, fact_b))
    return hashlib.sha256(f"stigmem.conflict/1\n{low}\n{high}".encode()).hexdigest()[:32]


def recompute(conn: sqlite3.Connection, keys: Iterable[Key], owner: str,
              is_multi: Callable[[str], bool]) -> None:
    """Recompute liveness and conflicts of ``keys``, a few hundred keys per read: a first
    index of a large vault dirties every key, and four statements per key were most of it."""
    ordered = sorted(set(keys))
    for start in range(0, len(ordered), _KEYS_PER_READ):
        batch = ordered[start:start + _KEYS_PER_READ]
        facts_of = _facts_of(conn, batch)
        replaced_of = _replaced(conn, facts_of, owner)
        existing_of = _conflicts_of(conn, batch)
        updates: list[tuple[object, ...]] = []
        for key in batch:
            facts = facts_of.get(key)
            if not facts:
                continue
            existing = existing_of.get(key)
            if len(facts) == 1 and not existing:
                updates.append(_lone_fact(facts, replaced_of.get(key, {})))
            else:
                updates += _recompute_key(conn, key, facts, replaced_of.get(key, {}),
                                          existing or {}, owner, is_multi(key[1]))
        conn.executemany(
            "UPDATE facts SET superseded_by = ?, live = ?, contradicted = ? WHERE id = ?", updates)


def _on_keys(conn: sqlite3.Connection, keys: list[Key], table: str,
             columns: str) -> dict[Key, dict[str, _Row]]:
    """key -> {first column: row} of ``table``'s rows on ``keys`` (``columns``, comma-separated,
    the first an id), read through a VALUES table joined on the table's key index."""
    marks = ",".join(["(?,?,?)"] * len(keys))
    found: dict[Key, dict[str, _Row]] = {}
    for row in conn.execute(
            f"WITH k(e, r, s) AS (VALUES {marks}) SELECT {columns}, t.entity, t.relation,"
            f" t.scope FROM k CROSS JOIN {table} t"
            " ON t.entity = k.e AND t.relation = k.r AND t.scope = k.s",
            [part for key in keys for part in key]):
        found.setdefault((row[-3], row[-2], row[-1]), {})[row[0]] = row[:-3]
    return found


def _facts_of(conn: sqlite3.Connection, keys: list[Key]) -> dict[Key, dict[str, _Row]]:
    """key -> {id: row} of every fact on ``keys``."""
    return _on_keys(conn, keys, "facts", "t.id, t.source, t.hlc, t.confidence, t.value_type,"
                    " t.value_json, t.status, t.present, t.vouched_by, t.garden_id")


def _conflicts_of(conn: sqlite3.Connection, keys: list[Key]) -> dict[Key, dict[str, _Row]]:
    """key -> {conflict id: (id, fact_a, fact_b, status, resolution)} recorded on ``keys``."""
    return _on_keys(conn, keys, "conflicts", "t.id, t.fact_a, t.fact_b, t.status, t.resolution")


def _replaced(conn: sqlite3.Connection, facts_of: dict[Key, dict[str, _Row]],
              owner: str) -> dict[Key, dict[str, list[_Replacer]]]:
    """key -> id -> the facts that replace it explicitly: by ``supersedes`` (from any key), or
    by naming it in ``derived_from`` on its own key and garden, with authority over it."""
    key_of = {fid: key for key, facts in facts_of.items() for fid in facts}
    ids = list(key_of)
    seen: set[str] = set()
    replaced: dict[Key, dict[str, list[_Replacer]]] = {}
    for start in range(0, len(ids), _CHUNK // 2):
        chunk = ids[start:start + _CHUNK // 2]
        marks = ",".join("?" * len(chunk))
        for fid, source, voucher, hlc, supersedes, derived, entity, relation, scope, garden \
                in conn.execute(
                "SELECT id, source, vouched_by, hlc, supersedes, derived_from, entity, relation,"
                f" scope, garden_id FROM facts WHERE status IN {_CANDIDATE_SQL} AND present = 1 AND"
                f" (supersedes IN ({marks})"
                f" OR id IN (SELECT fact_id FROM derivations WHERE parent IN ({marks})))",
                chunk + chunk):
            if fid in seen:  # named by facts of two chunks
                continue
            seen.add(fid)
            targets = {(key_of[supersedes], supersedes)} if supersedes in key_of else set()
            own = (entity, relation, scope)
            if own in facts_of:
                facts = facts_of[own]
                targets |= {(own, d) for d in json.loads(derived)
                            if key_of.get(d) == own and facts[d][9] == garden}
            for key, target in targets:
                if target != fid and _has_authority(source, voucher, facts_of[key][target], owner):
                    replaced.setdefault(key, {}).setdefault(target, []).append(
                        (hlc, fid, _speaker(source, voucher)))
    return replaced


def _has_authority(source: str, voucher: str | None, target: _Row, owner: str) -> bool:
    """May a fact of ``source`` (vouched for by ``voucher``, None if valid) replace ``target``?"""
    speaker = source if voucher is None else voucher
    if speaker in (target[1], owner) or is_system_source(speaker):
        return True
    # Two claims merely vouched for in one source's name are equals: the later may update the
    # earlier; a fact the source really signed is never retired by a claim only vouched for.
    return voucher is not None and target[6] == "vouched" and source == target[1]


def _takes_part(row: _Row) -> bool:
    """A fact that takes part in liveness and conflicts: signed (or vouched for), present."""
    return row[6] in _CANDIDATE and bool(row[7])


def _lone_fact(facts: dict[str, _Row], replaced: dict[str, list[_Replacer]]) -> tuple[object, ...]:
    """``_recompute_key`` of a key that holds one fact and no recorded conflict (most keys of
    a vault, every one touched by a first index): no pair, so no conflict to store, and only
    an explicit replacer can retire it. Its (superseded_by, live, contradicted, id)."""
    ((fid, row),) = facts.items()
    options = replaced.get(fid)
    superseded_by = min(options)[1] if options else None
    live = bool(row[7]) and superseded_by is None and lone_live(row[6], row[3])
    return superseded_by, int(live), 0, fid


def lone_live(status: str, confidence: float) -> bool:
    """Whether a present fact with this verdict and confidence, alone on its key and replaced
    by nothing, is live (what ``recompute`` makes it): a first index inserts such a fact with
    its liveness instead of reading it back to work it out (index/ingest.py ``FreshLoad``)."""
    return status in _CANDIDATE and confidence > 0


def _recompute_key(conn: sqlite3.Connection, key: Key, facts: dict[str, _Row],
                   replaced: dict[str, list[_Replacer]], existing: dict[str, _Row], owner: str,
                   multi: bool) -> list[tuple[object, ...]]:
    """Store the key's conflicts; return its facts' (superseded_by, live, contradicted, id)."""
    candidates = {i: r for i, r in facts.items() if _takes_part(r)}
    values = {i: _value(r) for i, r in facts.items()}  # parsed once: compared pairwise below

    # Same source, same key: each fact is replaced by the next one in HLC order that has
    # authority over it (for facts of one verdict, simply the next one).
    chains: dict[tuple[object, ...], list[tuple[str, str]]] = {}
    for fid, row in candidates.items():
        group: tuple[object, ...] = (row[9], row[1], *values[fid]) if multi else (row[9], row[1])
        chains.setdefault(group, []).append((row[2], fid))
    for chain in chains.values():
        chain.sort()
        for position, (_, older) in enumerate(chain):
            for later in range(position + 1, len(chain)):  # almost always just the next one
                hlc, newer = chain[later]
                row = facts[newer]
                if _has_authority(row[1], row[8], facts[older], owner):
                    replaced.setdefault(older, []).append((hlc, newer, _speaker(row[1], row[8])))
                    break

    superseded_by = {fid: min(options)[1] for fid, options in replaced.items()}
    live = [fid for fid, row in candidates.items() if fid not in superseded_by and row[3] > 0]

    open_pairs: set[tuple[str, str]] = set()
    if not multi:
        for a, b in combinations(sorted(live), 2):
            if facts[a][9] == facts[b][9] and values[a] != values[b]:
                open_pairs.add((a, b))
    contradicted = {fid for pair in open_pairs for fid in pair}
    past_pairs: set[tuple[str, str]] = set()
    if not multi:
        for garden in {row[9] for row in candidates.values()}:
            past_pairs |= _past_pairs(values, {i: r for i, r in candidates.items()
                                               if r[9] == garden}, replaced)

    _store_conflicts(conn, key, facts, open_pairs, past_pairs, replaced, owner, existing)
    return [(superseded_by.get(fid), int(fid in live), int(fid in contradicted), fid)
            for fid in facts]


def _value(row: _Row) -> tuple[str, object]:
    """A row's value for equality: 7 and 7.0 are one number (their spellings differ)."""
    return row[4], json.loads(row[5])


def _speaker(source: str, voucher: str | None) -> str | None:
    return source if voucher is None else None


def _past_pairs(values: dict[str, tuple[str, object]], candidates: dict[str, _Row],
                replaced: dict[str, list[_Replacer]]) -> set[tuple[str, str]]:
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
            if values[fid] != values[other]:
                pairs.add((min(fid, other), max(fid, other)))
        active.append((end, fid))
    return pairs


def _store_conflicts(conn: sqlite3.Connection, key: Key, facts: dict[str, _Row],
                     open_pairs: set[tuple[str, str]], past_pairs: set[tuple[str, str]],
                     replaced: dict[str, list[_Replacer]], owner: str,
                     existing: dict[str, _Row]) -> None:
    existing = dict(existing)
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
                          if option[2] is not None
                          and (option[2] == owner or is_system_source(option[2])))
        new = ("resolved", by_owner[0][1]) if by_owner else ("obsolete", None)
        if new != (status, resolution):
            conn.execute("UPDATE conflicts SET status = ?, resolution = ? WHERE id = ?",
                         (*new, cid))
