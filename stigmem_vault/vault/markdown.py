"""A fact as a Markdown note: flat frontmatter properties plus a readable body.

The properties are the canonical fields, except that the value is split into ``value_type``
and one typed property ``value_<type>`` (Obsidian keeps one type per property name across the
vault, and a value can be of seven types). The body is a rendering for people; it is not
signed, and reading ignores it.
"""

from __future__ import annotations

from dataclasses import dataclass

from stigmem_vault.canonical.form import canonical_bytes, content_id
from stigmem_vault.errors import FormatError, InvalidFact
from stigmem_vault.model.fact import FACT_FORMAT, Claim, Fact, make_claim
from stigmem_vault.model.hlc import HLC
from stigmem_vault.model.values import (
    Value,
    ValueType,
    enum_member,
    make_value,
    parse_iso_datetime,
    ref_target,
)
from stigmem_vault.vault import frontmatter
from stigmem_vault.vault.layout import entity_note_relpath, wikilink

VALUE_PROPERTY: dict[ValueType, str] = {t: f"value_{t.value}" for t in ValueType if t is not ValueType.NULL}

# Property name -> Obsidian property type, written to .obsidian/types.json at init.
OBSIDIAN_TYPES: dict[str, str] = {
    "format": "text",
    "id": "text",
    "entity": "text",
    "relation": "text",
    "value_type": "text",
    "value_string": "text",
    "value_text": "text",
    "value_number": "number",
    "value_boolean": "checkbox",
    "value_datetime": "text",
    "value_ref": "text",
    "source": "text",
    "confidence": "number",
    "trust": "text",
    "scope": "text",
    "hlc": "text",
    "timestamp": "text",
    "valid_until": "text",
    "supersedes": "text",
    "derived_from": "multitext",
    "garden_id": "text",
    "signer": "text",
    "signature": "text",
    "tags": "tags",
    "aliases": "aliases",
    "sign": "checkbox",  # a person's "sign this now" on a draft or an edit (§14)
}

FACT_PROPERTIES = frozenset(OBSIDIAN_TYPES) - {"tags", "aliases", "sign"}
_REQUIRED = ("format", "id", "entity", "relation", "value_type", "source", "confidence",
             "trust", "scope", "hlc", "timestamp", "signer", "signature")


@dataclass(frozen=True, slots=True)
class ParsedFact:
    """A fact read from a file: the fact (id recomputed), the id the file claims, the bytes."""

    fact: Fact
    claimed_id: str
    canonical: bytes


def properties(fact: Fact) -> dict[str, frontmatter.Flat]:
    props: dict[str, frontmatter.Flat] = {
        "format": FACT_FORMAT,
        "id": fact.id,
        "entity": fact.entity,
        "relation": fact.relation,
        "value_type": fact.value.type.value,
    }
    if fact.value.type is not ValueType.NULL:
        props[VALUE_PROPERTY[fact.value.type]] = fact.value.v
    props.update({
        "source": fact.source,
        "confidence": fact.confidence,
        "trust": fact.trust.value,
        "scope": fact.scope.value,
        "hlc": fact.hlc,
        "timestamp": fact.timestamp,
    })
    if fact.valid_until is not None:
        props["valid_until"] = fact.valid_until
    if fact.supersedes is not None:
        props["supersedes"] = fact.supersedes
    if fact.derived_from:
        props["derived_from"] = list(fact.derived_from)
    if fact.garden_id is not None:
        props["garden_id"] = fact.garden_id
    props["signer"] = fact.signer
    props["signature"] = fact.signature
    for key, value in fact.extra:
        if key not in props:
            props[key] = value
    return props


def render(fact: Fact) -> str:
    """The full text of a fact file."""
    # A whole float value keeps its point ("7.0"): it reads back as the float the writer held,
    # whose upstream cid differs from the integer's (§6.5, §7.8).
    return ("---\n" + frontmatter.dump(properties(fact), keep_point=("value_number",)) + "---\n"
            + render_body(fact))


def render_body(fact: Fact) -> str:
    entity_link = wikilink(entity_note_relpath(fact.entity), fact.entity)
    source_link = wikilink(entity_note_relpath(fact.source), fact.source)
    value = fact.value
    if value.type is ValueType.REF and isinstance(value.v, str) and ":" in value.v:
        shown = wikilink(entity_note_relpath(ref_target(value.v)), value.v)
    elif value.type is ValueType.TEXT:
        shown = "\n" + "\n".join(f"> {line}" for line in str(value.v).splitlines() or [""])
    else:
        shown = f"`{value.display()}`" if value.type is not ValueType.STRING else value.display()
    lines = [
        f"# {fact.relation}",
        "",
        f"{entity_link} — **{fact.relation}**: {shown}",
        "",
        f"- source: {source_link}",
        f"- confidence: {fact.confidence:g} ({fact.trust.value})",
        f"- scope: {fact.scope.value}",
        f"- asserted: {fact.timestamp}",
    ]
    if fact.valid_until:
        lines.append(f"- valid until: {fact.valid_until}")
    if fact.supersedes:
        lines.append(f"- supersedes: `{fact.supersedes}`")
    if fact.garden_id:
        lines.append(f"- garden: {fact.garden_id}")
    if fact.derived_from:
        lines.append("- derived from: " + ", ".join(f"`{d}`" for d in fact.derived_from))
    lines.append("")
    lines.append("*Signed fact: to amend it, edit its properties, then add and tick `sign`; "
                 "the original is kept.*")
    return "\n".join(lines) + "\n"


def parse(text: str, path: str) -> ParsedFact:
    """Parse a fact file's text; raise FormatError naming the path and the reason."""
    try:
        yaml_text, _body, _ = frontmatter.split(text)
        props = frontmatter.load(yaml_text)
    except frontmatter.FrontmatterError as exc:
        raise FormatError(path, exc.reason, exc.line) from None
    return parse_properties(props, path)


def parse_properties(props: dict[str, frontmatter.Flat], path: str) -> ParsedFact:
    missing = [key for key in _REQUIRED if key not in props]
    if missing:
        raise FormatError(path, f"missing propert{'y' if len(missing) == 1 else 'ies'}: "
                          + ", ".join(missing))
    if props["format"] != FACT_FORMAT:
        raise FormatError(path, f"format: expected {FACT_FORMAT!r}, got {props['format']!r}")
    try:
        value = _read_value(props)
        claim = make_claim(
            entity=_text(props, "entity"),
            relation=_text(props, "relation"),
            value=value,
            source=_text(props, "source"),
            confidence=props["confidence"],
            trust=_text(props, "trust"),
            scope=_text(props, "scope"),
            valid_until=props.get("valid_until"),
            supersedes=props.get("supersedes"),
            derived_from=props.get("derived_from"),
            garden_id=props.get("garden_id"),
        )
        _require_normal_form(props, claim)
        hlc = str(HLC.parse(props["hlc"]))
        timestamp = _text(props, "timestamp")
        parse_iso_datetime(timestamp, "timestamp")
        signer = _text(props, "signer")
        signature = _text(props, "signature")
        claimed_id = _text(props, "id")
    except InvalidFact as exc:
        raise FormatError(path, f"property {exc.field}: {exc.reason}") from None
    body = canonical_bytes(claim, hlc, timestamp, signer)
    extra = tuple((k, v) for k, v in props.items() if k not in FACT_PROPERTIES)
    fact = Fact(content_id(body), claim, hlc, timestamp, signer, signature, extra)
    return ParsedFact(fact, claimed_id, body)


def _text(props: dict[str, frontmatter.Flat], key: str) -> str:
    value = props[key]
    if not isinstance(value, str):
        raise InvalidFact(key, f"must be a string, got {value!r}")
    return value


def _read_value(props: dict[str, frontmatter.Flat]) -> Value:
    type_name = props["value_type"]
    present = [key for key in VALUE_PROPERTY.values() if key in props]
    if type_name == ValueType.NULL.value:
        if present:
            raise InvalidFact("value", f"type null but {present[0]} is set")
        return make_value(ValueType.NULL, None)
    try:
        expected = VALUE_PROPERTY[enum_member(ValueType, type_name)]
    except ValueError:
        raise InvalidFact("value_type", f"{type_name!r} is not a value type") from None
    if expected not in props:
        raise InvalidFact(expected, f"missing for value_type {type_name}")
    others = [key for key in present if key != expected]
    if others:
        raise InvalidFact(others[0], f"conflicts with value_type {type_name}")
    return make_value(type_name, props[expected], expected)


def _require_normal_form(props: dict[str, frontmatter.Flat], claim: Claim) -> None:
    # A signed file holds normalized values; anything else was edited or forged, and reading
    # it "as if normalized" would let two verifiers disagree about the same bytes.
    for key in ("entity", "relation", "source", "trust", "scope", "supersedes", "valid_until",
                "garden_id"):
        raw = props.get(key)
        normal = getattr(claim, key)
        normal = getattr(normal, "value", normal)
        if raw is not None and raw != normal:
            raise InvalidFact(key, f"{raw!r} is not in normal form (expected {normal!r})")
    value = claim.value
    if value.type in (ValueType.REF, ValueType.DATETIME):
        raw_value = props[VALUE_PROPERTY[value.type]]
        if raw_value != value.v:
            raise InvalidFact(VALUE_PROPERTY[value.type],
                              f"{raw_value!r} is not in normal form (expected {value.v!r})")
