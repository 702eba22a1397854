"""What a saved, moved or deleted note means — as data; the API carries it out.

A human or an agent never edits signed facts in place; every gesture becomes new signed facts
(docs/spec.md §Gestures):

* a note with ``entity`` and ``relation`` properties and no signature (made from
  templates/fact.md, anywhere outside the managed folders) is a **draft**: signed by the owner
  and filed at its canonical path, or annotated with the error;
* a draft in ``inbox/<principal>/`` is signed with that principal's key, when this node holds it;
* a signed fact file whose semantic properties were edited is an **amend** by the owner;
* a deleted fact file is a **retraction** by the owner;
* a conflict note whose ``winner`` or ``value`` was filled in is a **resolution** by the owner.
"""

from __future__ import annotations

from dataclasses import dataclass

from stigmem_vault.errors import FormatError, InvalidFact
from stigmem_vault.model.fact import Claim, make_claim
from stigmem_vault.model.values import ValueType, make_value, parse_cli_value
from stigmem_vault.vault import frontmatter
from stigmem_vault.vault.markdown import VALUE_PROPERTY

INBOX_DIR = "inbox"
CONFLICTS_DIR = "conflicts"
MANAGED_DIRS = ("facts/", "conflicts/", "entities/", "inbox/", "templates/")
ERROR_PROPERTY = "stigmem_error"
_CLAIM_KEYS = ("entity", "relation", "source", "confidence", "trust", "scope", "valid_until",
               "supersedes", "derived_from", "garden_id")


@dataclass(frozen=True, slots=True)
class Note:
    props: dict[str, frontmatter.Flat]
    body: str


def parse_note(text: str, rel: str) -> Note:
    try:
        yaml_text, body, _ = frontmatter.split(text)
        return Note(frontmatter.load(yaml_text), body)
    except frontmatter.FrontmatterError as exc:
        raise FormatError(rel, exc.reason, exc.line) from None


def is_draft(note: Note) -> bool:
    """A note that asks to become a fact: it names an entity and a relation, unsigned."""
    return "entity" in note.props and "relation" in note.props and "signature" not in note.props


def draft_value(props: dict[str, frontmatter.Flat]) -> tuple[str, object]:
    """(type, v) from value_type plus value_<type>, or a plain ``value`` property."""
    type_name = props.get("value_type") or None
    typed = [key for key in VALUE_PROPERTY.values() if props.get(key) not in (None, "")]
    if type_name is None and len(typed) == 1:
        type_name = typed[0][len("value_"):]
    if type_name is None:
        type_name = _infer(props.get("value"))
    if not isinstance(type_name, str):
        raise InvalidFact("value_type", f"must be a value type name, got {type_name!r}")
    if type_name == ValueType.NULL.value:
        return type_name, None
    key = f"value_{type_name}"
    raw: object = props.get(key, props.get("value"))  # parse_cli_value may give any JSON
    if raw is None or raw == "":
        raise InvalidFact(key, f"is empty; set {key} (or value) to the fact's value")
    if type_name in ("number", "boolean") and isinstance(raw, str):
        raw = parse_cli_value(type_name, raw)  # Obsidian text "42" -> 42, "true" -> True
    return type_name, raw


def _infer(raw: object) -> str:
    if isinstance(raw, bool):
        return "boolean"
    if isinstance(raw, int | float):
        return "number"
    return "string"


def claim_from_draft(props: dict[str, frontmatter.Flat], default_source: str) -> Claim:
    """Validate a draft's properties into a Claim; InvalidFact names the first bad field."""
    for required in ("entity", "relation"):
        if props.get(required) in (None, ""):
            raise InvalidFact(required, "is missing; a fact note names an entity and a relation")
    type_name, raw = draft_value(props)
    fields = {key: props.get(key) for key in _CLAIM_KEYS if props.get(key) not in (None, "")}
    fields.setdefault("source", default_source)
    fields.setdefault("confidence", 1.0)
    return make_claim(value=make_value(type_name, raw), **fields)


def typed_notes(note: Note) -> str:
    """What the human wrote under a draft's properties, without our own error callout."""
    body = note.body
    if body.startswith("> [!error] stigmem"):
        body = body.split("\n\n", 1)[1] if "\n\n" in body else ""
    return body.strip()


def annotate(note: Note, field: str, reason: str) -> str:
    """The note's text with the error as a property and as a callout at the top of its body."""
    props = {k: v for k, v in note.props.items() if k != ERROR_PROPERTY}
    props[ERROR_PROPERTY] = f"{field}: {reason}"
    body = note.body
    marker = "> [!error] stigmem"
    if body.startswith(marker):
        body = body.split("\n\n", 1)[1] if "\n\n" in body else ""
    callout = f"{marker} could not sign this note\n> **{field}**: {reason}\n\n"
    return "---\n" + frontmatter.dump(props) + "---\n" + callout + body


def inbox_principal(rel: str) -> str | None:
    """The principal slug of an inbox draft path ``inbox/<slug>/...``, else None."""
    parts = rel.split("/")
    return parts[1] if len(parts) >= 3 and parts[0] == INBOX_DIR else None


def principal_slug(source: str) -> str:
    """The inbox folder name for a principal: ``agent:codex`` -> ``agent-codex``."""
    return source.replace("://", "-").replace(":", "-").replace("/", "-")


def is_loose_note(rel: str) -> bool:
    """A Markdown note outside every folder stigmem manages."""
    return rel.endswith(".md") and not rel.startswith(MANAGED_DIRS) and not rel.startswith(".")
