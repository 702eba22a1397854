"""Typed results the API returns (front ends format these; they never compute them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from stigmem_vault.index.query import IndexedFact
from stigmem_vault.model.fact import Fact
from stigmem_vault.vault.verify import FileVerdict, Verdict


class IdentityRole(StrEnum):
    OWNER = "owner"  # the vault owner's key: it issues bindings
    NODE = "node"  # this clone's node key: it signs commits
    IDENTITY = "identity"  # any other source (an agent, a person)


@dataclass(frozen=True, slots=True)
class Identity:
    source: str
    key: str
    held: bool  # this machine holds the private key
    role: IdentityRole


@dataclass(frozen=True, slots=True)
class VerifyReport:
    files: list[FileVerdict]
    trust_problems: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.trust_problems and all(f.ok for f in self.files)

    def counts(self) -> dict[str, int]:
        counts = {v.value: 0 for v in Verdict}
        for item in self.files:
            counts[item.verdict.value] += 1
        return counts

    def problems(self) -> list[FileVerdict]:
        return [f for f in self.files if not f.ok]


@dataclass(frozen=True, slots=True)
class Explanation:
    path: str
    canonical: str | None
    computed_id: str | None
    recorded_id: str | None
    signer: str | None
    public_key_hex: str | None
    bound_sources: list[str]
    verdict: Verdict
    reason: str


@dataclass(frozen=True, slots=True)
class Status:
    root: str
    owner: str
    node_id: str | None  # None: a read-only copy with no node identity
    node_source: str | None
    facts_by_scope: dict[str, int]
    identities: int
    schemas: int
    head: str | None
    uncommitted: int


@dataclass(frozen=True, slots=True)
class FactView:
    """A fact with where it lives: what list/get return."""

    fact: Fact
    path: str


class ChangeKind(StrEnum):
    """What the vault did with a changed file (a gesture, §14, or an index update)."""

    INDEXED = "indexed"
    REMOVED = "removed"
    SIGNED = "signed"  # a draft became a signed fact
    AMENDED = "amended"  # an edit of a signed fact became a new fact superseding it
    RETRACTED = "retracted"  # a deleted signed fact was retracted
    RESTORED = "restored"  # a signed fact file was put back as it was signed
    RESOLVED = "resolved"  # a conflict note's resolution was signed
    REJECTED = "rejected"  # the file could not be used; the reason is in detail
    CONFIG = "config"  # the trust store or schemas changed


@dataclass(frozen=True, slots=True)
class Change:
    """One thing the vault did with a changed file."""

    kind: ChangeKind
    path: str
    detail: str = ""
    fact_id: str | None = None


@dataclass(frozen=True, slots=True)
class Provenance:
    item: IndexedFact
    file_status: str | None
    file_reason: str | None
    signer_sources: list[str]
    replaced: list[IndexedFact]  # older facts this one replaced (its supersedes chain)
    replaced_by: list[IndexedFact]  # newer facts that replace it, oldest first
    derived_from: list[tuple[str, IndexedFact | None]]
    derived_by: list[str]
    commits: list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Neighbor:
    entity: str
    relation: str
    hops: int
    confidence: float
    path: list[str]
