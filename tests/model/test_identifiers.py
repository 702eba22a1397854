"""Identifiers, sources and relations: normalization, and every way they are refused."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stigmem_vault.errors import InvalidFact
from stigmem_vault.model.identifiers import (
    MAX_IDENTIFIER_LENGTH,
    is_reserved_relation,
    is_system_source,
    normalize_identifier,
    normalize_relation,
    normalize_source,
    source_kind,
)


@pytest.mark.parametrize(("raw", "normal"), [
    ("user:alice", "user:alice"),
    ("  User:Alice  ", "user:alice"),
    ("project:Big  Atlas\tPlan", "project:big-atlas-plan"),
    ("STIGMEM://Acme/Project/Atlas", "stigmem://acme/project/atlas"),
    ("stigmem://acme/project/atlas/sub/part", "stigmem://acme/project/atlas/sub/part"),
    ("urn:isbn:0451450523", "urn:isbn:0451450523"),
    ("user:Cafe\u0301", "user:caf\u00e9"),  # NFC
    ("user:\u00c9mile", "user:\u00e9mile"),
])
def test_identifier_normalization(raw: str, normal: str) -> None:
    assert normalize_identifier(raw, "entity") == normal


@pytest.mark.parametrize("raw", [
    "alice",                       # no scheme
    "Alice Smith",                 # no scheme, spaces
    "1user:alice",                 # scheme must start with a letter
    ":alice",
    "stigmem://acme/project",      # formal needs authority/type/id
    "stigmem://acme//atlas",
    "stigmem://acme/project/../etc",
    "stigmem://acme/project/./x",
    "stigmem://acme/project/a//b",
])
def test_identifier_without_valid_shape_is_refused(raw: str) -> None:
    with pytest.raises(InvalidFact) as info:
        normalize_identifier(raw, "entity")
    assert info.value.field == "entity"


def test_missing_scheme_error_says_what_to_do() -> None:
    with pytest.raises(InvalidFact, match="no scheme; use a typed identifier such as user:alice"):
        normalize_identifier("alice", "entity")


@pytest.mark.parametrize("char", [*'"<>\\|`[]{}#^', "\x00", "\x1b", "\x7f", "\x9f"])
def test_forbidden_characters_are_refused(char: str) -> None:
    with pytest.raises(InvalidFact, match="forbidden character"):
        normalize_identifier(f"user:al{char}ice", "entity")


@pytest.mark.parametrize("raw", ["", "   ", "\t\n"])
def test_empty_identifier_is_refused(raw: str) -> None:
    with pytest.raises(InvalidFact, match="must not be empty"):
        normalize_identifier(raw, "entity")


def test_identifier_length_limit() -> None:
    longest = "user:" + "a" * (MAX_IDENTIFIER_LENGTH - 5)
    assert normalize_identifier(longest, "entity") == longest
    with pytest.raises(InvalidFact, match="longer than"):
        normalize_identifier(longest + "a", "entity")


@pytest.mark.parametrize("raw", [None, 42, ["user:alice"], b"user:alice"])
def test_non_string_identifier_is_refused(raw: object) -> None:
    with pytest.raises(InvalidFact, match="must be a string"):
        normalize_identifier(raw, "entity")


@settings(max_examples=300)
@given(st.text(max_size=30))
def test_normalization_is_idempotent(raw: str) -> None:
    # A file holds the normal form and the parser insists on it; a second pass must not change it.
    for candidate in (raw, "user:" + raw, "stigmem://a/b/" + raw):
        try:
            normal = normalize_identifier(candidate, "entity")
        except InvalidFact:
            continue
        assert normalize_identifier(normal, "entity") == normal


@pytest.mark.parametrize("raw", ["user:\u03aa\u0301", "user:\u1fbc\u0301", "user:\u03ab\u0301"])
def test_normalization_is_idempotent_for_greek_that_lowercases_decomposed(raw: str) -> None:
    # Regression: NFC then lower() left "ϊ" + U+0301, which NFC composes on the next pass, so a
    # fact written with this entity was refused as "not in normal form" when read back.
    normal = normalize_identifier(raw, "entity")
    assert normalize_identifier(normal, "entity") == normal


@pytest.mark.parametrize(("source", "kind"), [
    ("user:alice", "user"),
    ("agent:codex", "agent"),
    ("system:indexer", "system"),
    ("stigmem://node-1/agent/x", "agent"),
    ("stigmem://node-1/user/bob", "user"),
    ("stigmem://node-1/system/sync", "system"),
])
def test_source_kinds(source: str, kind: str) -> None:
    assert normalize_source(source) == source
    assert source_kind(source) == kind
    assert is_system_source(source) == (kind == "system")


@pytest.mark.parametrize("raw", ["project:atlas", "urn:isbn:1", "stigmem://acme/project/atlas",
                                 "group:team", "usr:alice"])
def test_non_principal_source_is_refused(raw: str) -> None:
    with pytest.raises(InvalidFact, match="is not a principal") as info:
        normalize_source(raw)
    assert info.value.field == "source"


@pytest.mark.parametrize(("raw", "normal"), [
    ("codex:current_state", "codex:current_state"),
    ("  Memory:Role ", "memory:role"),
    ("a:b:c", "a:b:c"),
    (" Role ", "role"),  # a bare name, as upstream accepts (§2.3)
    ("org-x:path/with.dots-and_under", "org-x:path/with.dots-and_under"),
])
def test_relation_normalization(raw: str, normal: str) -> None:
    assert normalize_relation(raw) == normal


@pytest.mark.parametrize("raw", ["memory:", ":role", "1x:role", "memory:ro le",
                                 "memory:role!", "mem ory:role", "", "   "])
def test_bad_relations_are_refused(raw: str) -> None:
    with pytest.raises(InvalidFact) as info:
        normalize_relation(raw)
    assert info.value.field == "relation"


def test_relation_length_and_type() -> None:
    with pytest.raises(InvalidFact, match="longer than"):
        normalize_relation("a:" + "b" * MAX_IDENTIFIER_LENGTH)
    with pytest.raises(InvalidFact, match="must be a string"):
        normalize_relation(7)


@pytest.mark.parametrize(("relation", "reserved"), [
    ("stigmem:conflict", True), ("rel:subject", True), ("rel:object", True), ("rel:type", True),
    ("rel:owner", False), ("stigmemx:a", False),
    ("relation:a", False), ("memory:rel:x", False),
])
def test_reserved_relation_prefixes(relation: str, reserved: bool) -> None:
    assert is_reserved_relation(relation) is reserved


@pytest.mark.parametrize("normalize", [normalize_identifier, normalize_relation, normalize_source])
@pytest.mark.parametrize("raw", ["user:\ud800", "agent:a\udfffb", "memory:x\udc00"])
def test_lone_surrogates_are_refused_by_name(normalize: object, raw: str) -> None:
    """JSON's "\\ud800" decodes to a lone surrogate, which no UTF-8 file can hold."""
    with pytest.raises(InvalidFact, match="lone surrogate") as caught:
        normalize(raw, "the_field")  # type: ignore[operator]
    assert caught.value.field == "the_field"
