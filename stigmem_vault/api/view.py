"""The vault as one principal sees it: every read and write a front end makes, fenced.

    view = vault.as_principal(principal)     # a token's principal, or vault.operator()
    item = view.get("3f2a9c1e")              # NotFound, exactly as for a missing id
    fact, warnings = view.write(claim)

Authorization lives here and only here: the HTTP node and the MCP server parse a request, call
one method of a ``PrincipalView`` and format what it returns; neither filters by scope itself,
so no front end can show what another hides.

The rules (spec §15.4):

* A fact, conflict or derivation link is **visible** to a principal when its scope is one of
  the principal's scopes. Reads need ``read``, writes ``write``.
* A fact outside the principal's scopes is **missing** to it, everywhere and alike: the same
  ``NotFound`` (type and message, but for the reference itself) whether it is hidden or does
  not exist, as a fact reference, as the target of ``supersedes``, as a derivation parent or
  child, as a link in a replacement chain, as a conflict's resolution, or as a fact's
  ``superseded_by``. An id prefix is matched among visible facts only, so an ambiguity never
  names a hidden fact.
* **Gardens** (spec §17). A fact with a ``garden_id`` is visible only to the garden's members
  (any role) and to the vault owner, who holds every file anyway; to anyone else it is missing,
  exactly as above, and so is the garden itself: every garden endpoint answers a non-member as
  it answers for a garden that does not exist. Writing into a garden needs the role ``writer``
  or ``admin`` and the garden's scope; managing members needs ``admin``. A principal that may
  see a garden but not do what it asked gets 403.
* A write's ``supersedes`` must name a visible fact: the principal never changes the liveness of
  a fact it may not read. ``derived_from`` may name any fact id or cid, as before (a parent need
  not be in this vault); a derivation replaces a fact only on its own key (§13.1), and a hidden
  fact is never on the key of a fact the principal may write, since the scope is part of the key.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from typing import Any

from nacl.signing import SigningKey

from stigmem_vault.api.access import AccessControl, Principal
from stigmem_vault.api.cards import CARD_MAX_FACTS, Card, make_card
from stigmem_vault.api.changes import Changes, make_cursor, parse_cursor
from stigmem_vault.api.facts import FactWriter
from stigmem_vault.api.federation import Federation
from stigmem_vault.api.gardens import Gardens
from stigmem_vault.api.index_keeper import IndexKeeper
from stigmem_vault.api.lint import LOW_CONFIDENCE, LintReport, LintScope, lint
from stigmem_vault.api.peers import PeerView, RemoteView, peer_views, remote_views
from stigmem_vault.api.results import (
    BatchResult,
    Neighbor,
    PendingNote,
    Provenance,
    VerifyReport,
)
from stigmem_vault.canonical.cid import CID_PATTERN
from stigmem_vault.errors import AccessDenied, InvalidFact, NotFound, StigmemError
from stigmem_vault.index import health
from stigmem_vault.index.query import ConflictRecord, Filters, IndexedFact, Recalled
from stigmem_vault.model import gardens as g
from stigmem_vault.model.fact import Claim, Scope, parse_enum
from stigmem_vault.model.identifiers import normalize_source
from stigmem_vault.vault.verify import FileVerdict

Verify = Callable[[list[str]], VerifyReport]  # vault-relative fact paths -> their verdicts
Pending = Callable[[], list[PendingNote]]  # Vault.pending: the notes waiting for `sign`
Revert = Callable[[str], str]  # Vault.revert: a pending edit gets its signed bytes back

_HEX = frozenset("0123456789abcdef")
_PREFIX_MATCHES = 50  # ids fetched for a prefix before the hidden ones are dropped


class PrincipalView:
    """Every operation a front end offers, on behalf of one principal, with its rules applied."""

    def __init__(self, principal: Principal, keeper: IndexKeeper, facts: FactWriter,
                 access: AccessControl, verify: Verify, gardens: Gardens,
                 federation: Federation | None = None, pending: Pending | None = None,
                 revert: Revert | None = None) -> None:
        self.principal = principal
        self._keeper = keeper
        self._facts = facts
        self._access = access
        self._verify = verify
        self._gardens = gardens
        self._federation = federation
        self._pending = pending
        self._revert = revert

    # ------------------------------------------------------------- gardens it sees

    @property
    def sees_every_garden(self) -> bool:
        return self.principal.source == self._gardens.owner

    def _garden_map(self) -> dict[str, g.Garden]:
        """The gardens this principal may see (in its scopes), by garden id."""
        every = self._gardens.all()
        return {gid: garden for gid, garden in every.items() if self.sees(garden.scope)
                and (self.sees_every_garden or garden.role(self.principal.source) is not None)}

    def _visible_gardens(self) -> tuple[str, ...] | None:
        """For query filters: None (every fact) for the owner, else the gardens it is in."""
        return None if self.sees_every_garden else tuple(sorted(self._garden_map()))

    def _sees_garden_of(self, garden_id: str | None) -> bool:
        return garden_id is None or self.sees_every_garden or garden_id in self._garden_map()

    def _garden(self, ref: str) -> g.Garden:
        found = Gardens.find(self._garden_map(), ref)
        if found is None:
            raise NotFound("garden", ref)  # alike for a garden that is hidden or not there
        return found

    def _admin_of(self, ref: str) -> g.Garden:
        self.principal.require("write")
        garden = self._garden(ref)
        if garden.role(self.principal.source) != "admin":
            raise AccessDenied("garden_admin_required",
                               f"{self.principal.source} is not an admin of garden {garden.slug}")
        self.principal.require_scope(garden.scope)
        return garden

    # ------------------------------------------------------------- what it sees

    def sees(self, scope: str | Scope) -> bool:
        return (scope.value if isinstance(scope, Scope) else scope) in self.principal.scopes

    def _shown(self, item: IndexedFact | None,
               hidden: frozenset[str] | None = None) -> IndexedFact | None:
        """``item`` as this principal may see it, or None if it is hidden (or None).

        ``hidden``: the hidden ids among the items' replacers, if already known."""
        if item is None or not self.sees(item.fact.scope) or not self._sees_garden_of(item.fact.garden_id):
            return None
        replacer = item.superseded_by
        if replacer is not None and (replacer in hidden if hidden is not None
                                     else self._hidden(replacer)):
            # Replaced by a fact it may not read: still not live, but the replacer is not named.
            return dataclasses.replace(item, superseded_by=None)
        return item

    def _shown_all(self, items: Sequence[IndexedFact]) -> list[IndexedFact | None]:
        """``_shown`` of many items, with one look-up for all their replacers."""
        replacers = sorted({i.superseded_by for i in items if i.superseded_by is not None})
        found = self._keeper.index.get_many(replacers) if replacers else {}
        hidden = frozenset(fid for fid, item in found.items() if not self.sees(item.fact.scope)
                           or not self._sees_garden_of(item.fact.garden_id))
        return [self._shown(item, hidden) for item in items]

    def _hidden(self, fact_id: str) -> bool:
        found = self._keeper.index.get(fact_id)
        return found is not None and (not self.sees(found.fact.scope)
                                      or not self._sees_garden_of(found.fact.garden_id))

    def _visible_id(self, fact_id: str) -> IndexedFact | None:
        return self._shown(self._keeper.index.get(fact_id))

    def scopes(self, scope: str | Sequence[str] | None = None) -> tuple[str, ...]:
        """The scopes a read covers: the asked ones (each must be the principal's, else 403
        ``scope_not_permitted``; an unknown one is InvalidFact ``scope``), or all of its own."""
        if scope is None or (not isinstance(scope, str) and not scope):
            return tuple(sorted(self.principal.scopes))
        asked = [scope] if isinstance(scope, str) else list(scope)
        wanted = tuple(dict.fromkeys(parse_enum(Scope, s, "scope").value for s in asked))
        for item in wanted:
            self.principal.require_scope(item)
        return wanted

    # ------------------------------------------------------------- reads

    def filters(self, *, scope: str | Sequence[str] | None = None, garden: str | None = None,
                **options: Any) -> Filters:
        """Query filters (``Vault.filters``) over the scopes this principal may read.

        ``garden``: only the facts of this garden (a garden id, slug or record id), which must
        be one the principal may see (else NotFound, as for a garden that does not exist)."""
        filters = self._keeper.filters(scope=list(self.scopes(scope)), **options)
        if garden is not None:
            filters = dataclasses.replace(filters, garden_id=self._garden(garden).garden_id)
        return filters

    def _fenced(self, filters: Filters) -> Filters:
        self.principal.require("read")
        return dataclasses.replace(filters, scopes=self.scopes(filters.scopes),
                                   gardens=self._visible_gardens())

    def query(self, filters: Filters) -> list[IndexedFact]:
        """Facts matching ``filters`` within this principal's scopes."""
        items = self._keeper.index.query(self._fenced(filters))
        return [shown for shown in self._shown_all(items) if shown is not None]

    def count(self, filters: Filters) -> int:
        return self._keeper.index.count(self._fenced(filters))

    def recall(self, text: str, *, limit: int = 10, scope: str | Sequence[str] | None = None,
               min_confidence: float | None = None, trust: str | list[str] | None = None,
               include_contradicted: bool = True, include_unattested: bool = False,
               include_vouched: bool = True, **options: Any) -> list[Recalled]:
        """Ranked recall (``Vault.recall``; ``options``: as_of, weights, depth,
        include_neighbors) over the live facts this principal may read. The graph walk
        crosses only ref facts in those scopes (and gardens), so a neighbour is never reached
        through a fact the principal may not read."""
        self.principal.require("read")
        hits = self._keeper.recall(text, limit=limit, scope=list(self.scopes(scope)),
                                 min_confidence=min_confidence, trust=trust,
                                 include_contradicted=include_contradicted,
                                  include_unattested=include_unattested,
                                  include_vouched=include_vouched,
                                  gardens=self._visible_gardens(), **options)
        shown = zip(hits, self._shown_all([hit.item for hit in hits]), strict=True)
        return [hit if item is hit.item else dataclasses.replace(hit, item=item)
                for hit, item in shown if item is not None]

    def neighbors(self, entity: str, *, depth: int = 1, scope: str | Sequence[str] | None = None,
                  relation_prefix: str | None = None,
                  min_confidence: float = 0.0) -> list[Neighbor]:
        """The graph walk (``Vault.neighbors``) over ``ref`` facts this principal may read."""
        self.principal.require("read")
        return self._keeper.neighbors(entity, depth=depth, scopes=list(self.scopes(scope)),
                                    relation_prefix=relation_prefix,
                                    min_confidence=min_confidence,
                                    gardens=self._visible_gardens())

    def get(self, ref: str) -> IndexedFact:
        """The fact a reference names: a fact id, a unique prefix of 8+ hex digits among the
        facts this principal may read, or an upstream cid (``sha256:`` + 64 hex).

        InvalidFact(``id``) for a malformed reference or an ambiguous prefix; NotFound for a
        fact that is missing or hidden, alike."""
        self.principal.require("read")
        found = self._resolve(ref)
        if found is None:
            raise NotFound("fact", ref)
        return found

    def _resolve(self, ref: str) -> IndexedFact | None:
        wanted = ref.strip()
        index = self._keeper.index
        if wanted.startswith("sha256:"):
            if not CID_PATTERN.match(wanted):
                raise InvalidFact("id", f"{ref!r} is not a cid (sha256: and 64 lowercase hex)")
            # Same claim, same cid: the live fact first, then the newest.
            return next(filter(None, map(self._visible_id, index.ids_with_cid(wanted))), None)
        if not 8 <= len(wanted) <= 64 or not set(wanted.lower()) <= _HEX:
            raise InvalidFact("id", f"{ref!r} is not a fact id or a prefix of 8+ hex digits")
        wanted = wanted.lower()
        if len(wanted) == 64:
            return self._visible_id(wanted)
        items = [item for item in map(self._visible_id, index.ids_with_prefix(wanted, _PREFIX_MATCHES))
                 if item is not None]
        if len(items) > 1:
            raise InvalidFact("id", f"prefix {ref!r} is ambiguous: "
                                    + ", ".join(i.fact.id[:16] for i in items[:5]))
        return items[0] if items else None

    def provenance(self, ref: str) -> Provenance:
        """``Vault.provenance`` of a visible fact, with every hidden fact left out as missing:
        a hidden parent is ``(link, None)``, a hidden child is not listed, and a replacement
        chain stops before its first hidden fact."""
        item = self.get(ref)
        prov = self._keeper.provenance(item.fact.id)
        index = self._keeper.index
        parents: list[tuple[str, IndexedFact | None]] = []
        for parent, found in prov.derived_from:
            if found is None and parent.startswith("sha256:"):  # an upstream cid: find its fact
                found = next(iter(index.get_many(index.ids_with_cid(parent)[:1]).values()), None)
            parents.append((parent, self._shown(found)))
        children = index.get_many(prov.derived_by)
        return dataclasses.replace(
            prov, item=item, replaced=self._chain(prov.replaced),
            replaced_by=self._chain(prov.replaced_by), derived_from=parents,
            derived_by=[c for c in prov.derived_by if self._shown(children.get(c)) is not None])

    def _chain(self, items: Iterable[IndexedFact]) -> list[IndexedFact]:
        chain: list[IndexedFact] = []
        for item in items:
            shown = self._shown(item)
            if shown is None:
                break  # what lies beyond a hidden link is reached only through it
            chain.append(shown)
        return chain

    def verify(self, ref: str) -> tuple[IndexedFact, FileVerdict | None]:
        """A visible fact and its file's verdict now (None if the fact has no file)."""
        item = self.get(ref)
        if not item.path:
            return item, None
        report = self._verify([item.path])
        return item, report.files[0] if report.files else None

    def conflicts(self, status: str | None = None) -> list[ConflictRecord]:
        """Conflicts (``Vault.conflicts``) in this principal's scopes."""
        self.principal.require("read")
        return self._conflicts(status)

    def _conflicts(self, status: str | None = None) -> list[ConflictRecord]:
        return [self._conflict_shown(c) for c in self._keeper.conflicts(status)
                if self.sees(c.scope) and self._sees_garden_of(_garden_of(c))]

    def _conflict_shown(self, record: ConflictRecord) -> ConflictRecord:
        # Both sides share the conflict's key, hence its scope; a resolution need not.
        resolution = record.resolution
        if resolution is not None and self._hidden(resolution):
            resolution = None
        return dataclasses.replace(record, fact_a=self._shown(record.fact_a),
                                   fact_b=self._shown(record.fact_b), resolution=resolution)

    def conflict(self, conflict_id: str) -> ConflictRecord:
        """A visible conflict by id or unique prefix of 8+ hex digits; NotFound if it is
        missing or hidden, alike."""
        self.principal.require("read")
        return self._conflict(conflict_id)

    def _conflict(self, conflict_id: str) -> ConflictRecord:
        wanted = conflict_id.strip().lower()
        if not 8 <= len(wanted) <= 32 or not set(wanted) <= _HEX:
            raise NotFound("conflict", conflict_id)  # no conflict has such an id
        found = [c for c in self._conflicts() if c.id.startswith(wanted)]
        if len(found) > 1:
            raise InvalidFact("conflict_id", f"prefix {conflict_id!r} is ambiguous: "
                                             + ", ".join(c.id for c in found[:5]))
        if not found:
            raise NotFound("conflict", conflict_id)
        return found[0]

    # ------------------------------------------------------------- overviews

    @staticmethod
    def _statuses(include_unattested: bool) -> tuple[str, ...]:
        # The verdicts a listing shows: a relaxed node's listings also show what it vouched
        # for and what is unattested (§15.2); overviews show the same.
        return ("valid", "vouched", "unattested") if include_unattested else ("valid",)

    def lint(self, scope: str, checks: Sequence[str] | None = None, *,
             entity: str | None = None, relation: str | None = None,
             stale_lookahead_s: int = 0, min_confidence: float = LOW_CONFIDENCE,
             include_unattested: bool = False) -> LintReport:
        """A read-only health sweep of one scope the principal may read (api/lint.py)."""
        self.principal.require("read")
        [wanted] = self.scopes(scope)
        narrowed = self._keeper.filters(entity=entity, relation=relation)
        where = LintScope(self._keeper.index, wanted, self._statuses(include_unattested),
                          narrowed.entity, narrowed.relation, self.scopes())
        return lint(where, checks, stale_lookahead_s=stale_lookahead_s,
                    min_confidence=min_confidence, schemas=self._keeper.schemas,
                    conflicts=lambda: self._conflicts("open"))

    def card(self, entity: str, scope: str, *, include_unattested: bool = False) -> Card:
        """The entity's live facts in one scope the principal may read, as a card; NotFound
        when it has none (or none the principal may see, alike)."""
        items = self.query(self.filters(entity=entity, scope=scope, newest_first=True,
                                        include_unattested=include_unattested,
                                        limit=CARD_MAX_FACTS))
        normalized = self.filters(entity=entity).entity or entity
        if not items:
            raise NotFound("entity with live facts", normalized, f"in scope {scope}")
        return make_card(normalized, scope, items)

    def changes(self, scope: str | Sequence[str] | None = None, cursor: str | None = None, *,
                limit: int = 50, include_unattested: bool = False) -> Changes:
        """The facts indexed since ``cursor`` (api/changes.py) in the scopes asked (default:
        all of the principal's), live or not, oldest first; at most ``limit``."""
        self.principal.require("read")
        if not 1 <= limit <= 500:
            raise InvalidFact("limit", f"{limit} is outside 1-500")
        scopes = self.scopes(scope)
        index = self._keeper.index
        generation = health.generation(index)
        after, reset = parse_cursor(cursor, generation)
        rows, newest = health.changed_since(index, after, scopes,
                                            self._statuses(include_unattested), limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        last = rows[-1][0] if more else max(newest, after)
        items = [shown for shown in self._shown_all([item for _row, item in rows])
                 if shown is not None]
        return Changes(items, make_cursor(generation, last), more, reset)

    def federation(self) -> tuple[list[PeerView], list[RemoteView]]:
        """The peers and remotes this vault federates with, as far as the principal's scopes
        reach (api/peers.py)."""
        self.principal.require("read")
        if self._federation is None:
            return [], []
        remotes = self._federation.sync_status()
        return (peer_views(self._federation.peers(), remotes, self.principal.scopes),
                remote_views(remotes, self.principal.scopes))

    # ------------------------------------------------------------- writes

    def attest(self, claim: Claim, attestation: str = "enforce") -> tuple[SigningKey, list[str]]:
        """May this principal write ``claim``? Its permission, scope and source (``Vault.attest``:
        403), then what the claim refers to (404). Returns the key to sign with and warnings."""
        key, warnings = self._access.attest(self.principal, claim, attestation)
        self._check_references(claim)
        return key, warnings

    def in_garden(self, claim: Claim, ref: str | None) -> Claim:
        """``claim`` placed in the garden ``ref`` names (its id, slug or record id), with the
        garden's own id; NotFound for a garden this principal may not see, as for none. The
        write itself checks the role and the scope."""
        if ref is None:
            return claim
        return dataclasses.replace(claim, garden_id=self._garden(ref).garden_id)

    def _check_references(self, claim: Claim) -> None:
        if g.is_garden_relation(claim.relation):
            raise InvalidFact("relation", f"{claim.relation!r}: garden: relations are garden "
                                          "records, written through the gardens API only")
        if claim.garden_id is not None:
            garden = self._garden(claim.garden_id)  # NotFound for a non-member, as for none
            if garden.role(self.principal.source) not in g.WRITE_ROLES:
                raise AccessDenied("garden_write_denied",
                                   f"{self.principal.source} may not write into garden "
                                   f"{garden.slug} (writer or admin role needed)")
            if claim.scope.value != garden.scope:
                raise InvalidFact("scope", f"{claim.scope.value!r} differs from garden "
                                           f"{garden.slug}'s scope {garden.scope!r}")
        if claim.supersedes is not None and self._visible_id(claim.supersedes) is None:
            raise NotFound("fact", claim.supersedes, "supersedes must name a fact you may read")

    def write(self, claim: Claim, attestation: str = "enforce") -> tuple[IndexedFact, list[str]]:
        """Sign ``claim`` with this principal's key and write it durably (on this thread)."""
        key, warnings = self.attest(claim, attestation)
        fact = self._facts.write_claim(claim, key=key)
        item = self._keeper.index.get(fact.id)
        if item is None:
            raise NotFound("fact", fact.id, "it was written but is not in the index")
        return item, warnings

    def submit(self, claim: Claim,
               attestation: str = "enforce") -> tuple[Future[IndexedFact], list[str]]:
        """``write`` through the vault's group writer: returns at once with the future fact."""
        key, warnings = self.attest(claim, attestation)
        return self._facts.submit(claim, key=key), warnings

    def write_batch(self, claims: list[Claim | Exception], *, atomic: bool, key: str | None,
                    request_hash: str, attestation: str = "enforce") -> BatchResult:
        """``Vault.write_batch`` (spec §15.5) with each item's references checked as in
        ``write``: an item naming a hidden fact is rejected exactly as one naming none."""
        checked: list[Claim | Exception] = []
        for claim in claims:
            if not isinstance(claim, Exception):
                try:
                    self._access.attest(self.principal, claim, attestation)
                except StigmemError:
                    pass  # refused by the batch's own checks, with this same error
                else:
                    try:
                        self._check_references(claim)
                    except StigmemError as exc:
                        claim = exc
            checked.append(claim)
        return self._access.write_batch(self.principal, checked, atomic=atomic, key=key,
                                      request_hash=request_hash, attestation=attestation)

    def resolve(self, conflict_id: str, *, winner: str | None = None,
                value: object = None) -> tuple[ConflictRecord, IndexedFact]:
        """Resolve a visible open conflict with a fact signed by this principal (who must be
        the vault owner or a system source: ``Vault.resolve``). A conflict that is not open
        is InvalidFact(``conflict``). Returns the conflict (as it was) and the resolution."""
        self.principal.require("write")
        record = self._conflict(conflict_id)
        self.principal.require_scope(record.scope)
        fact = self._facts.resolve(record.id, winner=winner, value=value,
                                  source=self.principal.source)
        item = self._keeper.index.get(fact.id)
        if item is None:
            raise NotFound("fact", fact.id, "it was written but is not in the index")
        return record, item

    # ------------------------------------------------------------- pending notes (spec §14)

    def pending(self) -> list[PendingNote]:
        """The notes of this clone waiting for their `sign` tick (``Vault.pending``). They are
        files of the working tree, scopes or not, so only the vault owner with every scope
        may list them (403 ``owner_required`` otherwise)."""
        self.principal.require("read")
        self._require_whole_vault("list the pending notes")
        if self._pending is None:
            raise AccessDenied("owner_required", "this view cannot list pending notes")
        return self._pending()

    def revert(self, target: str) -> str:
        """Drop a pending edit of a signed fact (its path or fact id): the file gets its signed
        bytes back (``Vault.revert``). The vault owner with every scope only, as ``pending``."""
        self.principal.require("write")
        self._require_whole_vault("revert a pending edit")
        if self._revert is None:
            raise AccessDenied("owner_required", "this view cannot revert pending edits")
        return self._revert(target)

    def _require_whole_vault(self, doing: str) -> None:
        if (self.principal.source != self._gardens.owner
                or not {s.value for s in Scope} <= self.principal.scopes):
            raise AccessDenied("owner_required", f"only the vault owner ({self._gardens.owner}) "
                                                 f"with every scope may {doing}")

    # ------------------------------------------------------------- gardens (spec §17)

    def gardens(self) -> list[g.Garden]:
        """The gardens this principal may see: its own, or every one for the vault owner."""
        self.principal.require("read")
        return sorted(self._garden_map().values(), key=lambda x: (x.slug, x.garden_id))

    def garden(self, ref: str) -> g.Garden:
        """A garden by id, record id or slug; NotFound if it is missing or hidden, alike."""
        self.principal.require("read")
        return self._garden(ref)

    def create_garden(self, *, slug: str, name: str, scope: str = "company",
                      description: str | None = None) -> g.Garden:
        """A new garden in ``scope``; this principal becomes its first admin. 409 if the slug
        is taken."""
        self.principal.require("write")
        self.principal.require_scope(parse_enum(Scope, scope, "scope").value)
        source = self.principal.source
        return self._gardens.create(source, self._gardens.key_for(source), slug=slug,
                                    name=name, scope=scope, description=description)

    def add_garden_member(self, ref: str, member: str, role: str = "reader") -> g.Member:
        garden = self._admin_of(ref)
        return self._set_member(garden, member, g.parse_role(role), adding=True)

    def set_garden_role(self, ref: str, member: str, role: str) -> g.Member:
        garden = self._admin_of(ref)
        return self._set_member(garden, member, g.parse_role(role), adding=False)

    def remove_garden_member(self, ref: str, member: str) -> None:
        garden = self._admin_of(ref)
        self._set_member(garden, member, g.REMOVED, adding=False)

    def _set_member(self, garden: g.Garden, member: str, role: str, *, adding: bool) -> g.Member:
        source = self.principal.source
        updated = self._gardens.set_member(source, self._gardens.key_for(source), garden,
                                           member, role, adding=adding)
        principal = normalize_source(member, "entity_uri")
        found = updated.members.get(principal)  # None once removed
        return found if found is not None else g.Member(principal, role, source, "")

    def delete_garden(self, ref: str) -> None:
        """Delete a garden (admin only). Its facts stay, orphaned: only the owner sees them."""
        garden = self._admin_of(ref)
        source = self.principal.source
        self._gardens.delete(source, self._gardens.key_for(source), garden)


def _garden_of(record: ConflictRecord) -> str | None:
    # Both sides of a conflict are of one garden (index/conflicts.py): either side tells it.
    side = record.fact_a or record.fact_b
    return side.fact.garden_id if side is not None else None


__all__ = ["PrincipalView"]
