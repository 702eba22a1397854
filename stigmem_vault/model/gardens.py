"""Memory Gardens: a named group, narrower than a scope, that shares a set of facts.

A garden is not a separate kind of file. It is a chain of signed **garden records**, ordinary
facts (docs/spec.md §17) on the garden's own entity, its id ``stigmem://<authority>/garden/<slug>``,
each tagged with that same ``garden_id`` (so only the garden's members see them):

* ``garden:name`` (string): creates the garden; its source becomes the first admin, its scope
  is the garden's scope. Later, by an admin: a rename.
* ``garden:description`` (string, by an admin).
* ``garden:member:<h16>`` (string ``"<role> <principal>"``, by an admin): sets a member's role
  (``admin``, ``writer``, ``reader``) or removes the member (``removed``). ``<h16>`` is the first
  16 hex digits of SHA-256 of the principal, so each member has a key of its own.
* ``garden:deleted`` (boolean true, by an admin): deletes the garden. Its facts stay, orphaned.

The garden's state is a **fold** over its valid records in (HLC, id) order, each applied only
if its source had the authority at that point (an admin, same scope). The fold depends on the
records alone, so every vault holding the same records computes the same garden; a record that
does not apply changes nothing and is reported (a peer's such record is quarantined, §16.6).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from stigmem_vault.errors import InvalidFact
from stigmem_vault.model.fact import Fact
from stigmem_vault.model.identifiers import normalize_source

PREFIX = "garden:"
NAME = "garden:name"
DESCRIPTION = "garden:description"
DELETED = "garden:deleted"
MEMBER = "garden:member:"
ROLES = ("admin", "writer", "reader")
REMOVED = "removed"
WRITE_ROLES = frozenset({"admin", "writer"})
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def is_garden_relation(relation: str) -> bool:
    return relation.startswith(PREFIX)


def garden_uri(authority: str, slug: str) -> str:
    return f"stigmem://{authority}/garden/{slug}"


def slug_of(garden_id: str) -> str:
    return garden_id.rsplit("/", 1)[-1]


def parse_slug(raw: object) -> str:
    if not isinstance(raw, str) or not SLUG.match(raw):
        raise InvalidFact("slug", f"{raw!r} must match ^[a-z0-9][a-z0-9-]{{0,62}}$ "
                                  "(lowercase letters, digits and '-')")
    return raw


def parse_role(raw: object) -> str:
    role = raw.strip().lower() if isinstance(raw, str) else raw
    if role not in ROLES:
        raise InvalidFact("role", f"{raw!r} is not one of: {', '.join(ROLES)}")
    return str(role)


def member_relation(member: str) -> str:
    return MEMBER + hashlib.sha256(member.encode()).hexdigest()[:16]


def member_value(role: str, member: str) -> str:
    return f"{role} {member}"


@dataclass(frozen=True, slots=True)
class Member:
    principal: str
    role: str
    added_by: str
    added_at: str


@dataclass(slots=True)
class Garden:
    """A garden as its records make it. ``id`` is the creating record's fact id."""

    garden_id: str
    id: str
    name: str
    scope: str
    created_by: str
    created_at: str
    description: str | None = None
    members: dict[str, Member] = field(default_factory=dict)

    @property
    def slug(self) -> str:
        return slug_of(self.garden_id)

    def role(self, principal: str) -> str | None:
        member = self.members.get(principal)
        return member.role if member else None

    def admins(self) -> list[str]:
        return [m.principal for m in self.members.values() if m.role == "admin"]


@dataclass(frozen=True, slots=True)
class Folded:
    garden: Garden | None  # None: never created, or deleted
    refused: tuple[tuple[Fact, str], ...] = ()  # records that did not apply, with the reason


def is_record_of(fact: Fact, garden_id: str) -> bool:
    return fact.entity == garden_id and fact.garden_id == garden_id and is_garden_relation(fact.relation)


def fold(records: Iterable[Fact]) -> Folded:
    """The garden its records make, and the records that did not apply (see module doc)."""
    garden: Garden | None = None
    refused: list[tuple[Fact, str]] = []
    for fact in sorted(records, key=lambda f: (f.hlc, f.id)):
        reason = _refusal(garden, fact)
        if reason is not None:
            refused.append((fact, reason))
            continue
        garden = _apply(garden, fact)
    return Folded(garden, tuple(refused))


def _refusal(garden: Garden | None, fact: Fact) -> str | None:
    """Why ``fact`` cannot apply to ``garden`` now, or None if it can."""
    if fact.garden_id != fact.entity or not is_garden_relation(fact.relation):
        return "not a record of this garden"
    if fact.confidence <= 0:
        return "a garden record is never retracted; a later record changes the garden"
    relation, v = fact.relation, fact.value.v
    if relation == NAME and garden is None:
        return None if isinstance(v, str) and v.strip() else "a garden name must be a non-empty string"
    if garden is None:
        return "the garden does not exist (it was never created, or it was deleted)"
    if fact.scope.value != garden.scope:
        return f"scope {fact.scope.value} differs from the garden's scope {garden.scope}"
    if garden.role(fact.source) != "admin":
        return f"{fact.source} is not an admin of {garden.garden_id}"
    if relation in (NAME, DESCRIPTION):
        return None if isinstance(v, str) else f"{relation} must be a string"
    if relation == DELETED:
        return None if v is True else "garden:deleted must be the boolean true"
    if relation.startswith(MEMBER):
        parsed = _parse_member(relation, v)
        if isinstance(parsed, str):
            return parsed
        member, role = parsed
        was = garden.role(member)
        if was == "admin" and role != "admin" and garden.admins() == [member]:
            return f"{member} is the garden's last admin"
        return None
    return f"{relation} is not a garden record"


def _parse_member(relation: str, v: object) -> tuple[str, str] | str:
    if not isinstance(v, str) or " " not in v:
        return "a member record's value is '<role> <principal>'"
    role, principal = v.split(" ", 1)
    if role not in (*ROLES, REMOVED):
        return f"{role!r} is not a member role"
    try:
        member = normalize_source(principal, "member")
    except InvalidFact as exc:
        return exc.reason
    if member != principal or member_relation(member) != relation:
        return f"{relation} does not name {principal}"
    return member, role


def _apply(garden: Garden | None, fact: Fact) -> Garden | None:
    v = fact.value.v
    if garden is None:  # garden:name creates it; its author is the first admin
        assert isinstance(v, str)
        created = Garden(fact.garden_id or fact.entity, fact.id, v, fact.scope.value,
                         fact.source, fact.timestamp)
        created.members[fact.source] = Member(fact.source, "admin", fact.source, fact.timestamp)
        return created
    if fact.relation == NAME:
        garden.name = str(v)
    elif fact.relation == DESCRIPTION:
        garden.description = str(v) or None
    elif fact.relation == DELETED:
        return None
    else:
        parsed = _parse_member(fact.relation, v)
        assert not isinstance(parsed, str)
        member, role = parsed
        if role == REMOVED:
            garden.members.pop(member, None)
        else:
            old = garden.members.get(member)
            garden.members[member] = Member(member, role, old.added_by if old else fact.source,
                                            old.added_at if old else fact.timestamp)
    return garden


__all__ = ["Folded", "Garden", "Member", "fold", "garden_uri", "is_garden_relation",
           "is_record_of", "member_relation", "member_value", "parse_role", "parse_slug"]
