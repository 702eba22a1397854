"""Liveness and conflict rules (docs/spec.md §13), on a real SQLite index fed fact records."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from stigmem_vault.index.conflicts import conflict_id
from stigmem_vault.index.index import Index
from stigmem_vault.index.query import Filters
from stigmem_vault.model.hlc import HLC

from .support import BASE_MS, MULTI, OWNER, add, fact, new_index, record, vouched

ALL = Filters(include_superseded=True, include_expired=True, include_unverified=True)


@pytest.fixture
def index(tmp_path: Path) -> Index:
    opened = new_index(tmp_path / "index.sqlite3")
    yield opened
    opened.close()


def live_ids(index: Index, **filters: object) -> set[str]:
    return {item.fact.id for item in index.query(Filters(**filters))}


def state(index: Index, fact_id: str) -> tuple[bool, str | None, bool]:
    item = index.get(fact_id)
    assert item is not None
    return item.live, item.superseded_by, item.contradicted


def conflicts(index: Index) -> list[tuple[str, str, str, str, str | None]]:
    return sorted((c.id, c.fact_a.fact.id, c.fact_b.fact.id, c.status, c.resolution)
                  for c in index.conflicts())


# ------------------------------------------------------------------ liveness


def test_two_sources_with_different_values_open_one_conflict_and_both_stay_live(index: Index) -> None:
    a, b = fact("agent:codex", "review", 1), fact("agent:claude", "done", 2)
    add(index, a, b)
    assert live_ids(index) == {a.id, b.id}
    assert state(index, a.id) == (True, None, True)
    assert state(index, b.id) == (True, None, True)
    [(cid, low, high, status, resolution)] = conflicts(index)
    assert (low, high) == tuple(sorted((a.id, b.id)))
    assert (status, resolution) == ("open", None)
    # The id is specified: sha256("stigmem.conflict/1\n<low>\n<high>")[:32], order-free.
    expected = hashlib.sha256(f"stigmem.conflict/1\n{low}\n{high}".encode()).hexdigest()[:32]
    assert cid == expected == conflict_id(b.id, a.id)
    assert index.conflicts()[0].opened_hlc == b.hlc  # the later of the pair
    assert live_ids(index, include_contradicted=False) == set()


def test_equal_values_from_two_sources_agree(index: Index) -> None:
    a, b = fact("agent:codex", "review", 1), fact("agent:claude", "review", 2)
    add(index, a, b)
    assert live_ids(index) == {a.id, b.id}
    assert conflicts(index) == []


def test_same_type_matters_for_equality(index: Index) -> None:
    a = fact("agent:codex", "1", 1, value_type="string")
    b = fact("agent:claude", 1, 2, value_type="number")
    add(index, a, b)
    assert [c[3] for c in conflicts(index)] == ["open"]


def test_a_later_fact_by_the_same_source_supersedes_instead_of_conflicting(index: Index) -> None:
    old, new = fact("agent:codex", "review", 1), fact("agent:codex", "done", 2)
    add(index, new, old)  # arrival order does not matter: HLC order does
    assert live_ids(index) == {new.id}
    assert state(index, old.id) == (False, new.id, False)
    assert conflicts(index) == []
    assert {i.fact.id for i in index.query(Filters(include_superseded=True))} == {old.id, new.id}


def test_keys_are_separate_by_entity_relation_and_scope(index: Index) -> None:
    a = fact("agent:codex", "review", 1)
    others = [fact("agent:codex", "done", 2, scope="company"),
              fact("agent:codex", "done", 3, entity="user:bob"),
              fact("agent:codex", "done", 4, relation="codex:other")]
    add(index, a, *others)
    assert live_ids(index) == {a.id, *(o.id for o in others)}


def test_another_agent_cannot_retire_a_fact_by_naming_it(index: Index) -> None:
    target = fact("agent:codex", "review", 1)
    usurper = fact("agent:claude", "done", 2, supersedes=target.id)
    add(index, target, usurper)
    assert live_ids(index) == {target.id, usurper.id}
    assert state(index, target.id)[1] is None
    assert [c[3] for c in conflicts(index)] == ["open"]  # a contradiction, not an overwrite


def test_another_agent_cannot_retire_a_fact_by_deriving_from_it(index: Index) -> None:
    target = fact("agent:codex", "review", 1)
    other = fact("agent:claude", "review", 2, derived_from=[target.id])
    add(index, target, other)
    assert live_ids(index) == {target.id, other.id}


def test_the_owner_can_retire_another_authors_fact(index: Index) -> None:
    target = fact("agent:codex", "review", 1)
    amend = fact(OWNER, "done", 2, supersedes=target.id)
    add(index, target, amend)
    assert live_ids(index) == {amend.id}
    assert state(index, target.id) == (False, amend.id, False)
    assert conflicts(index) == []


def test_a_system_source_can_retire_another_authors_fact(index: Index) -> None:
    target = fact("agent:codex", "review", 1)
    add(index, target, fact("system:sync", "done", 2, supersedes=target.id))
    assert target.id not in live_ids(index)


def test_a_source_can_supersede_its_own_fact_across_keys(index: Index) -> None:
    old = fact("agent:codex", "review", 1)
    moved = fact("agent:codex", "review", 2, entity="user:bob", supersedes=old.id)
    add(index, old, moved)
    assert live_ids(index) == {moved.id}


def test_the_earliest_replacer_wins(index: Index) -> None:
    target = fact("agent:codex", "review", 1)
    first = fact(OWNER, "a", 2, supersedes=target.id)
    second = fact(OWNER, "b", 3, supersedes=target.id)
    add(index, second, target, first)
    assert index.get(target.id).superseded_by == first.id
    assert index.get(first.id).superseded_by == second.id  # same source, later
    assert live_ids(index) == {second.id}


def test_a_retraction_is_not_live_and_retires_its_target(index: Index) -> None:
    target = fact("agent:codex", "review", 1)
    retraction = fact("agent:codex", "review", 2, confidence=0.0, supersedes=target.id)
    add(index, target, retraction)
    assert live_ids(index) == set()
    assert index.get(retraction.id).live is False
    assert index.get(target.id).superseded_by == retraction.id
    assert {i.fact.id for i in index.query(ALL)} == {target.id, retraction.id}


def test_a_retraction_ends_a_conflict_as_obsolete_unless_the_owner_made_it(index: Index) -> None:
    a, b = fact("agent:codex", "review", 1), fact("agent:claude", "done", 2)
    add(index, a, b)
    add(index, fact("agent:claude", "done", 3, confidence=0.0, supersedes=b.id))
    [(_, _, _, status, resolution)] = conflicts(index)
    assert (status, resolution) == ("obsolete", None)
    assert live_ids(index) == {a.id}
    assert state(index, a.id) == (True, None, False)


def test_an_owner_retraction_resolves_the_conflict(index: Index) -> None:
    a, b = fact("agent:codex", "review", 1), fact("agent:claude", "done", 2)
    add(index, a, b)
    retraction = fact(OWNER, "done", 3, confidence=0.0, supersedes=b.id)
    add(index, retraction)
    assert [(c[3], c[4]) for c in conflicts(index)] == [("resolved", retraction.id)]


def test_a_resolution_by_the_owner_derived_from_both_resolves_the_conflict(index: Index) -> None:
    a, b = fact("agent:codex", "review", 1), fact("agent:claude", "done", 2)
    add(index, a, b)
    [(cid, *_)] = conflicts(index)
    resolution = fact(OWNER, "done", 3, derived_from=[a.id, b.id])
    add(index, resolution)
    assert conflicts(index) == [(cid, *sorted((a.id, b.id)), "resolved", resolution.id)]
    assert live_ids(index) == {resolution.id}


def test_a_later_update_by_a_non_owner_makes_the_conflict_obsolete(index: Index) -> None:
    a, b = fact("agent:codex", "review", 1), fact("agent:claude", "done", 2)
    add(index, a, b)
    add(index, fact("agent:claude", "review", 3))  # claude changed its mind: now they agree
    assert [(c[3], c[4]) for c in conflicts(index)] == [("obsolete", None)]


def test_a_conflict_reopens_when_its_pair_is_live_again(index: Index) -> None:
    a, b = fact("agent:codex", "review", 1), fact("agent:claude", "done", 2)
    add(index, a)
    [b_record] = add(index, b)
    later = fact("agent:claude", "review", 3)
    [later_record] = add(index, later)
    assert [c[3] for c in conflicts(index)] == ["obsolete"]
    index.apply([], [later_record.path])  # the update's file is gone: b is live again
    assert [c[3] for c in conflicts(index)] == ["open"]
    index.apply([], [b_record.path])
    # b's file is gone: a rebuilt index would never have seen b, so the conflict is not listed
    # (the cache must answer the same as a rebuild).
    assert conflicts(index) == []
    assert index.get(b.id).present is False
    assert live_ids(index) == {a.id}


def test_a_lone_fact_is_live_until_its_file_goes_and_never_at_zero_confidence(
        index: Index) -> None:
    # One fact on its key, no conflict recorded: the shortcut most keys of a first index take.
    kept = fact("agent:codex", "review", 1)
    [kept_record] = add(index, kept)
    doubt = fact("agent:codex", "maybe", 2, relation="codex:guess", confidence=0.0)
    add(index, doubt)
    assert live_ids(index) == {kept.id}
    assert state(index, kept.id) == (True, None, False)
    assert state(index, doubt.id) == (False, None, False)
    index.apply([], [kept_record.path])
    assert live_ids(index) == set() and index.get(kept.id).present is False
    assert state(index, kept.id) == (False, None, False)


def test_only_valid_files_take_part(index: Index) -> None:
    a = fact("agent:codex", "review", 1)
    forged = fact("agent:claude", "done", 2)
    index.apply([record(a), record(forged, status="unattested")], [])
    assert live_ids(index) == {a.id}
    assert conflicts(index) == []
    assert {i.fact.id for i in index.query(Filters(include_unverified=True))} == {a.id, forged.id}
    # An unverified fact cannot retire anything either.
    index.apply([record(fact(OWNER, "x", 3, supersedes=a.id), status="invalid-signature")], [])
    assert live_ids(index) == {a.id}


# ------------------------------------------------------------------ expiry


def _iso(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def test_expiry_is_applied_at_query_time(index: Index) -> None:
    past = fact("agent:codex", "review", 1, valid_until=_iso(timedelta(hours=-1)))
    future = fact("agent:claude", "review", 2, valid_until=_iso(timedelta(hours=1)))
    add(index, past, future)
    assert live_ids(index) == {future.id}
    expired = index.get(past.id)
    assert (expired.expired, expired.live) == (True, False)
    assert live_ids(index, include_expired=True) == {past.id, future.id}
    assert index.get(future.id).expired is False


def test_expiry_at_an_earlier_point_in_time(index: Index) -> None:
    until = datetime.fromtimestamp((BASE_MS + 50) / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    item = fact("agent:codex", "review", 1, valid_until=until)
    add(index, item)
    assert live_ids(index, as_of=str(HLC(BASE_MS + 10, 0, "node-a"))) == {item.id}
    assert live_ids(index, as_of=str(HLC(BASE_MS + 100, 0, "node-a"))) == set()


# ------------------------------------------------------------------ multi-valued


def test_a_multi_valued_relation_keeps_distinct_values_without_conflict(index: Index) -> None:
    a = fact("agent:codex", "red", 1, relation=MULTI)
    b = fact("agent:claude", "blue", 2, relation=MULTI)
    c = fact("agent:codex", "green", 3, relation=MULTI)  # same source, another value: both stay
    add(index, a, b, c)
    assert live_ids(index) == {a.id, b.id, c.id}
    assert conflicts(index) == []


def test_a_multi_valued_relation_still_supersedes_a_repeated_value(index: Index) -> None:
    a = fact("agent:codex", "red", 1, relation=MULTI)
    again = fact("agent:codex", "red", 2, relation=MULTI)
    other = fact("agent:claude", "red", 3, relation=MULTI)
    add(index, a, again, other)
    assert live_ids(index) == {again.id, other.id}
    assert index.get(a.id).superseded_by == again.id


def test_a_multi_valued_value_can_be_retracted(index: Index) -> None:
    a = fact("agent:codex", "red", 1, relation=MULTI)
    b = fact("agent:codex", "blue", 2, relation=MULTI)
    add(index, a, b, fact("agent:codex", "red", 3, relation=MULTI, confidence=0.0, supersedes=a.id))
    assert live_ids(index) == {b.id}


# ------------------------------------------------------------------ as_of


def test_as_of_shows_the_vault_as_it_stood_then(index: Index) -> None:
    old = fact("agent:codex", "review", 10)
    new = fact("agent:codex", "done", 20)
    retraction = fact("agent:codex", "done", 30, confidence=0.0, supersedes=new.id)
    add(index, old, new, retraction)

    def at(ms: int) -> set[str]:
        return live_ids(index, as_of=str(HLC(BASE_MS + ms, 0, "node-a")))

    assert at(5) == set()
    assert at(10) == {old.id}
    assert at(15) == {old.id}
    assert at(25) == {new.id}
    assert at(35) == set()
    assert live_ids(index) == set()
    assert {i.fact.id for i in index.query(Filters(as_of=str(HLC(BASE_MS + 25, 0, "node-a")),
                                                   include_superseded=True))} == {old.id, new.id}


# ------------------------------------------------------------------ derived state is a function of the facts


def test_conflicts_do_not_depend_on_the_order_facts_arrive_in(tmp_path: Path) -> None:
    """A rebuild sees every fact in one batch; an index kept live sees them one by one."""
    a, b = fact("agent:codex", "review", 1), fact("agent:claude", "done", 2)
    c, d = fact("agent:codex", "x", 1, relation="codex:other"), fact("agent:claude", "y", 2,
                                                                     relation="codex:other")
    resolution = fact(OWNER, "done", 3, derived_from=[a.id, b.id])
    update = fact("agent:claude", "x", 3, relation="codex:other")
    items = [a, b, resolution, c, d, update]

    live = new_index(tmp_path / "live.sqlite3")
    for item in items:
        add(live, item)
    rebuilt = new_index(tmp_path / "rebuilt.sqlite3")
    add(rebuilt, *reversed(items))
    try:
        assert conflicts(live) == conflicts(rebuilt)
        assert sorted(c[3] for c in conflicts(live)) == ["obsolete", "resolved"]
        assert ({i.fact.id: (i.live, i.superseded_by) for i in live.query(ALL)}
                == {i.fact.id: (i.live, i.superseded_by) for i in rebuilt.query(ALL)})
    finally:
        live.close()
        rebuilt.close()


def test_a_pair_that_was_never_live_together_is_no_conflict(index: Index) -> None:
    a = fact("agent:codex", "review", 1)
    retraction = fact("agent:codex", "review", 2, confidence=0.0, supersedes=a.id)
    b = fact("agent:claude", "done", 3)
    for item in (a, retraction, b):
        add(index, item)
    assert conflicts(index) == []


@pytest.mark.parametrize("order", ["replacer last", "replacer first"])
def test_a_replacer_stamped_earlier_than_a_pair_leaves_no_conflict_in_any_order(
        tmp_path: Path, order: str) -> None:
    """The soak's case: two live facts conflict, then a fact stamped *before* the later of
    them arrives and replaces it (an owner amendment from a process whose clock lags, an old
    fact pulled from a peer). Their live spans never overlapped, so there is no conflict,
    whichever arrived first, one by one or all at once (§13.3)."""
    a = fact("agent:codex", "review", 1)
    b = fact("agent:claude", "done", 5)
    amendment = fact(OWNER, "edited", 3, supersedes=b.id)  # stamped before b
    items = [a, b, amendment] if order == "replacer last" else [amendment, a, b]
    live = new_index(tmp_path / "live.sqlite3")
    for item in items:
        add(live, item)
    rebuilt = new_index(tmp_path / "rebuilt.sqlite3")
    add(rebuilt, *items)
    try:
        expected = [(conflict_id(a.id, amendment.id), *sorted((a.id, amendment.id)), "open",
                     None)]
        assert [c[:5] for c in conflicts(rebuilt)] == expected
        assert [c[:5] for c in conflicts(live)] == expected
    finally:
        live.close()
        rebuilt.close()


# ------------------------------------------------------------------ vouched facts (§9.5, §13.1)


def test_vouched_facts_of_two_sources_conflict_and_a_vouched_retraction_retires(index: Index) -> None:
    a, b = fact("agent:codex", "review", 1), fact("agent:claude", "done", 2)
    index.apply([vouched(a, OWNER), vouched(b, OWNER)], [])
    assert live_ids(index) == {a.id, b.id}
    assert [c[3] for c in conflicts(index)] == ["open"]

    retraction = fact("agent:codex", "review", 3, confidence=0.0)
    index.apply([vouched(retraction, OWNER)], [])
    assert live_ids(index) == {b.id}
    assert state(index, a.id) == (False, retraction.id, False)
    # Retired by a claim only vouched for: obsolete, never "resolved" (that takes the owner's
    # own, valid word), even though the owner vouched for it.
    assert [c[3] for c in conflicts(index)] == ["obsolete"]


def test_a_vouched_claim_never_retires_what_its_source_signed(index: Index) -> None:
    signed = fact("agent:claude", "review", 1)
    claimed = fact("agent:claude", "done", 2)  # codex puts words in claude's mouth
    index.apply([record(signed), vouched(claimed, "agent:codex")], [])
    assert live_ids(index) == {signed.id, claimed.id}  # no chain across the authority line
    assert [c[3] for c in conflicts(index)] == ["open"]

    explicit = fact("agent:claude", "gone", 3, confidence=0.0, supersedes=signed.id)
    index.apply([vouched(explicit, "agent:codex")], [])
    assert state(index, signed.id)[:2] == (True, None)
    assert state(index, claimed.id)[:2] == (False, explicit.id)  # vouched over vouched: equals

    # Claude's own later word replaces every earlier claim in its name.
    own = fact("agent:claude", "final", 4)
    index.apply([record(own)], [])
    assert live_ids(index) == {own.id}


def test_the_owner_vouching_has_the_owners_authority(index: Index) -> None:
    signed = fact("agent:claude", "review", 1)
    retraction = fact("agent:claude", "review", 2, confidence=0.0)
    index.apply([record(signed), vouched(retraction, OWNER)], [])
    assert live_ids(index) == set()
    assert state(index, signed.id)[:2] == (False, retraction.id)


def test_a_vouched_claim_gets_no_authority_from_the_name_it_uses(index: Index) -> None:
    signed = fact("agent:claude", "review", 1)
    as_system = fact("system:sync", "gone", 2, supersedes=signed.id)
    as_owner = fact(OWNER, "gone", 3, supersedes=signed.id)
    index.apply([record(signed), vouched(as_system, "agent:codex"),
                 vouched(as_owner, "agent:codex")], [])
    assert state(index, signed.id)[:2] == (True, None)
