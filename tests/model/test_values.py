"""Typed values: each type's checks, at the boundary where a value enters."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stigmem_vault.errors import InvalidFact
from stigmem_vault.model.values import (
    MAX_STRING_BYTES,
    MAX_TEXT_BYTES,
    Value,
    ValueType,
    make_value,
    parse_cli_value,
    parse_iso_datetime,
    ref_target,
)

FACT_ID = "a" * 64


def refused(type_name: str, v: object, match: str | None = None) -> InvalidFact:
    with pytest.raises(InvalidFact, match=match) as info:
        make_value(type_name, v)
    return info.value


def test_unknown_type_is_refused_naming_the_types() -> None:
    error = refused("integer", 3, "not a value type")
    assert error.field == "value.type"
    assert "string, text, number, boolean, datetime, ref, null" in error.reason


# ----------------------------------------------------------------- number


@pytest.mark.parametrize("v", ["abc", "42", "", None, [1], {"a": 1}])
def test_number_refuses_non_numbers(v: object) -> None:
    assert refused("number", v, "must be a number").field == "value.v"


@pytest.mark.parametrize("v", [True, False])
def test_bool_is_not_a_number(v: bool) -> None:
    refused("number", v, "must be a number, got boolean")


@pytest.mark.parametrize("v", [math.nan, math.inf, -math.inf])
def test_number_must_be_finite(v: float) -> None:
    refused("number", v, "finite")


def test_number_refuses_huge_integers_without_crashing() -> None:
    # Regression: float(10**400) raised OverflowError straight out of make_value (and so out of
    # the fact-file parser, for a file holding `value_number: 1000...0`).
    refused("number", 10**400, "too large")
    refused("number", 2**53 + 1, "exactly")


def test_integer_literal_of_a_large_double_reads_as_that_double() -> None:
    # Regression: JCS and fact files write the double 5.237244185839319e16 as the literal
    # 52372441858393190; reading it back refused the fact as "not exactly representable".
    assert make_value("number", 52372441858393190).v == 5.237244185839319e16
    assert make_value("number", 10**20).v == 1e20
    refused("number", 52372441858393191, "exactly")
    refused("number", 123456789012345678901234, "exactly")


@pytest.mark.parametrize(("v", "held"), [(42, 42), (42.0, 42.0), (-0.0, -0.0), (4.5, 4.5),
                                        (2**60, float(2**60)), (1e21, 1e21), (5e-324, 5e-324)])
def test_number_normalization(v: float, held: float) -> None:
    value = make_value("number", v)
    assert value.v == held and type(value.v) is type(held)
    assert str(value.v) == str(held)  # the spelling the upstream cid hashes (-0.0, 42.0)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_finite_float_is_a_number(v: float) -> None:
    assert make_value("number", v).v == v


# ----------------------------------------------------------------- boolean


@pytest.mark.parametrize("v", ["false", "true", "False", 0, 1, None, "no"])
def test_boolean_refuses_lookalikes(v: object) -> None:
    refused("boolean", v, "must be true or false")


def test_boolean_accepts_real_booleans() -> None:
    assert make_value("boolean", False) == Value(ValueType.BOOLEAN, False)
    assert make_value("boolean", True).display() == "true"


# ----------------------------------------------------------------- string / text


@pytest.mark.parametrize("v", ["", "plain", "tab\tnew\nline\r", "quote\" back\\slash",
                               "\u0085 \u2028 \u2029", "emoji \U0001f600", "yes", "2026-11-24"])
def test_string_accepts_printable_text(v: str) -> None:
    assert make_value("string", v).v == v


@pytest.mark.parametrize(("v", "reason"), [
    ("bell\x07", "control character"), ("nul\x00", "control character"),
    ("esc\x1b", "control character"), ("del\x7f", "control character"),
    ("half\ud800", "lone surrogate"), ("low\udfff", "lone surrogate")])
def test_string_refuses_control_characters_and_surrogates(v: str, reason: str) -> None:
    refused("string", v, reason)


def test_string_and_text_limits() -> None:
    assert make_value("string", "x" * MAX_STRING_BYTES).v
    refused("string", "x" * (MAX_STRING_BYTES + 1), "longer than")
    refused("string", "é" * (MAX_STRING_BYTES // 2 + 1), "longer than")  # bytes, not chars
    assert make_value("text", "x" * MAX_TEXT_BYTES).v
    refused("text", "x" * (MAX_TEXT_BYTES + 1), "longer than")


@pytest.mark.parametrize("v", [1, None, True, ["a"]])
def test_string_refuses_non_strings(v: object) -> None:
    refused("string", v, "must be a string")


# ----------------------------------------------------------------- datetime


@pytest.mark.parametrize("v", [
    "2026-11-24", "2026-11-24T10:00", "2026-11-24T10:00:00Z", "2026-11-24T10:00:00.123Z",
    "2026-11-24 10:00:00", "2026-11-24t10:00:00z", "2026-11-24T10:00:00+02:00",
    "2026-11-24T10:00:00-0500", "2026-11-24T10:00:00.123456789Z",
])
def test_datetime_forms(v: str) -> None:
    assert make_value("datetime", f"  {v} ").v == v


@pytest.mark.parametrize("v", ["2026-13-01", "2026-02-30", "24/11/2026", "2026-11-24T25:00",
                               "2026-11-24T10:00:00+25:00", "tomorrow", "", "2026-11-24T10"])
def test_datetime_refuses_bad_dates(v: str) -> None:
    refused("datetime", v)


def test_datetime_must_be_a_string() -> None:
    refused("datetime", datetime(2026, 11, 24), "ISO 8601 string")


def test_parse_iso_datetime_zones() -> None:
    assert parse_iso_datetime("2026-11-24", "f") == datetime(2026, 11, 24, tzinfo=UTC)
    assert parse_iso_datetime("2026-11-24T10:00", "f") == datetime(2026, 11, 24, 10, tzinfo=UTC)
    assert parse_iso_datetime("2026-11-24T10:00+01:00", "f") == datetime(
        2026, 11, 24, 10, tzinfo=timezone(timedelta(hours=1)))


# ----------------------------------------------------------------- ref / null


def test_ref_takes_identifiers_and_fact_ids_as_given() -> None:
    # Kept as sent (a URL's path is case-sensitive; the upstream cid hashes the string sent);
    # what it points at is the identifier in normal form, or the fact id.
    for raw, target in ((" User:Bob ", "user:bob"), (FACT_ID.upper(), FACT_ID),
                        ("https://Example.com/Some/Path?Q=1", "https://example.com/some/path?q=1"),
                        ("stigmem://acme/project/atlas", "stigmem://acme/project/atlas")):
        value = make_value("ref", raw)
        assert (value.v, ref_target(str(value.v))) == (raw, target)


@pytest.mark.parametrize("v", ["bob", "a" * 63, 42, None, "user:b|ob", "user:a\x00b"])
def test_ref_refuses_non_identifiers(v: object) -> None:
    refused("ref", v)


def test_null_takes_only_none() -> None:
    assert make_value("null", None) == Value(ValueType.NULL, None)
    assert make_value("null", None).display() == "null"
    refused("null", "", "must be absent or null")
    refused("null", 0, "must be absent or null")


# ----------------------------------------------------------------- CLI text


@pytest.mark.parametrize(("type_name", "text", "expected"), [
    ("number", "42", 42), ("number", "4.5e3", 4500.0), ("boolean", "true", True),
    ("null", "null", None), ("string", "42", "42"), ("boolean", '"false"', "false"),
])
def test_parse_cli_value(type_name: str, text: str, expected: object) -> None:
    assert parse_cli_value(type_name, text) == expected


def test_cli_values_are_still_type_checked() -> None:
    with pytest.raises(InvalidFact, match="is not a number"):
        parse_cli_value("number", "abc")
    refused("boolean", parse_cli_value("boolean", '"false"'), "must be true or false")
