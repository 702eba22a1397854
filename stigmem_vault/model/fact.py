"""The fact: seven semantic fields plus expiry, supersession, provenance and its signature.

Two shapes:

* :class:`Claim` — what a writer asserts (entity, relation, value, source, confidence, trust,
  scope, valid_until, supersedes, derived_from). Built with :func:`make_claim`, which validates
  and normalizes every field once.
* :class:`Fact` — a claim stamped (hlc, timestamp) and signed (signer, signature), with its
  content-addressed ``id``. Facts are produced by ``canonical.signing.sign_claim`` or parsed from
  a file; they are immutable.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TypeVar

from stigmem_vault.errors import InvalidFact
from stigmem_vault.model.hlc import HLC
from stigmem_vault.model.identifiers import (
    is_reserved_relation,
    is_system_source,
    normalize_identifier,
    normalize_relation,
    normalize_source,
)
from stigmem_vault.model.values import (
    Scalar,
    Value,
    enum_member,
    expiry_instant,
    is_fact_id,
    parse_iso_datetime,
)

E = TypeVar("E", bound=StrEnum)

FACT_FORMAT = "stigmem.fact/1"
MAX_DERIVED_FROM = 64
_CONTENT_HASH = re.compile(r"^sha256:[0-9a-f]{64}$")


class Scope(StrEnum):
    """The replication boundary. ``local`` never leaves the machine."""

    LOCAL = "local"
    TEAM = "team"
    COMPANY = "company"
    PUBLIC = "public"


class TrustClass(StrEnum):
    """How the source came to know the value."""

    OBSERVED = "observed"
    INFERRED = "inferred"
    REPORTED = "reported"
    STALE_RISK = "stale-risk"


@dataclass(frozen=True, slots=True)
class Claim:
    entity: str
    relation: str
    value: Value
    source: str
    confidence: float = 1.0
    trust: TrustClass = TrustClass.OBSERVED
    scope: Scope = Scope.LOCAL
    valid_until: str | None = None
    supersedes: str | None = None
    derived_from: tuple[str, ...] = ()
    # The Memory Garden the fact belongs to (its URI), or None. Signed when present (§6.1).
    garden_id: str | None = None


@dataclass(frozen=True, slots=True)
class Fact:
    """A signed, stamped claim. ``id`` is the SHA-256 of its canonical bytes (lowercase hex)."""

    id: str
    claim: Claim
    hlc: str
    timestamp: str
    signer: str
    signature: str
    # Extra frontmatter properties a human or plugin added (tags, aliases...): kept, not signed.
    # Flat like all frontmatter: a scalar or a list of scalars.
    extra: tuple[tuple[str, Scalar | list[Scalar]], ...] = field(default=(), compare=False)

    # Flat accessors: callers read fact.entity rather than fact.claim.entity.
    @property
    def entity(self) -> str:
        return self.claim.entity

    @property
    def relation(self) -> str:
        return self.claim.relation

    @property
    def value(self) -> Value:
        return self.claim.value

    @property
    def source(self) -> str:
        return self.claim.source

    @property
    def confidence(self) -> float:
        return self.claim.confidence

    @property
    def trust(self) -> TrustClass:
        return self.claim.trust

    @property
    def scope(self) -> Scope:
        return self.claim.scope

    @property
    def valid_until(self) -> str | None:
        return self.claim.valid_until

    @property
    def supersedes(self) -> str | None:
        return self.claim.supersedes

    @property
    def derived_from(self) -> tuple[str, ...]:
        return self.claim.derived_from

    @property
    def garden_id(self) -> str | None:
        return self.claim.garden_id

    @property
    def stamp(self) -> HLC:
        return HLC.parse(self.hlc)

    def expired(self, now: datetime) -> bool:
        if self.valid_until is None:
            return False
        return expiry_instant(self.valid_until) <= now


def parse_confidence(raw: object) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise InvalidFact("confidence", f"must be a number between 0.0 and 1.0, got {raw!r}")
    try:
        value = float(raw)
    except OverflowError:
        raise InvalidFact("confidence", f"{raw!r} is outside 0.0-1.0") from None
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise InvalidFact("confidence", f"{raw!r} is outside 0.0-1.0")
    return value


def parse_enum(enum: type[E], raw: object, field_name: str) -> E:
    try:
        return enum_member(enum, raw.strip().lower() if isinstance(raw, str) else raw)
    except ValueError:
        allowed = ", ".join(item.value for item in enum)
        raise InvalidFact(field_name, f"{raw!r} is not one of: {allowed}") from None


def parse_fact_ref(raw: object, field_name: str) -> str:
    """A reference to another fact (supersedes): its 64-hex id."""
    if not isinstance(raw, str) or not is_fact_id(raw.strip().lower()):
        raise InvalidFact(field_name, f"{raw!r} is not a fact id (64 lowercase hex digits)")
    return raw.strip().lower()


GARDEN_ID = re.compile(r"^stigmem://[^/]+/garden/[a-z0-9][a-z0-9-]{0,62}$")


def parse_garden_id(raw: object, field_name: str = "garden_id") -> str:
    """A garden's id: ``stigmem://<authority>/garden/<slug>`` in identifier normal form."""
    if not isinstance(raw, str):
        raise InvalidFact(field_name, f"must be a garden URI string, got {raw!r}")
    text = normalize_identifier(raw, field_name)
    if not GARDEN_ID.match(text):
        raise InvalidFact(field_name, f"{raw!r} is not a garden id "
                                      "(stigmem://<authority>/garden/<slug>)")
    return text


def parse_derived_from(raw: object) -> tuple[str, ...]:
    """Provenance links: fact ids or ``sha256:<hex>`` content hashes; a sorted, unique set."""
    if raw is None:
        return ()
    if isinstance(raw, str) or not isinstance(raw, list | tuple):
        raise InvalidFact("derived_from", f"must be a list of fact ids, got {raw!r}")
    if len(raw) > MAX_DERIVED_FROM:
        raise InvalidFact("derived_from", f"has more than {MAX_DERIVED_FROM} entries")
    links = set()
    for item in raw:
        text = item.strip().lower() if isinstance(item, str) else item
        if not isinstance(text, str) or not (is_fact_id(text) or _CONTENT_HASH.match(text)):
            raise InvalidFact(
                "derived_from", f"{item!r} is neither a fact id nor a sha256:<hex> content hash"
            )
        links.add(text)
    return tuple(sorted(links))


def make_claim(
    *,
    entity: object,
    relation: object,
    value: Value,
    source: object,
    confidence: object = 1.0,
    trust: object = TrustClass.OBSERVED,
    scope: object = Scope.LOCAL,
    valid_until: object = None,
    supersedes: object = None,
    derived_from: object = None,
    garden_id: object = None,
) -> Claim:
    """Validate and normalize every field of a claim; raise InvalidFact naming the first bad one."""
    norm_source = normalize_source(source)
    norm_relation = normalize_relation(relation)
    if is_reserved_relation(norm_relation) and not is_system_source(norm_source):
        raise InvalidFact(
            "relation",
            f"{norm_relation!r} is reserved (the stigmem: prefix and rel:subject/object/type): "
            f"only system: sources may write it; {norm_source!r} is not a system source",
        )
    until = None
    if valid_until is not None:
        if not isinstance(valid_until, str):
            raise InvalidFact("valid_until", f"must be an ISO 8601 string, got {valid_until!r}")
        parse_iso_datetime(valid_until, "valid_until")
        until = valid_until.strip()
    return Claim(
        entity=normalize_identifier(entity, "entity"),
        relation=norm_relation,
        value=value,
        source=norm_source,
        confidence=parse_confidence(confidence),
        trust=parse_enum(TrustClass, trust, "trust"),
        scope=parse_enum(Scope, scope, "scope"),
        valid_until=until,
        supersedes=None if supersedes is None else parse_fact_ref(supersedes, "supersedes"),
        derived_from=parse_derived_from(derived_from),
        garden_id=None if garden_id is None else parse_garden_id(garden_id),
    )
