"""Typed results the API returns (front ends format these; they never compute them).

Records of the layers below that the API hands out as they are (IndexedFact, ScanReport,
Token, Remote...) are re-exported here (``import X as X``), so a front end takes every type it
formats from api/ and never imports below it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from stigmem_vault.federation.state import AuditEntry as AuditEntry
from stigmem_vault.federation.state import Remote as Remote
from stigmem_vault.index.query import TRUST_WEIGHT as TRUST_WEIGHT
from stigmem_vault.index.query import ConflictRecord as ConflictRecord
from stigmem_vault.index.query import IndexedFact as IndexedFact
from stigmem_vault.index.query import Recalled as Recalled
from stigmem_vault.index.recall import VERDICT_TRUST as VERDICT_TRUST
from stigmem_vault.model.fact import Fact
from stigmem_vault.vault.packing import RepoSize as RepoSize
from stigmem_vault.vault.tokens import Token as Token
from stigmem_vault.vault.verify import FileVerdict, Verdict
from stigmem_vault.watch.outcome import Change as Change
from stigmem_vault.watch.outcome import ChangeKind as ChangeKind
from stigmem_vault.watch.scan import ScanReport as ScanReport


@dataclass(frozen=True, slots=True)
class PendingNote:
    """A person's draft, edit of a signed fact or conflict resolution, not signed yet (§14):
    waiting for its `sign` checkbox or, once ``ticked``, for a writer (`stigmem watch`, a node,
    `stigmem index`)."""

    path: str
    kind: str  # "draft" | "edit" | "resolution"
    fact_id: str | None = None  # for an edit: the signed original every reader still sees
    ticked: bool = False
    error: str | None = None  # why the last `sign` failed (its ``stigmem_error``), to fix first
    conflict_id: str | None = None  # for a resolution: the conflict its note is about


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
    vouches: bool = False  # the key may vouch for facts naming other sources (§9.3)


@dataclass(frozen=True, slots=True)
class VerifyReport:
    files: list[FileVerdict]
    trust_problems: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No trust problem, and every file valid or vouched for (§9.6)."""
        return not self.trust_problems and all(f.acceptable for f in self.files)

    @property
    def strict_ok(self) -> bool:
        """``ok``, and no file merely vouched for: every fact signed by its own source."""
        return self.ok and all(f.ok for f in self.files)

    def counts(self) -> dict[str, int]:
        counts = {v.value: 0 for v in Verdict}
        for item in self.files:
            counts[item.verdict.value] += 1
        return counts

    def problems(self, strict: bool = False) -> list[FileVerdict]:
        """Files that do not verify (with ``strict``, vouched ones too)."""
        return [f for f in self.files if not (f.ok if strict else f.acceptable)]


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
    repository: RepoSize | None  # git's objects on disk; None: no git repository


@dataclass(frozen=True, slots=True)
class FactView:
    """A fact with where it lives: what list/get return."""

    fact: Fact
    path: str


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


class ItemStatus(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One item of a batch write: its fact's id if accepted, else why it was rejected."""

    index: int
    status: ItemStatus
    fact_id: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class BatchResult:
    items: list[BatchItem]

    @property
    def accepted(self) -> int:
        return sum(1 for item in self.items if item.status is ItemStatus.ACCEPTED)

    @property
    def rejected(self) -> int:
        return len(self.items) - self.accepted

    def as_dict(self) -> dict[str, object]:
        """The batch answer's documented shape (spec §15.5): what HTTP sends and the
        idempotency store keeps."""
        return {"accepted": self.accepted, "rejected": self.rejected, "results": [
            {"index": item.index, "status": item.status.value}
            | ({"fact_id": item.fact_id} if item.fact_id is not None else {})
            | ({"error": item.error} if item.error is not None else {})
            for item in self.items]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BatchResult:
        results: list[dict[str, Any]] = data["results"]
        return cls([BatchItem(int(item["index"]), ItemStatus(item["status"]),
                              item.get("fact_id"), item.get("error")) for item in results])


@dataclass(frozen=True, slots=True)
class RemoteStatus:
    """One remote's synchronisation state, as ``stigmem status`` shows it."""

    remote: str
    url: str
    scopes: list[str]
    last_sync: str | None
    last_error: str | None
    ahead: int  # scopes whose projection has moved since the last push
    behind: int  # peer branches fetched but not yet accepted
    imported: int
    quarantined: int
    failures: int  # consecutive failed syncs
