"""make_claim: every field validated and normalized once, the first bad field named."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from stigmem_vault.errors import InvalidFact
from stigmem_vault.model.fact import (
    MAX_DERIVED_FROM,
    Claim,
    Scope,
    TrustClass,
    make_claim,
)
from stigmem_vault.model.values import make_value

ID_A = "a" * 64
ID_B = "b" * 64
HASH = "sha256:" + "c" * 64


def claim(**overrides: object) -> Claim:
    fields: dict[str, object] = {"entity": "user:alice", "relation": "memory:role",
                                 "value": make_value("string", "engineer"), "source": "agent:codex"}
    fields.update(overrides)
    return make_claim(**fields)


def refused(field: str, **overrides: object) -> InvalidFact:
    with pytest.raises(InvalidFact) as info:
        claim(**overrides)
    assert info.value.field == field, info.value
    return info.value


def test_defaults_and_normalization() -> None:
    made = claim(entity=" User:Alice ", relation="Memory:Role", source="Agent:Codex",
                 trust=" Inferred ", scope="TEAM")
    assert made == Claim("user:alice", "memory:role", make_value("string", "engineer"),
                         "agent:codex", 1.0, TrustClass.INFERRED, Scope.TEAM)
    assert claim().scope is Scope.LOCAL and claim().trust is TrustClass.OBSERVED


def test_reserved_relations_only_for_system_sources() -> None:
    error = refused("relation", relation="stigmem:conflict", source="user:alice")
    assert "only system: sources" in error.reason
    refused("relation", relation="rel:subject", source="agent:codex")
    refused("relation", relation="rel:type", source="stigmem://n/agent/codex")
    # Other rel: relations are ordinary predicates (upstream's own vectors assert rel:owner).
    assert claim(relation="rel:owner", source="agent:codex").relation == "rel:owner"
    assert claim(relation="stigmem:conflict", source="system:indexer").relation == "stigmem:conflict"
    assert claim(relation="rel:object", source="stigmem://n/system/sync").source == "stigmem://n/system/sync"


def test_entity_and_source_rules_apply() -> None:
    refused("entity", entity="alice")
    refused("source", source="project:atlas")
    refused("relation", relation="role!")
    assert claim(relation="role").relation == "role"  # a bare name is a relation (§2.3)


@pytest.mark.parametrize("confidence", [0, 0.0, 0.5, 1, 1.0])
def test_confidence_in_range(confidence: float) -> None:
    assert claim(confidence=confidence).confidence == float(confidence)


@pytest.mark.parametrize("confidence", [-0.01, 1.0001, 2, math.nan, math.inf, -math.inf,
                                        10**400, True, False, "0.5", None])
def test_confidence_out_of_range_or_wrong_type(confidence: object) -> None:
    refused("confidence", confidence=confidence)


@pytest.mark.parametrize(("field", "raw"), [("scope", "private"), ("scope", "Teams"), ("scope", 1),
                                            ("trust", "guessed"), ("trust", "stale_risk"),
                                            ("trust", None)])
def test_scope_and_trust_enums(field: str, raw: object) -> None:
    error = refused(field, **{field: raw})
    assert "is not one of" in error.reason


def test_enum_values() -> None:
    assert [s.value for s in Scope] == ["local", "team", "company", "public"]
    assert [t.value for t in TrustClass] == ["observed", "inferred", "reported", "stale-risk"]
    assert claim(trust="stale-risk").trust is TrustClass.STALE_RISK


def test_supersedes_must_be_a_fact_id() -> None:
    assert claim(supersedes=" " + ID_A.upper() + " ").supersedes == ID_A
    for bad in ["a" * 63, "g" * 64, HASH, 42, ["a" * 64]]:
        refused("supersedes", supersedes=bad)


def test_derived_from_is_a_sorted_unique_set() -> None:
    made = claim(derived_from=[ID_B, HASH, ID_A.upper(), ID_B])
    assert made.derived_from == (ID_A, ID_B, HASH)
    assert claim(derived_from=None).derived_from == ()
    assert claim(derived_from=(ID_A,)).derived_from == (ID_A,)


@pytest.mark.parametrize("bad", [ID_A, ["user:alice"], ["sha256:xyz"], [42], {"a": ID_A},
                                 ["a" * 65]])
def test_derived_from_refuses_non_links(bad: object) -> None:
    refused("derived_from", derived_from=bad)


def test_derived_from_length_limit() -> None:
    ids = [f"{i:064x}" for i in range(MAX_DERIVED_FROM + 1)]
    assert len(claim(derived_from=ids[:-1]).derived_from) == MAX_DERIVED_FROM
    refused("derived_from", derived_from=ids)


def test_valid_until() -> None:
    assert claim(valid_until=" 2026-11-24T10:00:00Z ").valid_until == "2026-11-24T10:00:00Z"
    refused("valid_until", valid_until="next week")
    refused("valid_until", valid_until=datetime(2026, 1, 1, tzinfo=UTC))


def test_first_bad_field_is_named_with_a_reason() -> None:
    error = refused("scope", scope="nowhere")
    assert str(error) == "scope: 'nowhere' is not one of: local, team, company, public"
