"""Typed results the API returns (front ends format these; they never compute them)."""

from __future__ import annotations

from dataclasses import dataclass, field

from stigmem_vault.model.fact import Fact
from stigmem_vault.vault.verify import FileVerdict, Verdict


@dataclass(frozen=True, slots=True)
class Identity:
    source: str
    key: str
    held: bool  # this machine holds the private key
    role: str  # owner | node | identity


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
