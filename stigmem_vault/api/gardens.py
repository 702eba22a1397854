"""Memory Gardens in the vault: their records read from the index, folded, and written.

A garden is a chain of signed garden records (``model/gardens.py``; docs/spec.md §17): facts,
so they are stored, committed, verified, indexed and federated like every other fact. This
module reads them back and writes new ones; who may see or change which garden is decided by
the principal's view (``api/view.py``), the one place every front end goes through.
"""

from __future__ import annotations

import threading
from collections import defaultdict

from nacl.signing import SigningKey

from stigmem_vault.api.context import VaultContext
from stigmem_vault.api.facts import FactWriter
from stigmem_vault.api.index_keeper import IndexKeeper
from stigmem_vault.errors import AlreadyExists, InvalidFact, NotFound
from stigmem_vault.model import gardens as g
from stigmem_vault.model.fact import Fact, Scope, make_claim, parse_enum
from stigmem_vault.model.identifiers import normalize_source
from stigmem_vault.model.values import make_value


class Gardens:
    """The gardens this vault's records make, and the writing of new records."""

    def __init__(self, ctx: VaultContext, keeper: IndexKeeper, facts: FactWriter) -> None:
        self._ctx = ctx
        self._keeper = keeper
        self._facts = facts
        # Check-then-write (a slug is free, a member is new) is atomic within this process.
        self.lock = threading.RLock()

    @property
    def owner(self) -> str:
        return self._ctx.config.owner

    def key_for(self, source: str) -> SigningKey:
        """The key that signs ``source``'s garden records (its newest held binding)."""
        return self._ctx.signing_key_for(source)

    def folds(self) -> dict[str, g.Folded]:
        """Every garden id the vault has records of -> what its records make."""
        records: dict[str, list[Fact]] = defaultdict(list)
        for item in self._keeper.index.garden_records():
            records[item.fact.entity].append(item.fact)
        return {gid: g.fold(facts) for gid, facts in records.items()}

    def all(self) -> dict[str, g.Garden]:
        """The gardens that exist now (created, not deleted), by garden id."""
        return {gid: folded.garden for gid, folded in self.folds().items()
                if folded.garden is not None}

    @staticmethod
    def find(gardens: dict[str, g.Garden], ref: str) -> g.Garden | None:
        """The garden ``ref`` names among ``gardens``: its id (``stigmem://…/garden/<slug>``),
        its record id, or its slug. A garden id with another authority names the garden of
        that slug if exactly one has it (upstream ignores the authority altogether)."""
        wanted = ref.strip()
        if wanted in gardens:
            return gardens[wanted]
        lowered = wanted.lower()
        if lowered in gardens:
            return gardens[lowered]
        for garden in gardens.values():
            if garden.id == lowered:
                return garden
        slug = g.slug_of(lowered) if lowered.startswith("stigmem://") and "/garden/" in lowered else lowered
        same = [garden for garden in gardens.values() if garden.slug == slug]
        return same[0] if len(same) == 1 else None

    def new_id(self, slug: str) -> str:
        node = self._ctx.node
        if node is None:
            raise InvalidFact("garden", "this copy is read-only (no node identity): it cannot "
                                        "create gardens")
        return g.garden_uri(node.node_id, g.parse_slug(slug))

    # ----------------------------------------------------------------- writing records

    def create(self, author: str, key: SigningKey, *, slug: str, name: str, scope: str,
               description: str | None = None) -> g.Garden:
        """Create a garden whose first admin is ``author``; 409 if the slug is taken."""
        garden_id = self.new_id(slug)
        scope_value = parse_enum(Scope, scope, "scope").value
        if not isinstance(name, str) or not name.strip():
            raise InvalidFact("name", "must be a non-empty string")
        with self.lock:
            existing = self.all()
            if garden_id in existing or any(x.slug == slug for x in existing.values()):
                raise AlreadyExists(f"a garden with slug {slug!r} exists")
            self._record(author, key, garden_id, scope_value, g.NAME, "string", name)
            if description:
                self._record(author, key, garden_id, scope_value, g.DESCRIPTION, "string",
                             description)
            created = self.all().get(garden_id)
        if created is None:
            raise NotFound("garden", garden_id, "it was written but is not in the index")
        return created

    def set_member(self, author: str, key: SigningKey, garden: g.Garden, member: str,
                   role: str, *, adding: bool) -> g.Garden:
        """Give ``member`` ``role`` (``removed`` takes it away). ``adding``: 409 if already a
        member; else 404 if not one. Removing or demoting the last admin is 409."""
        principal = normalize_source(member, "entity_uri")
        with self.lock:
            current = self.all().get(garden.garden_id)
            if current is None:
                raise NotFound("garden", garden.garden_id)
            was = current.role(principal)
            if adding and was is not None:
                raise AlreadyExists(f"{principal} is already a member ({was}) of {current.slug}")
            if not adding and was is None:
                raise NotFound("member", principal)
            if was == "admin" and role != "admin" and current.admins() == [principal]:
                raise AlreadyExists(f"{principal} is the last admin of {current.slug}; "
                                    "make another member admin first")
            self._record(author, key, current.garden_id, current.scope,
                         g.member_relation(principal), "string", g.member_value(role, principal))
            updated = self.all().get(current.garden_id)
        if updated is None:
            raise NotFound("garden", garden.garden_id)
        return updated

    def delete(self, author: str, key: SigningKey, garden: g.Garden) -> None:
        with self.lock:
            self._record(author, key, garden.garden_id, garden.scope, g.DELETED, "boolean", True)

    def _record(self, author: str, key: SigningKey, garden_id: str, scope: str, relation: str,
                value_type: str, value: object) -> Fact:
        claim = make_claim(entity=garden_id, relation=relation,
                           value=make_value(value_type, value), source=author, scope=scope,
                           garden_id=garden_id)
        return self._facts.write_claim(claim, key=key)


__all__ = ["Gardens"]
