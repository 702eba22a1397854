"""Fact files: render/parse round trips, Obsidian reformatting, tampering, and parser fuzzing."""

from __future__ import annotations

import contextlib
import dataclasses
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from model.factgen import KEY, OTHER_KEY, facts, simple_fact
from nacl.signing import SigningKey

from stigmem_vault.canonical.cid import upstream_cid
from stigmem_vault.canonical.jcs import number_to_string
from stigmem_vault.canonical.signing import key_id, sign_claim, signature_valid
from stigmem_vault.errors import FormatError
from stigmem_vault.model.fact import Fact, make_claim
from stigmem_vault.model.hlc import HLC
from stigmem_vault.model.values import ValueType, make_value
from stigmem_vault.vault import frontmatter, markdown
from stigmem_vault.vault.trust import TrustStore, make_binding
from stigmem_vault.vault.verify import Verdict, verify_file

TAMPERED = {Verdict.ID_MISMATCH, Verdict.INVALID_SIGNATURE, Verdict.MALFORMED}


def round_trip(text: str) -> markdown.ParsedFact:
    parsed = markdown.parse(text, "facts/x.md")
    return parsed


def assert_same_fact(text: str, fact: Fact) -> None:
    parsed = markdown.parse(text, "facts/x.md")
    assert parsed.fact == fact
    assert parsed.claimed_id == fact.id == parsed.fact.id
    assert signature_valid(parsed.fact, parsed.canonical)


@settings(max_examples=300, deadline=None)
@given(facts())
def test_render_parse_round_trip(fact: Fact) -> None:
    text = markdown.render(fact)
    assert_same_fact(text, fact)
    # The writer's own output always takes the fast frontmatter path.
    assert frontmatter._load_simple(frontmatter.split(text)[0]) is not None


@pytest.mark.parametrize("value", [
    make_value("string", ""), make_value("string", "yes"), make_value("string", "2026-11-24"),
    make_value("string", "1764000000000.000003.abc"), make_value("string", "a\u2028b\u0085c\"'\\"),
    make_value("string", "---"), make_value("text", "line one\n---\nline three\r\n\ttabbed"),
    make_value("number", 0), make_value("number", -1.5), make_value("number", 1e21),
    make_value("number", 5e-324), make_value("number", 5.237244185839319e16),
    make_value("number", 2**53 - 1), make_value("boolean", False), make_value("boolean", True),
    make_value("datetime", "2026-11-24"), make_value("datetime", "2026-11-24T10:00:00+02:00"),
    make_value("ref", "user:bob"), make_value("ref", "f" * 64), make_value("null", None),
])
def test_round_trip_of_every_value_type(value: object) -> None:
    fact = simple_fact(value=value)
    assert_same_fact(markdown.render(fact), fact)


def test_rendered_file_shape() -> None:
    fact = simple_fact(valid_until="2030-01-01", derived_from=["c" * 64], supersedes="d" * 64)
    text = markdown.render(fact)
    assert text.startswith('---\nformat: "stigmem.fact/1"\nid: "' + fact.id + '"\n')
    assert 'hlc: "1764000000000.000003.9f86d081884c7d65"' in text  # quoted: never a float
    assert "\n---\n# codex:current_state\n" in text
    assert "[[entities/acme/project/68/atlas|stigmem://acme/project/atlas]]" in text
    assert "value_number" not in text and "value_string: \"review\"" in text
    null_text = markdown.render(simple_fact(value=make_value("null", None)))
    assert 'value_type: "null"' in null_text and "value_string" not in null_text


def test_body_is_not_signed() -> None:
    fact = simple_fact()
    text = markdown.render(fact)
    head, _, _body = text.partition("\n---\n")
    assert_same_fact(head + "\n---\nAnything a human wrote here.\n", fact)
    assert_same_fact(head + "\n---\n", fact)


# ----------------------------------------------------------------- Obsidian reformatting


def _styled(key: str, value: object, style: int) -> str:
    """One property written the way an editor might, falling back to the JSON style if the
    chosen style would not read back as the same value."""
    if isinstance(value, str):
        candidates = [f"'{value.replace(chr(39), chr(39) * 2)}'", value, frontmatter.quote(value)]
    elif isinstance(value, float) and not isinstance(value, bool):
        candidates = [repr(value), number_to_string(value), f"{value!r}".upper()]
    else:
        candidates = [frontmatter.scalar(value)] * 3
    text = candidates[style % 3]
    try:
        ok = frontmatter.load(f"{key}: {text}\n") == {key: value}
        if isinstance(value, bool) or isinstance(frontmatter.load(f"{key}: {text}\n")[key], bool):
            ok = ok and type(frontmatter.load(f"{key}: {text}\n")[key]) is type(value)
    except frontmatter.FrontmatterError:
        ok = False
    return text if ok else frontmatter.scalar(value)


def obsidian_rewrite(fact: Fact, data: st.DataObject) -> str:
    props = markdown.properties(fact)
    keys = data.draw(st.permutations(list(props)))
    extra_style = data.draw(st.sampled_from(["none", "tags", "all"]))
    lines = []
    for key in keys:
        value = props[key]
        if isinstance(value, list):
            items = [_styled(key, item, data.draw(st.integers(0, 2))) for item in value]
            list_style = data.draw(st.integers(0, 2))
            if list_style == 0:
                lines.append(f"{key}:")
                lines += [f"  - {item}" for item in items]
            elif list_style == 1:
                lines.append(f"{key}:")
                lines += [f"- {item}" for item in items]  # Obsidian's own (unindented) style
            else:
                lines.append(f"{key}: [{', '.join(frontmatter.scalar(i) for i in value)}]")
        else:
            lines.append(f"{key}: {_styled(key, value, data.draw(st.integers(0, 2)))}")
    if extra_style != "none":
        lines += ["tags:", "  - stigmem", "  - project/atlas", "aliases:", "  - Atlas state"]
    if extra_style == "all":
        lines += ["cssclasses: []", "created: 2026-11-24", "rating: 5", "done: true",
                  "note: 'it''s mine'", "empty:", "link: \"[[entities/user/2b/alice]]\""]
    if data.draw(st.booleans()):
        lines.append("")  # a blank line before the closing fence
    newline = data.draw(st.sampled_from(["\n", "\r\n"]))
    body = markdown.render_body(fact).replace("\n", newline)
    text = "---" + newline + newline.join(lines) + newline + "---" + newline + body
    if data.draw(st.booleans()):
        text += newline  # trailing blank line
    return text


@settings(max_examples=200, deadline=None)
@given(facts(), st.data())
def test_obsidian_style_reformatting_keeps_the_fact(fact: Fact, data: st.DataObject) -> None:
    text = obsidian_rewrite(fact, data)
    assert_same_fact(text, fact)


def test_hand_written_obsidian_file_is_the_same_fact() -> None:
    fact = simple_fact(derived_from=["c" * 64])
    props = markdown.properties(fact)
    text = (
        "---\r\n"
        "tags:\r\n- stigmem\r\n"
        f"signature: {props['signature']}\r\n"
        f"signer: '{props['signer']}'\r\n"
        "derived_from:\r\n- " + "c" * 64 + "\r\n"
        "scope: team\r\ntrust: observed\r\nconfidence: 0.90\r\n"
        "hlc: 1764000000000.000003.9f86d081884c7d65\r\n"
        "timestamp: 2026-11-24T10:00:00.000Z\r\n"
        "source: agent:codex\r\nvalue_string: review\r\nvalue_type: string\r\n"
        "relation: codex:current_state\r\nentity: stigmem://acme/project/atlas\r\n"
        f"id: {fact.id}\r\nformat: stigmem.fact/1\r\n"
        "aliases: [Atlas]\r\n"
        "\r\n---\r\n\r\n# edited body\r\n\r\n"
    )
    assert_same_fact(text, fact)
    parsed = markdown.parse(text, "x.md")
    assert dict(parsed.fact.extra) == {"tags": ["stigmem"], "aliases": ["Atlas"]}


def test_extra_properties_are_kept_on_render() -> None:
    fact = simple_fact()
    text = markdown.render(fact).replace("---\n# ", 'tags:\n  - "x"\n---\n# ', 1)
    parsed = markdown.parse(text, "x.md").fact
    assert parsed.extra == (("tags", ["x"]),)
    assert 'tags:\n  - "x"' in markdown.render(parsed)
    assert markdown.parse(markdown.render(parsed), "x.md").fact == fact


# ----------------------------------------------------------------- tampering


@pytest.fixture(scope="module")
def trust() -> TrustStore:
    store = TrustStore(key_id(KEY.verify_key))
    binding = make_binding("agent:codex", key_id(KEY.verify_key), "2026-01-01T00:00:00.000Z", KEY)
    assert store.add(binding) is None
    return store


def write(root: Path, text: str, rel: str = "facts/team/x.md") -> str:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_bytes(text.encode("utf-8"))
    return rel


def verdict_of(root: Path, props: dict[str, object], trust: TrustStore) -> Verdict:
    text = "---\n" + frontmatter.dump(props) + "---\nbody\n"  # type: ignore[arg-type]
    return verify_file(root, write(root, text), trust).verdict


SEMANTIC_CHANGES: dict[str, dict[str, object]] = {
    "entity": {"entity": "user:bob"},
    "relation": {"relation": "codex:next_state"},
    "value": {"value_string": "done"},
    "value_type": {"value_type": "text", "value_text": "review", "value_string": None},
    "source": {"source": "agent:other"},
    "confidence": {"confidence": 0.91},
    "trust": {"trust": "inferred"},
    "scope": {"scope": "public"},
    "hlc": {"hlc": "1764000000000.000004.9f86d081884c7d65"},
    "hlc-node": {"hlc": "1764000000000.000003.9f86d081884c7d66"},
    "timestamp": {"timestamp": "2026-11-24T10:00:00.001Z"},
    "valid_until": {"valid_until": "2030-01-01"},
    "supersedes": {"supersedes": "b" * 64},
    "derived_from": {"derived_from": ["c" * 64]},
    "signer": {"signer": key_id(OTHER_KEY.verify_key)},
}


def _apply(props: dict[str, object], change: dict[str, object]) -> dict[str, object]:
    out = dict(props)
    for key, value in change.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def test_untouched_file_is_valid(tmp_path: Path, trust: TrustStore) -> None:
    assert verdict_of(tmp_path, markdown.properties(simple_fact()), trust) is Verdict.VALID


@pytest.mark.parametrize("field", sorted(SEMANTIC_CHANGES))
def test_changing_a_signed_field_is_an_id_mismatch(tmp_path: Path, trust: TrustStore, field: str) -> None:
    props = _apply(markdown.properties(simple_fact()), SEMANTIC_CHANGES[field])
    assert verdict_of(tmp_path, props, trust) is Verdict.ID_MISMATCH


@pytest.mark.parametrize("field", sorted(SEMANTIC_CHANGES))
def test_changing_a_signed_field_and_fixing_the_id_is_a_bad_signature(
        tmp_path: Path, trust: TrustStore, field: str) -> None:
    props = _apply(markdown.properties(simple_fact()), SEMANTIC_CHANGES[field])
    text = "---\n" + frontmatter.dump(props) + "---\n"  # type: ignore[arg-type]
    props["id"] = markdown.parse(text, "x").fact.id  # the forger recomputes the id
    assert verdict_of(tmp_path, props, trust) is Verdict.INVALID_SIGNATURE


@pytest.mark.parametrize(("field", "value"), [
    ("entity", "Stigmem://acme/project/atlas"), ("entity", " stigmem://acme/project/atlas"),
    ("relation", "Codex:current_state"), ("source", "Agent:codex"), ("trust", "Observed"),
    ("scope", "TEAM"), ("confidence", "0.9"), ("confidence", 1.5), ("confidence", True),
    ("hlc", "1764000000000.3.9f86d081884c7d65"), ("hlc", "1764000000000.000003.9f86d081884c7d65\n"),
    ("hlc", 1764000000000.000003), ("timestamp", "yesterday"), ("valid_until", "soon"),
    ("supersedes", "B" * 64), ("supersedes", "xyz"), ("derived_from", "c" * 64),
    ("value_string", 7), ("value_type", "integer"), ("format", "stigmem.fact/2"),
    ("signer", 5), ("id", None), ("signature", None), ("entity", None),
])
def test_malformed_signed_fields(tmp_path: Path, trust: TrustStore, field: str, value: object) -> None:
    props = dict(markdown.properties(simple_fact()))
    if value is None:
        del props[field]
    else:
        props[field] = value
    assert verdict_of(tmp_path, props, trust) is Verdict.MALFORMED


def test_changing_the_signature_is_a_bad_signature(tmp_path: Path, trust: TrustStore) -> None:
    props = dict(markdown.properties(simple_fact()))
    other = simple_fact(OTHER_KEY)
    props["signature"] = other.signature
    assert verdict_of(tmp_path, props, trust) is Verdict.INVALID_SIGNATURE


_SEMANTIC_FIELDS = ["entity", "relation", "value", "source", "confidence", "trust", "scope", "hlc",
                    "timestamp", "valid_until", "supersedes", "derived_from", "signer"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(facts(), st.sampled_from(_SEMANTIC_FIELDS), st.data(), st.booleans())
def test_any_semantic_change_never_verifies(tmp_path: Path, fact: Fact, field: str,
                                            data: st.DataObject, fix_id: bool) -> None:
    # tmp_path is shared by the examples; each one overwrites the same file.
    claim = fact.claim
    other = data.draw(facts(key=OTHER_KEY))  # a source of different field values
    if field in ("hlc", "timestamp", "signer"):
        new_value = getattr(other, field)
        changed = dataclasses.replace(fact, **{field: new_value})
    else:
        new_value = getattr(other.claim, field)
        changed = dataclasses.replace(fact, claim=dataclasses.replace(claim, **{field: new_value}))
    if changed == fact or (field == "value" and new_value == claim.value):
        return
    props = markdown.properties(changed)
    if fix_id:
        props["id"] = markdown.parse("---\n" + frontmatter.dump(props) + "---\n", "x").fact.id
    store = TrustStore(key_id(KEY.verify_key))
    store.add(make_binding(fact.source, key_id(KEY.verify_key), "2026-01-01T00:00:00.000Z", KEY))
    assert verdict_of(tmp_path, props, store) in TAMPERED


def test_renumbered_value_keeps_the_id_when_it_is_the_same_number(tmp_path: Path, trust: TrustStore) -> None:
    fact = simple_fact(value=make_value("number", 42))
    props = dict(markdown.properties(fact))
    props["value_number"] = 42.0  # Obsidian may write 42.0: the same number
    assert verdict_of(tmp_path, props, trust) is Verdict.VALID


# ----------------------------------------------------------------- parse errors


@pytest.mark.parametrize(("text", "reason"), [
    ("no frontmatter\n", "no frontmatter"),
    ("---\nformat: \"stigmem.fact/1\"\n", "not closed"),
    ("---\na: [\n---\n", "malformed YAML"),
    ("---\nformat: \"stigmem.fact/1\"\n---\n", "missing properties: id, entity"),
    ("---\nformat: \"other\"\nid: x\nentity: x\nrelation: x\nvalue_type: x\nsource: x\n"
     "confidence: 1\ntrust: x\nscope: x\nhlc: x\ntimestamp: x\nsigner: x\nsignature: x\n---\n",
     "format: expected"),
])
def test_parse_errors_name_the_path_and_reason(text: str, reason: str) -> None:
    with pytest.raises(FormatError, match=reason) as info:
        markdown.parse(text, "facts/bad.md")
    assert info.value.path == "facts/bad.md"


def test_value_property_conflicts() -> None:
    props = dict(markdown.properties(simple_fact()))
    for change, reason in [
        ({"value_number": 3}, "value_number: conflicts with value_type string"),
        ({"value_string": None}, "value_string: missing for value_type string"),
        ({"value_type": "null"}, "type null but value_string is set"),
    ]:
        text = "---\n" + frontmatter.dump(_apply(props, change)) + "---\n"  # type: ignore[arg-type]
        with pytest.raises(FormatError, match=reason):
            markdown.parse(text, "x.md")


def test_huge_numbers_in_a_file_are_format_errors() -> None:
    # Regression: float() of a 400-digit integer raised OverflowError out of the parser.
    props = dict(markdown.properties(simple_fact(value=make_value("number", 1))))
    for key in ("value_number", "confidence"):
        text = "---\n" + frontmatter.dump({**props, key: 10**400}) + "---\n"
        with pytest.raises(FormatError):
            markdown.parse(text, "x.md")


# ----------------------------------------------------------------- fuzzing


def _parse_or_format_error(text: str) -> None:
    with contextlib.suppress(FormatError):
        markdown.parse(text, "facts/fuzz.md")


@settings(max_examples=300)
@given(st.text(max_size=400))
def test_fuzz_random_text(text: str) -> None:
    _parse_or_format_error(text)
    _parse_or_format_error("---\n" + text + "\n---\n")


_SNIPPETS = [
    "!!int abc", "!!float x", "!!bool maybe", "!!timestamp junk", "!!binary AAAA", "!!set {a}",
    "!!omap [a: 1]", "!!python/object:os.system", "&a", "*a", "&a [1]", "{a: 1}", "[[1]]", "[",
    "]", "{", '"', "'", "\\", '"\\ud800"', '"\\ud83d\\ude00"', '"\\U0001F600"', "\x00", "\x85",
    "\u2028", "\ufeff", "\t", "\r", "\n", "\n---\n", "---", "- ", "  - ", ": ", "#", "~", "null",
    "true", "1e400", "1" * 400, "-" + "9" * 30, ".nan", ".inf", "0x", "0o9", "2026-13-45",
    "user:\ud7ff", '"user:\\ud800"', "stigmem://a/b/..", "ed25519:", "=" * 3, "value_type: null",
    "value_number: 1", "confidence: 2", "hlc: 1.2", "derived_from: [x]", "true: 1", "null: x",
    "? [a]\n: b", "<<: {a: 1}", "%YAML 1.1\n---", "--- !!map", "...",
]


@st.composite
def mutated_fact_files(draw: st.DrawFn) -> str:
    fact = draw(facts())
    text = markdown.render(fact)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.integers(0, 5))
        pos = draw(st.integers(0, len(text)))
        if op == 0:
            text = text[:pos] + draw(st.sampled_from(_SNIPPETS)) + text[pos:]
        elif op == 1:
            end = draw(st.integers(pos, min(len(text), pos + 20)))
            text = text[:pos] + text[end:]
        elif op == 2:
            text = text[:pos] + draw(st.text(max_size=5)) + text[pos + 1:]
        elif op == 3:
            lines = text.split("\n")
            i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
        elif op == 4:
            lines = text.split("\n")
            i = draw(st.integers(1, max(1, len(lines) - 1)))
            key = lines[i].split(":", 1)[0]
            lines[i] = key + ": " + draw(st.sampled_from(_SNIPPETS))
            text = "\n".join(lines)
        else:
            lines = text.split("\n")
            i = draw(st.integers(0, len(lines) - 1))
            lines.insert(i, lines[i])  # duplicate a line (duplicate keys)
            text = "\n".join(lines)
    return text


@settings(max_examples=500, deadline=None)
@given(mutated_fact_files())
@example("---\nformat: \"stigmem.fact/1\"\nconfidence: !!int abc\n---\n")
@example("---\nentity: \"user:\\ud800\"\n---\n")
@example("---\nconfidence: " + "9" * 400 + "\n---\n")
def test_fuzz_mutated_fact_files(text: str) -> None:
    _parse_or_format_error(text)


def test_lone_surrogate_escape_in_an_identifier_is_a_format_error() -> None:
    # Regression: the fast frontmatter path decoded "\ud800" (YAML refuses it), and the
    # canonical encoder then crashed with UnicodeEncodeError.
    props = dict(markdown.properties(simple_fact()))
    text = "---\n" + frontmatter.dump(props).replace(
        '"stigmem://acme/project/atlas"', '"stigmem://acme/project/\\ud800"') + "---\n"
    with pytest.raises(FormatError, match="Unicode"):
        markdown.parse(text, "x.md")


def test_fact_signed_by_another_key_is_still_parsed() -> None:
    key = SigningKey(b"\x07" * 32)
    fact = sign_claim(make_claim(entity="user:alice", relation="a:b", value=make_value("number", math.pi),
                                 source="user:alice"), HLC(1, 2, "n"), "2026-01-01T00:00:00.000Z", key)
    assert markdown.parse(markdown.render(fact), "x.md").fact.signer == key_id(key.verify_key)
    assert ValueType.NUMBER is fact.value.type


@pytest.mark.parametrize(("whole", "spelled"),
                         [(7.0, "7.0"), (-0.0, "-0.0"), (1e15, "1000000000000000.0")])
def test_a_whole_float_keeps_its_point_with_the_same_id(whole: float, spelled: str) -> None:
    """§3, §7.8: 7 and 7.0 are one value (same canonical bytes, id, signature); the file keeps
    the float's point so that it reads back as the float, whose upstream cid differs."""

    def signed(v: float) -> Fact:
        claim = make_claim(entity="user:bob", relation="memory:count",
                           value=make_value("number", v), source="user:alice")
        return sign_claim(claim, HLC(1_764_000_000_000, 0, "n1"), "2026-11-24T10:00:00.000Z", KEY)

    as_float, as_int = signed(whole), signed(int(whole))
    assert as_float.id == as_int.id and as_float.signature == as_int.signature
    text = markdown.render(as_float)
    assert f"value_number: {spelled}\n" in text
    parsed = round_trip(text)
    assert parsed.fact.id == as_float.id and type(parsed.fact.value.v) is float
    assert str(parsed.fact.value.v) == spelled
    assert upstream_cid(parsed.fact.claim) != upstream_cid(as_int.claim)
    assert "value_number: " + str(int(whole)) + "\n" in markdown.render(as_int)
