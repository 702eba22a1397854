"""Identifiers for entities, sources and relations: validation and normalization.

An identifier is never an ambient name: it always carries a scheme.

* formal:   ``stigmem://{authority}/{type}/{id}`` (the id may contain ``/``)
* informal: ``{kind}:{name}`` such as ``user:alice``, ``agent:codex``, ``system:indexer``,
  ``project:atlas``, ``urn:isbn:0451450523``

Normalization (the upstream rule, applied everywhere an identifier enters): Unicode NFC,
trim, lowercase, and every run of whitespace inside becomes ``-``.
"""

from __future__ import annotations

import re
import unicodedata

from stigmem_vault.errors import InvalidFact

SOURCE_KINDS = ("user", "agent", "system")
# The whole stigmem: namespace is the system's. Of rel:, only the reification triple is: upstream
# uses other rel: relations (rel:owner in its own conformance vectors) as ordinary predicates.
RESERVED_RELATION_PREFIXES = ("stigmem:",)
RESERVED_RELATIONS = frozenset({"rel:subject", "rel:object", "rel:type"})
MAX_IDENTIFIER_LENGTH = 512

_WHITESPACE = re.compile(r"\s+")
_FORMAL = re.compile(r"^stigmem://([^/]+)/([^/]+)/(.+)$")
_INFORMAL = re.compile(r"^([a-z][a-z0-9+.-]*):(.+)$")
_EMPTY_NAME = re.compile(r"^[a-z][a-z0-9+.-]*:$")  # user: with nothing after the colon
# Characters an identifier may not contain anywhere: controls, and the few that break
# Markdown links, YAML plain scalars or file names on common systems.
_FORBIDDEN = re.compile(r'[\x00-\x1f\x7f-\x9f"<>\\|`\[\]{}#^]')
# A namespace (prefix) and name parts; a bare name without a namespace is accepted too, as
# upstream does (with a warning on the wire: http/wire.py).
_RELATION = re.compile(r"^[a-z][a-z0-9_-]*(?::[a-z0-9_][a-z0-9_.\-/]*)*$")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def check_scalar_values(text: str, field: str) -> str:
    """``text`` if it is Unicode text: no lone surrogate (U+D800-U+DFFF), which no UTF-8 file,
    JSON answer or SQLite row can hold (JSON's ``"\\ud800"`` escape decodes to one)."""
    found = _SURROGATE.search(text)
    if found:
        raise InvalidFact(field, f"contains a lone surrogate (U+{ord(found.group()):04X} at "
                                 f"character {found.start()}): text must be Unicode scalar values")
    return text


def normalize_identifier(raw: object, field: str) -> str:
    """Return the normalized form of an entity or ref identifier, or raise InvalidFact."""
    if not isinstance(raw, str):
        raise InvalidFact(field, f"must be a string identifier, got {type(raw).__name__}")
    check_scalar_values(raw, field)
    text = _WHITESPACE.sub("-", unicodedata.normalize("NFC", raw).strip()).lower()
    # Lowercasing can leave a decomposed sequence (Greek with diacritics: "Ϊ́" -> "ϊ" + U+0301);
    # NFC once more so normalizing a normalized identifier changes nothing.
    text = unicodedata.normalize("NFC", text)
    if not text:
        raise InvalidFact(field, "must not be empty")
    if len(text) > MAX_IDENTIFIER_LENGTH:
        raise InvalidFact(field, f"is longer than {MAX_IDENTIFIER_LENGTH} characters")
    forbidden = _FORBIDDEN.search(text)
    if forbidden:
        raise InvalidFact(field, f"contains the forbidden character {forbidden.group()!r} in {text!r}")
    if text.startswith("stigmem://"):
        match = _FORMAL.match(text)
        if not match:
            empty = " (its id is empty)" if re.match(r"^stigmem://[^/]+/[^/]+/?$", text) else ""
            raise InvalidFact(
                field, f"{text!r} is not of the form stigmem://authority/type/id{empty}"
            )
        if any(part in (".", "..") for part in match.group(3).split("/")) or "//" in text[10:]:
            raise InvalidFact(field, f"{text!r} has an empty, '.' or '..' path segment")
        return text
    if _EMPTY_NAME.match(text):
        raise InvalidFact(field, f"{text!r} has an empty name; give one after the colon, "
                                 f"such as {text}alice")
    if not _INFORMAL.match(text):
        raise InvalidFact(
            field,
            f"{text!r} has no scheme; use a typed identifier such as user:alice, "
            "agent:codex or stigmem://org/project/atlas",
        )
    return text


def source_kind(source: str) -> str | None:
    """The principal kind of a normalized source (user, agent, system), or None."""
    match = _FORMAL.match(source)
    kind = match.group(2) if match else source.split(":", 1)[0]
    return kind if kind in SOURCE_KINDS else None


def normalize_source(raw: object, field: str = "source") -> str:
    """Normalize a source and check that it names a principal (user, agent or system)."""
    text = normalize_identifier(raw, field)
    if source_kind(text) is None:
        raise InvalidFact(
            field,
            f"{text!r} is not a principal; sources are agent:NAME, user:NAME, system:NAME "
            "or stigmem://authority/(agent|user|system)/NAME",
        )
    return text


def adopt_source(raw: object, field: str = "source") -> tuple[str, str | None]:
    """A source as an upstream client may send it, made a principal (§2.2, §15.2).

    Upstream takes any string as a source (``my-agent``, ``obsidian://vault/People/A.md``,
    ``example/x``); a fact here needs a principal. A principal is kept (normalized); anything
    else becomes the ``agent:`` of its normalized text, with a note saying so (None if kept)."""
    try:
        return normalize_source(raw, field), None
    except InvalidFact:
        if not isinstance(raw, str):
            raise
    check_scalar_values(raw, field)
    text = _WHITESPACE.sub("-", unicodedata.normalize("NFC", raw).strip()).lower()
    if not text:
        raise InvalidFact(field, "must not be empty")
    adopted = normalize_source(f"agent:{text}", field)
    return adopted, (f"source_normalized: {raw!r} is not a principal (user:, agent:, system:); "
                     f"stored as {adopted}")


def is_system_source(source: str) -> bool:
    return source_kind(source) == "system"


def normalize_relation(raw: object, field: str = "relation") -> str:
    """Normalize a relation: a namespaced predicate like ``memory:role`` (or a bare name)."""
    if not isinstance(raw, str):
        raise InvalidFact(field, f"must be a string, got {type(raw).__name__}")
    check_scalar_values(raw, field)
    text = unicodedata.normalize("NFC", raw).strip().lower()
    if not text:
        raise InvalidFact(field, "must not be empty")
    if len(text) > MAX_IDENTIFIER_LENGTH:
        raise InvalidFact(field, f"is longer than {MAX_IDENTIFIER_LENGTH} characters")
    if not _RELATION.match(text):
        raise InvalidFact(
            field,
            f"{text!r} is not a predicate; use prefix:name with lowercase letters, digits, "
            "'_', '-', '.', '/' (e.g. memory:role)",
        )
    return text


def is_reserved_relation(relation: str) -> bool:
    return relation.startswith(RESERVED_RELATION_PREFIXES) or relation in RESERVED_RELATIONS
