"""Our RFC 8785 canonicalization against the reference ``rfc8785`` package."""

from __future__ import annotations

import json
import math

import pytest
import rfc8785
from hypothesis import example, given, settings
from hypothesis import strategies as st

from stigmem_vault.canonical.jcs import canonicalize, number_to_string

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**53) + 1, 2**53 - 1),
    st.floats(allow_nan=False, allow_infinity=False), _text,
)
json_values = st.recursive(
    _scalars,
    lambda children: st.one_of(st.lists(children, max_size=5),
                               st.dictionaries(_text, children, max_size=5)),
    max_leaves=30,
)


@settings(max_examples=500)
@given(json_values)
def test_canonicalize_equals_rfc8785(value: object) -> None:
    assert canonicalize(value) == rfc8785.dumps(value)


@settings(max_examples=2000)
@given(st.floats(allow_nan=False, allow_infinity=False))
@example(1e21)
@example(1e20)
@example(123456789012345680000.0)
@example(5e-324)
@example(1e-6)
@example(1e-7)
@example(-0.0)
@example(0.1 + 0.2)
@example(1.7976931348623157e308)
@example(9007199254740992.0)
def test_number_to_string_equals_rfc8785(number: float) -> None:
    assert number_to_string(number).encode() == rfc8785.dumps(number)
    assert float(number_to_string(number)) == number  # and it reads back exactly


@pytest.mark.parametrize(("number", "text"), [
    (0.0, "0"), (-0.0, "0"), (1.0, "1"), (-1.5, "-1.5"), (1e21, "1e+21"), (1e20, "100000000000000000000"),
    (1e-6, "0.000001"), (1e-7, "1e-7"), (5e-324, "5e-324"), (123.456, "123.456"),
    (1.7976931348623157e308, "1.7976931348623157e+308"), (4.35, "4.35"), (0.002, "0.002"),
])
def test_number_to_string_vectors(number: float, text: str) -> None:
    # ECMAScript Number::toString examples (RFC 8785 appendix B).
    assert number_to_string(number) == text


def test_rfc8785_example_object() -> None:
    value = {"numbers": [333333333.33333329, 1e30, 4.50, 2e-3, 0.000000000000000000000000001],
             "string": "\u20ac$\u000f\u000aA'\u0042\u0022\u005c\\\"/",
             "literals": [None, True, False]}
    expected = ('{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
                '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}')
    assert canonicalize(value).decode() == expected


def test_keys_sort_by_utf16_code_units() -> None:
    # U+1F600 is D83D DE00 in UTF-16: it sorts before U+FB01 although its code point is larger.
    value = {"\ufb01": 1, "\U0001f600": 2, "a": 3, "\u00e9": 4}
    assert canonicalize(value) == rfc8785.dumps(value)
    assert list(json.loads(canonicalize(value))) == ["a", "\u00e9", "\U0001f600", "\ufb01"]


def test_string_escapes_are_minimal() -> None:
    assert canonicalize("\u2028\u0085\x7f\U0001f600") == '"\u2028\u0085\x7f\U0001f600"'.encode()
    assert canonicalize("\x00\x1f\b\t\n\f\r") == b'"\\u0000\\u001f\\b\\t\\n\\f\\r"'


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 2**53, -(2**53), {1: "a"},
                                 {"a": {1, 2}}, b"bytes", object()])
def test_unsupported_values_are_refused(bad: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        canonicalize(bad)


def test_tuples_are_arrays() -> None:
    assert canonicalize(("a", 1)) == b'["a",1]'
