"""The garden fold (model/gardens.py, spec §17.1): the garden its signed records make."""

from __future__ import annotations

import itertools
import random

from nacl.signing import SigningKey

from stigmem_vault.canonical.signing import sign_claim
from stigmem_vault.model import gardens as g
from stigmem_vault.model.fact import Fact, make_claim
from stigmem_vault.model.hlc import HLC
from stigmem_vault.model.values import make_value

GID = "stigmem://c945cbf2a5602002/garden/crew"
KEY = SigningKey(b"\x01" * 32)
_clock = itertools.count(1_800_000_000_000)


def record(source: str, relation: str, value: object, *, scope: str = "team",
           value_type: str = "string", confidence: float = 1.0) -> Fact:
    claim = make_claim(entity=GID, relation=relation, value=make_value(value_type, value),
                       source=source, scope=scope, confidence=confidence, garden_id=GID)
    return sign_claim(claim, HLC(next(_clock), 0, "n1"), "2026-12-06T00:00:00Z", KEY)


def member(by: str, who: str, role: str) -> Fact:
    return record(by, g.member_relation(who), g.member_value(role, who))


def test_the_creator_is_admin_and_only_admins_change_the_garden() -> None:
    made = record("user:alice", g.NAME, "Crew")
    bob_writer = member("user:alice", "user:bob", "writer")
    bob_promotes_himself = member("user:bob", "user:bob", "admin")
    bob_renames = record("user:bob", g.NAME, "Bob's")
    other_scope = record("user:alice", g.member_relation("user:carol"),
                         g.member_value("reader", "user:carol"), scope="company")
    wrong_hash = record("user:alice", g.member_relation("user:dave"),
                        g.member_value("admin", "user:eve"))
    folded = g.fold([made, bob_writer, bob_promotes_himself, bob_renames, other_scope, wrong_hash])
    garden = folded.garden
    assert garden is not None
    assert (garden.name, garden.scope, garden.created_by, garden.id) == ("Crew", "team",
                                                                        "user:alice", made.id)
    assert {p: m.role for p, m in garden.members.items()} == {"user:alice": "admin",
                                                               "user:bob": "writer"}
    assert {f.id for f, _ in folded.refused} == {bob_promotes_himself.id, bob_renames.id,
                                                 other_scope.id, wrong_hash.id}


def test_the_fold_does_not_depend_on_arrival_order() -> None:
    records = [record("user:alice", g.NAME, "Crew"),
               member("user:alice", "user:bob", "admin"),
               member("user:bob", "user:carol", "writer"),
               member("user:bob", "user:alice", "reader"),  # alice demoted by bob
               member("user:alice", "user:dave", "reader"),  # too late: alice is no admin now
               record("user:bob", g.DESCRIPTION, "ours")]
    expected = g.fold(records)
    for _ in range(20):
        shuffled = random.sample(records, len(records))
        again = g.fold(shuffled)
        assert again.garden == expected.garden
        assert [f.id for f, _ in again.refused] == [f.id for f, _ in expected.refused]
    garden = expected.garden
    assert garden is not None and garden.description == "ours"
    assert garden.role("user:alice") == "reader" and garden.role("user:dave") is None


def test_last_admin_deletion_and_recreation() -> None:
    made = record("user:alice", g.NAME, "Crew")
    leave = member("user:alice", "user:alice", g.REMOVED)
    retracted = record("user:alice", g.NAME, "Renamed", confidence=0.0)
    folded = g.fold([made, leave, retracted])
    assert folded.garden is not None and folded.garden.admins() == ["user:alice"]
    assert [f.id for f, _ in folded.refused] == [leave.id, retracted.id]
    deleted = record("user:alice", g.DELETED, True, value_type="boolean")
    assert g.fold([made, deleted]).garden is None
    again = record("user:carol", g.NAME, "New crew")
    reborn = g.fold([made, deleted, again]).garden
    assert reborn is not None and reborn.created_by == "user:carol"
    assert list(reborn.members) == ["user:carol"]
