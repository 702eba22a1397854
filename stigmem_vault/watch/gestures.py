"""What a saved, moved or deleted note means — as data; the API carries it out.

A human or an agent never edits signed facts in place; every gesture becomes new signed facts
(docs/spec.md §Gestures):

* a note with ``entity`` and ``relation`` properties and no signature (made from
  templates/fact.md, anywhere outside the managed folders) is a **draft**: once its checkbox
  property ``sign`` is ticked, signed by the owner and filed at its canonical path, or annotated
  with the error (and ``sign`` unticked again); before that it is pending and never rewritten;
* a draft in ``inbox/<principal>/`` is signed with that principal's key, when this node holds it:
  on arrival for an agent's folder, on ``sign`` for a person's (``inbox/user-*/``);
* a signed fact file whose semantic properties were edited is pending until ``sign`` is ticked,
  then an **amend** by the owner;
* a person's note (draft or edit) whose properties do not read is left alone until a
  ``sign: true`` line stands among them, then it says why (``annotate_unreadable``);
* a signed fact note moved out of facts/ is put back (a move is not a retraction);
* a deleted fact file (or one moved into ``.trash/``) is a **retraction** by the owner;
* a conflict note whose ``winner`` or ``value`` was filled in is a **resolution** by the owner.
"""

from __future__ import annotations

import re
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
KEPT_PROPERTIES = ("tags", "aliases", "cssclasses")  # a person's unsigned properties, carried over
SIGN_PROPERTY = "sign"  # an Obsidian checkbox: ticked = "sign this now"
NOTES_HEADING = "## Notes"  # a fact file's body: the rendered summary, then the person's notes
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


def typed_notes(note: Note, generated: str = "") -> str:
    """What the human wrote under a note's properties, without our own error callout.

    For an edit of a signed fact, ``generated`` is the summary stigmem rendered for the
    original (``summary_of``; it shows the original's value): that part, and the ``## Notes``
    heading the person's text sits under, are not carried into the amendment. A summary the person
    changed is kept whole: nothing they typed is lost."""
    body = note.body
    if body.startswith("> [!error] stigmem"):
        body = body.split("\n\n", 1)[1] if "\n\n" in body else ""
    if generated and body.startswith(generated):
        body = body[len(generated):].lstrip("\n")
        if body.startswith(NOTES_HEADING + "\n"):
            body = body[len(NOTES_HEADING) + 1:]
    return body.strip()


def summary_of(signed_text: str) -> str:
    """The summary stigmem rendered in a signed fact file's body (§7.6): the body up to its
    ``## Notes`` section, if any. What the file's writer rendered, whatever its version."""
    try:
        body = frontmatter.split(signed_text)[1]
    except frontmatter.FrontmatterError:
        return ""
    end = body.find("\n" + NOTES_HEADING + "\n")
    return body if end < 0 else body[:end + 1]


def annotate(note: Note, field: str, reason: str) -> str:
    """The note's text with the error as a property and as a callout at the top of its body."""
    props = {k: v for k, v in note.props.items() if k != ERROR_PROPERTY}
    props[ERROR_PROPERTY] = f"{field}: {reason}"
    if SIGN_PROPERTY in props:
        props[SIGN_PROPERTY] = False  # unticked: fix the field, then tick it again
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


def sign_ticked(props: dict[str, frontmatter.Flat]) -> bool:
    """True when the person ticked the ``sign`` checkbox (Obsidian writes ``sign: true``)."""
    value = props.get(SIGN_PROPERTY)
    return value is True or (isinstance(value, str) and value.strip().lower() in ("true", "yes"))


_TICKED_LINE = re.compile(r"^sign:[ \t]*(?:true|yes|\"true\"|'true')[ \t]*\r?$",
                          re.IGNORECASE | re.MULTILINE)


def ticked_unreadable(text: str) -> bool:
    """Whether a note whose properties cannot be read still shows a ticked ``sign: true``
    line among them: the person asked for it to be signed, so they should hear why not."""
    return _TICKED_LINE.search(_property_block(text)) is not None


def annotate_unreadable(text: str, reason: str) -> str:
    """A person's note whose properties cannot be read, ticked: its ``sign`` line unticked and
    the reason in a callout under the properties (at the top if even the fences are broken),
    the rest byte for byte, so fixing the named problem and ticking again is all it takes."""
    block = _property_block(text)
    unticked = _TICKED_LINE.sub("sign: false", block, count=1)
    marker = "> [!error] stigmem could not read this note"
    callout = f"{marker}\n> **frontmatter**: {reason}\n\n"
    rest = text[len(block):]
    if rest.startswith("---"):  # the closing fence: the callout goes under it
        fence, _, body = rest.partition("\n")
        if body.startswith(marker):
            body = body.split("\n\n", 1)[1] if "\n\n" in body else ""
        return f"{unticked}{fence}\n{callout}{body}"
    return callout + unticked + rest


def drop_sign(text: str) -> str:
    """The note without its ``sign`` property line(s) (a fact file that needs no signing)."""
    block = _property_block(text)
    kept = re.sub(r"^sign:.*(?:\r?\n|$)", "", block, flags=re.MULTILINE)
    return kept + text[len(block):]


def _property_block(text: str) -> str:
    """The note's text up to its closing ``---`` line (all of it if there is none)."""
    if not text.startswith("---"):
        return ""
    closing = re.search(r"^---[ \t]*\r?$", text[3:], re.MULTILINE)
    return text if closing is None else text[:3 + closing.start()]


def untick(props: dict[str, frontmatter.Flat]) -> dict[str, frontmatter.Flat]:
    """The properties with ``sign`` unticked (kept as a checkbox so it can be ticked again)."""
    return {**props, SIGN_PROPERTY: False}


def needs_sign(rel: str) -> bool:
    """Whether a draft at ``rel`` is a person's, signed only when ``sign`` is ticked: a loose
    note anywhere outside the managed folders, or a draft in a person's inbox ``inbox/user-*/``.
    Agents' inboxes (``inbox/agent-*/`` and any other non-person principal) sign on arrival."""
    slug = inbox_principal(rel)
    return slug is None or slug.startswith("user-")


def kept_properties(props: dict[str, frontmatter.Flat]) -> dict[str, frontmatter.Flat]:
    """The person's own unsigned properties (tags, aliases) to carry into the signed fact."""
    return {k: props[k] for k in KEPT_PROPERTIES if props.get(k) not in (None, "", [])}
