"""Relation schemas: parsing (naming the bad key) and enforcement on values."""

from __future__ import annotations

import pytest

from stigmem_vault.errors import InvalidFact
from stigmem_vault.model.relations import Cardinality, RelationSchema, parse_schema
from stigmem_vault.model.values import ValueType, make_value


def test_full_schema_parses() -> None:
    schema = parse_schema({"relation": "Codex:Current_State", "type": "string",
                           "cardinality": "multi", "enum": ["draft", "review", "done"],
                           "description": "Where Codex thinks the project stands."})
    assert schema == RelationSchema("codex:current_state", ValueType.STRING, Cardinality.MULTI,
                                    ("draft", "review", "done"), None, None,
                                    "Where Codex thinks the project stands.")


def test_minimal_schema_defaults() -> None:
    schema = parse_schema({"relation": "memory:role"})
    assert schema.type is None and schema.cardinality is Cardinality.SINGLE
    assert schema.enum is None and schema.min is None and schema.description == ""
    # No type: any value passes.
    for value in (make_value("number", 3), make_value("null", None), make_value("string", "x")):
        schema.check(value)


@pytest.mark.parametrize(("data", "field"), [
    ({"relation": "a:b", "typo": 1}, "typo"),
    ({"relation": "a:b", "zeta": 1, "alpha": 2}, "alpha, zeta"),
    ({"relation": "no namespace"}, "relation"),
    ({}, "relation"),
    ({"relation": "a:b", "type": "integer"}, "type"),
    ({"relation": "a:b", "cardinality": "many"}, "cardinality"),
    ({"relation": "a:b", "enum": []}, "enum"),
    ({"relation": "a:b", "enum": "draft"}, "enum"),
    ({"relation": "a:b", "type": "number", "enum": [1, "two"]}, "enum.v"),
    ({"relation": "a:b", "type": "number", "min": "0"}, "min"),
    ({"relation": "a:b", "type": "number", "max": True}, "max"),
    ({"relation": "a:b", "type": "string", "min": 0}, "min/max"),
    ({"relation": "a:b", "description": 5}, "description"),
])
def test_bad_schema_names_the_field(data: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidFact) as info:
        parse_schema(data)
    assert info.value.field == field


def test_unknown_keys_error_lists_the_allowed_ones() -> None:
    with pytest.raises(InvalidFact, match=r"unknown schema key.*allowed.*cardinality"):
        parse_schema({"relation": "a:b", "required": True})


def test_typed_enum_members_are_normalized_like_values() -> None:
    schema = parse_schema({"relation": "a:b", "type": "ref", "enum": ["User:Alice", "user:bob"]})
    assert schema.enum == ("user:alice", "user:bob")
    schema.check(make_value("ref", "USER:ALICE"))


def test_type_is_enforced() -> None:
    schema = parse_schema({"relation": "a:b", "type": "number"})
    schema.check(make_value("number", 1))
    with pytest.raises(InvalidFact, match="must be of type number, got string") as info:
        schema.check(make_value("string", "1"))
    assert info.value.field == "value (schema a:b)"


def test_enum_is_enforced() -> None:
    schema = parse_schema({"relation": "a:b", "type": "string", "enum": ["draft", "done"]})
    schema.check(make_value("string", "done"))
    with pytest.raises(InvalidFact, match="'review' is not one of: 'draft', 'done'"):
        schema.check(make_value("string", "review"))


def test_untyped_enum_compares_values() -> None:
    schema = parse_schema({"relation": "a:b", "enum": [1, "one"]})
    schema.check(make_value("number", 1))
    schema.check(make_value("string", "one"))
    with pytest.raises(InvalidFact):
        schema.check(make_value("number", 2))


@pytest.mark.parametrize(("v", "ok"), [(0, True), (10, True), (5.5, True), (-0.001, False),
                                       (10.5, False), (11, False)])
def test_min_max_are_enforced(v: float, ok: bool) -> None:
    schema = parse_schema({"relation": "a:b", "type": "number", "min": 0, "max": 10})
    if ok:
        schema.check(make_value("number", v))
    else:
        with pytest.raises(InvalidFact, match=r"below the minimum|above the maximum"):
            schema.check(make_value("number", v))


def test_bounds_without_type_only_apply_to_numbers() -> None:
    schema = parse_schema({"relation": "a:b", "max": 1})
    schema.check(make_value("string", "anything"))
    with pytest.raises(InvalidFact, match="above the maximum"):
        schema.check(make_value("number", 2))
