"""Flat YAML frontmatter: dump/load round trips, the fast path against libyaml, YAML 1.2 rules."""

from __future__ import annotations

import math

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from stigmem_vault.vault import frontmatter
from stigmem_vault.vault.frontmatter import (
    MAX_FRONTMATTER_BYTES,
    FrontmatterError,
    dump,
    load,
    split,
)


def full_yaml(text: str) -> object:
    """What the YAML path (libyaml, our YAML 1.2 resolvers) makes of ``text``."""
    data = yaml.load(text, Loader=frontmatter._Loader)
    return {} if data is None else data  # load() reads an empty document as no properties


def same(a: object, b: object) -> bool:
    """Equal, and bool never stands in for a number (True == 1 in Python)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        # Integral doubles are written as integer literals (52372441858393190) and read back as
        # int: the same number if it names the same double.
        return float(a) == float(b)
    return type(a) is type(b) and a == b


_any_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
_tricky_text = st.one_of(
    _any_text,
    st.sampled_from(["", "yes", "no", "on", "off", "true", "False", "null", "~", "2026-11-24",
                     "0123", "1e3", ".inf", "-.inf", ".nan", "12:30:00", "0x1f", "0o17",
                     "a: b", "- x", "# not a comment", "&anchor", "*alias", "!!int 3", "'", '"',
                     "\\", "\u0085", "\u2028", "\u2029", "\ufeff", "\ufffe", "\uffff", "\x00",
                     "\x7f", "\x9f", "\t", "\r\n", "\U0001f600", "---", "...", "[[x|y]]"]),
)
_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e21, 5e-324, 1.7976931348623157e308, -0.0, 1e-7, 2**53 + 0.0]),
    _tricky_text,
)
_flat_values = st.one_of(_scalars, st.lists(_scalars, max_size=4))
_plain_keys = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_-]{0,12}\Z")
_keys = st.one_of(_plain_keys, _tricky_text, st.sampled_from(["true", "null", "False", "NULL", "<<"]))


@settings(max_examples=300)
@given(st.dictionaries(_keys, _flat_values, max_size=8))
@example({"s": "\x00\x1f\x7f\x85\u2028\u2029 \"'\\ \U0001f600", "f": 1e21, "g": 5e-324, "n": None})
@example({"true": 1, "null": "x", "False": [True]})
@example({"": None, "A\n": None})  # regression: '$' let a key ending in a newline pass as plain
def test_dump_load_round_trip(props: dict[str, object]) -> None:
    assert same(load(dump(props)), props)


@settings(max_examples=300)
@given(st.dictionaries(_plain_keys, _flat_values, max_size=8))
@example({"true": 1})
@example({"NULL": None})
def test_fast_path_reads_dumped_text_as_yaml_does(props: dict[str, object]) -> None:
    text = dump(props)
    fast = frontmatter._load_simple(text)
    reserved = ("true", "True", "TRUE", "false", "False", "FALSE", "null", "Null", "NULL")
    if all(key not in reserved and (not isinstance(value, list) or all(isinstance(i, str) for i in value))
           for key, value in props.items()):
        assert fast is not None  # what dump writes for fact files takes the fast path
    if fast is not None:
        assert same(fast, full_yaml(text))
        assert same(fast, props)


# Lines in the neighbourhood of what dump writes: valid, nearly valid, and traps where JSON and
# YAML disagree (surrogate escapes, bool/null keys, leading zeros, BOMs, tabs).
_line_keys = st.one_of(_plain_keys, st.sampled_from(["true", "null", "Null", "FALSE", "a", "a"]))
_line_scalars = st.one_of(
    st.sampled_from(['"x"', '"\\ud83d\\ude00"', '"\\ud800"', '"\\udfff"', '"\\u00e9"', '"\\/"',
                     '"\\b\\f\\n\\r\\t"', '"\\u0085"', '"\\U0001F600"', '"\\x41"', '"\\e"',
                     '"\\0"', '"a\tb"', '"\ufeff"', '"\u0085"', '"\u2028"', "0", "-0", "01", "1e5",
                     "1E+400", "-1.5e-3", "1.", ".5", "+1", "true", "True", "false", "null", "~",
                     "[]", "[ ]", '"unterminated', '"a" ', "yes", "'single'", "2026-11-24", "",
                     '"# x"', '"a": "b"', "0x1f", "1_000", "-", "&a 1", "*a"]),
    st.integers().map(str),
    st.floats(allow_nan=False).map(repr),
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"), max_size=8)
    .map(lambda s: '"' + s + '"'),
)
_lines = st.one_of(
    st.builds(lambda k, v: f"{k}: {v}", _line_keys, _line_scalars),
    st.builds(lambda k: f"{k}:", _line_keys),
    _line_scalars.map(lambda v: f"  - {v}"),
    _line_scalars.map(lambda v: f"- {v}"),
    st.sampled_from(["", " ", "# comment", "\t", "---", "  -", "a:  1", "a : 1", "a:1"]),
)


@settings(max_examples=1000)
@given(st.lists(_lines, max_size=8), st.sampled_from(["\n", "\r\n"]))
@example(["true: 1"], "\n")
@example(['a: "\\ud83d\\ude00"'], "\n")
@example(['a: "\\ud800"'], "\n")
def test_fast_path_never_disagrees_with_yaml(lines: list[str], newline: str) -> None:
    text = newline.join(lines) + "\n"
    fast = frontmatter._load_simple(text)
    if fast is None:
        return
    assert same(fast, full_yaml(text)), (text, fast)


def test_fast_path_refuses_surrogate_escapes_and_bool_keys() -> None:
    # Regressions: the JSON reader paired "\ud83d\ude00" (libyaml refuses it) and read the key
    # of "true: 1" as the string "true" (YAML reads a boolean key).
    for text in ('a: "\\ud83d\\ude00"\n', 'a: "\\ud800"\n', "true: 1\n", "Null: 1\n"):
        assert frontmatter._load_simple(text) is None
        with pytest.raises(FrontmatterError):
            load(text)


@pytest.mark.parametrize("key", ["true", "False", "NULL", "null"])
def test_keys_yaml_reads_as_bool_or_null_are_quoted(key: str) -> None:
    text = dump({key: 1})
    assert text == f'"{key}": 1\n'
    assert load(text) == {key: 1}


# ----------------------------------------------------------------- YAML 1.2 rules


@pytest.mark.parametrize(("text", "expected"), [
    ("a: yes", "yes"), ("a: no", "no"), ("a: on", "on"), ("a: off", "off"), ("a: y", "y"),
    ("a: Yes", "Yes"),
    ("a: 2026-11-24", "2026-11-24"), ("a: 2026-11-24T10:00:00Z", "2026-11-24T10:00:00Z"),
    ("a: 0123", 123), ("a: 0o17", 15), ("a: 0x1f", 31), ("a: 010", 10), ("a: -0", 0),
    ("a: 1_000", "1_000"), ("a: 12:30", "12:30"), ("a: 1e3", 1000.0), ("a: 1.5", 1.5),
    ("a: .inf", math.inf), ("a: -.inf", -math.inf),
    ("a: true", True), ("a: False", False), ("a: TRUE", True), ("a: null", None), ("a: ~", None),
    ("a:", None), ("a: 'it''s'", "it's"), ('a: "tab\\there"', "tab\there"),
    ("a: 1764000000000.000003.abc", "1764000000000.000003.abc"),
    ("a: user:alice", "user:alice"), ("a: '[[x]]'", "[[x]]"), ("a: []", []),
    ("a:\n  - 1\n  - two", [1, "two"]), ("a:\n- x", ["x"]), ("a: [1, 'b', null]", [1, "b", None]),
])
def test_yaml_1_2_core_schema(text: str, expected: object) -> None:
    assert same(load(text + "\n")["a"], expected)


def test_nan_is_read_as_nan() -> None:
    assert math.isnan(load("a: .nan\n")["a"])  # type: ignore[arg-type]


def test_empty_frontmatter_is_an_empty_mapping() -> None:
    assert load("") == {}
    assert load("# only a comment\n") == {}


# ----------------------------------------------------------------- refusals


@pytest.mark.parametrize("text", [
    "a: &x 1\nb: *x\n",
    "a: &x 1\n",
    "a: [&x 1]\n",
    "base: &b {x: 1}\nother:\n  <<: *b\n",
])
def test_anchors_and_aliases_are_refused(text: str) -> None:
    with pytest.raises(FrontmatterError, match="anchors and aliases are not allowed") as info:
        load(text)
    assert info.value.line is not None


def test_alias_bomb_is_refused_before_expansion() -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        refs = ", ".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    with pytest.raises(FrontmatterError, match="anchors and aliases"):
        load("\n".join(lines) + "\n")


def test_anchor_and_star_inside_quotes_are_fine() -> None:
    assert load("a: '&x *y'\nb: \"*z\"\n") == {"a": "&x *y", "b": "*z"}


@pytest.mark.parametrize("text", [
    "a:\n  b: 1\n", "a: {b: 1}\n", "a: [[1]]\n", "a:\n  - b: 1\n", "a: [{}]\n",
])
def test_nested_values_are_refused(text: str) -> None:
    with pytest.raises(FrontmatterError, match=r"nested map|nests lists"):
        load(text)


@pytest.mark.parametrize("text", [
    "a: !!int abc\n", "a: !!float abc\n", "a: !!bool maybe\n", "a: !!timestamp junk\n",
    "a: !!int 0o9\n", "a: !!int 0xzz\n",
])
def test_bad_explicit_tags_are_format_errors_not_crashes(text: str) -> None:
    # Regression: PyYAML's tag constructors raised ValueError/KeyError/AttributeError, which
    # escaped markdown.parse as a crash. Explicit tags are now refused outright.
    with pytest.raises(FrontmatterError, match="explicit YAML tags"):
        load(text)


@pytest.mark.parametrize("text", [
    "a: [!!binary AAAA]\n", "a: !!omap [b: 1]\n", "a: [!!set {x}]\n",
    "a: [!!timestamp 2026-11-24]\n", "a: !!binary AAAA\n", "a: !!set {x}\n",
    "a: !!timestamp 2026-11-24\n",
])
def test_non_scalar_values_from_tags_are_refused(text: str) -> None:
    with pytest.raises(FrontmatterError, match=r"explicit YAML tags"):
        load(text)


def test_duplicate_properties_are_refused() -> None:
    # Two readers keeping different copies would disagree about what a signed file says.
    with pytest.raises(FrontmatterError, match="appears twice") as info:
        load('entity: "user:a"\nentity: "user:b"\n')
    assert info.value.line == 3


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "42\n"])
def test_top_level_must_be_a_mapping(text: str) -> None:
    with pytest.raises(FrontmatterError, match="must be a mapping"):
        load(text)


def test_non_string_keys_are_refused() -> None:
    with pytest.raises(FrontmatterError, match="property name 1 is not a string"):
        load("1: a\n")


@pytest.mark.parametrize("text", ["a: [1, 2\n", 'a: "open\n', "a: b: c\n", "a:\tb\n  c: d\n",
                                  "a: 'x'y\n", "\x00: 1\n", "a: \x07\n",
                                  "a: *\x08\n", "a: &x \x1b\n"])  # ReaderError via the anchor scan
def test_malformed_yaml_is_a_frontmatter_error(text: str) -> None:
    with pytest.raises(FrontmatterError, match="malformed YAML"):
        load(text)


def test_malformed_yaml_reports_the_file_line() -> None:
    with pytest.raises(FrontmatterError) as info:
        load("a: 1\nb: 2\nc: [\n")
    assert info.value.line is not None and info.value.line >= 4  # line 1 is the opening '---'


def test_oversized_frontmatter_is_refused() -> None:
    with pytest.raises(FrontmatterError, match="larger than"):
        load("a: " + '"' + "x" * MAX_FRONTMATTER_BYTES + '"\n')


# ----------------------------------------------------------------- split


def test_split_note() -> None:
    yaml_text, body, body_line = split("---\na: 1\nb: 2\n---\n# Title\n")
    assert (yaml_text, body, body_line) == ("a: 1\nb: 2\n", "# Title\n", 5)


def test_split_crlf_bom_and_trailing_blanks_on_the_fence() -> None:
    yaml_text, body, _ = split("\ufeff---\r\na: 1\r\n---  \r\nbody\r\n")
    assert yaml_text == "a: 1\r\n" and body == "body\r\n"


def test_split_empty_frontmatter() -> None:
    assert split("---\n---\n")[:2] == ("", "")


@pytest.mark.parametrize(("text", "match"), [
    ("no fences\n", "no frontmatter"), ("", "no frontmatter"), ("---a\n", "no frontmatter"),
    ("\n---\na: 1\n---\n", "no frontmatter"), ("---\na: 1\n", "not closed"),
    ("---\na: 1\n  ---\n", "not closed"),
])
def test_split_refusals(text: str, match: str) -> None:
    with pytest.raises(FrontmatterError, match=match):
        split(text)


def test_dump_writes_obsidian_friendly_lines() -> None:
    text = dump({"id": "abc", "n": 1.5, "b": False, "none": None, "tags": ["x", "y"], "e": [],
                 "hlc": "1764000000000.000003.abc", "odd key": "v"})
    assert text == ('id: "abc"\nn: 1.5\nb: false\nnone: null\ntags:\n  - "x"\n  - "y"\ne: []\n'
                    'hlc: "1764000000000.000003.abc"\n"odd key": "v"\n')


def test_dump_refuses_unwritable_values() -> None:
    with pytest.raises(TypeError):
        dump({"a": {"nested": 1}})  # type: ignore[dict-item]
    with pytest.raises(ValueError):
        dump({"a": math.nan})
