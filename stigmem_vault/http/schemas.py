"""What the node answers, as pydantic models: the OpenAPI document's response schemas.

The routes build plain dicts (``wire.py``) and these models only *document* them
(``responses=`` on each route), so serving costs nothing extra; the schemathesis run in
``tests/http`` checks every answer against them. Every field is required: the node always sends
every key, with an explicit ``null`` where it has no value (contract §1.2). Upstream keys come
first; ours (signature, signer, trust class, verification, supersession) follow.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

ScopeName = Literal["local", "team", "company", "public"]
ValueTypeName = Literal["string", "text", "number", "boolean", "datetime", "ref", "null"]
TrustClassName = Literal["observed", "inferred", "reported", "stale-risk"]
Verification = Literal["valid", "vouched", "unattested", "unknown-signer", "id-mismatch",
                       "invalid-signature", "malformed"]

FACT_ID = r"^[0-9a-f]{64}$"
CID = r"^sha256:[0-9a-f]{64}$"


# ------------------------------------------------------------------------- facts


class FactValue(BaseModel):
    type: ValueTypeName
    v: str | float | bool | None = Field(description="null for the null type; a number for "
                                                     "number, a boolean for boolean, else a string")
    interpret_as: Literal["content", "instruction"] = Field(
        description="always content: this node stores facts as data, never as instructions")


class DerivedLink(BaseModel):
    fact_id: str | None = Field(default=None, pattern=FACT_ID)
    hash: str | None = Field(default=None, pattern=CID)


class FactRecord(BaseModel):
    """A fact on the wire: every upstream key, then this node's additions."""

    id: str = Field(pattern=FACT_ID, description="content-addressed: hash of the signed form")
    entity: str
    relation: str
    value: FactValue
    source: str
    timestamp: str = Field(description="ISO 8601 UTC time the fact was signed")
    hlc: str = Field(description="hybrid logical clock; string order is causal order")
    received_from: str | None
    valid_until: str | None
    confidence: float = Field(ge=0.0, le=1.0)
    scope: ScopeName
    attested_key_id: str | None = Field(description="the signing key (ed25519:...)")
    origin_node_id: str | None
    origin_allowed_scopes: list[str] | None
    garden_id: str | None
    attested: bool | None = Field(description="signer bound to the source; null without auth")
    contradicted: bool
    warnings: list[str]
    source_trust: float | None = Field(description="null on the assert response")
    quarantine_status: str | None
    quarantine_garden_id: str | None
    effective_confidence: float | None = Field(description="confidence x source_trust")
    sanitizer_warnings: list[str]
    sanitizer_redacted: bool
    cid: str = Field(pattern=CID, description="upstream content id (seven fields)")
    derived_from: list[DerivedLink]
    # stigmem-vault additions
    signer: str = Field(description="Ed25519 key id of the signer")
    signature: str = Field(description="Ed25519 signature over the canonical form (base64url)")
    trust_class: TrustClassName
    verification: Verification
    vouched_by: str | None = Field(description="with verification 'vouched': the principal "
                                                "whose key signed the fact in its source's name")
    supersedes: str | None = Field(pattern=FACT_ID, description="the fact this one replaces")
    superseded_by: str | None = Field(pattern=FACT_ID)
    live: bool = Field(description="not superseded, retracted or expired")
    expired: bool
    path: str | None = Field(description="the fact's file, relative to the vault")


class FactList(BaseModel):
    facts: list[FactRecord]
    total: int = Field(ge=0, description="matching facts across all pages")
    cursor: str | None = Field(description="pass back as ?cursor= for the next page; null at "
                                           "the end")
    tombstone_notices: list[Any]


class BatchItem(BaseModel):
    index: int = Field(ge=0)
    status: Literal["accepted", "rejected"]
    fact_id: str | None = Field(default=None, pattern=FACT_ID)
    error: str | None = None


class BatchResult(BaseModel):
    accepted: int = Field(ge=0)
    rejected: int = Field(ge=0)
    results: list[BatchItem]


class ProvenanceLink(BaseModel):
    hash: str | None
    exists: bool
    fact_id: str | None = Field(default=None, pattern=FACT_ID)
    entity: str | None = None


class Commit(BaseModel):
    commit: str
    message: str


class Provenance(BaseModel):
    fact_id: str = Field(pattern=FACT_ID)
    cid: str = Field(pattern=CID)
    derived_from: list[ProvenanceLink]
    signer: str
    signer_sources: list[str] = Field(description="sources the trust store binds the signer to")
    verification: str | None
    verification_reason: str | None
    supersedes_chain: list[str] = Field(description="older facts this one replaced, newest first")
    superseded_by_chain: list[str] = Field(description="newer facts replacing it, oldest first")
    derived_by: list[str] = Field(description="facts that name this one in derived_from")
    commits: list[Commit]


class CidCheck(BaseModel):
    cid_valid: bool
    computed_cid: str = Field(pattern=CID)
    stored_cid: str
    mismatch_reason: str | None
    signature_valid: bool = Field(description="the file on disk verifies right now")
    verification: str
    verification_reason: str


# ------------------------------------------------------------------------- recall and graph


class ScoreBreakdown(BaseModel):
    lexical: float
    semantic: float
    graph: float
    source_trust: float | None
    recency: float
    weighted_total: float
    trust_class: float
    confidence: float
    contradicted_factor: float


class ScoredFact(BaseModel):
    fact: FactRecord
    score: float
    score_breakdown: ScoreBreakdown
    hop_distance: int = Field(ge=0)
    token_estimate: int = Field(ge=1)
    from_card: bool


class RecallResult(BaseModel):
    recall_id: str = Field(min_length=36, max_length=36, description="a UUID")
    query_hash: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of the query")
    facts: list[ScoredFact]
    content: list[ScoredFact]
    instructions: list[ScoredFact] = Field(description="always empty: facts are data")
    total_scored: int = Field(ge=0)
    token_budget: int
    tokens_used: int = Field(ge=0)
    truncated: bool
    tombstone_notices: list[Any]
    chain_proof: dict[str, Any] | None


class Neighbor(BaseModel):
    entity: str
    relation: str
    hops: int = Field(ge=1, le=3)
    confidence: float
    source_trust: float | None
    path: list[str]


class Neighbors(BaseModel):
    entity: str
    depth: int = Field(ge=1, le=3)
    neighbors: list[Neighbor]
    next_cursor: str | None
    total_hint: int = Field(ge=0)


# ------------------------------------------------------------------------- conflicts


class Conflict(BaseModel):
    conflict_id: str
    fact_a: FactRecord | None
    fact_b: FactRecord | None
    status: Literal["unresolved", "resolved"] = Field(
        description="upstream's enum: an obsolete conflict (vault_status) says resolved")
    vault_status: Literal["open", "resolved", "obsolete"] = Field(
        description="ours: open, resolved (by the owner: resolved_by names how) or obsolete "
                    "(one side was replaced otherwise)")
    resolved_by: str | None = Field(description="the resolution fact's id")
    detected_at: str
    entity: str
    relation: str
    scope: ScopeName


class ConflictList(BaseModel):
    conflicts: list[Conflict]
    cursor: str | None
    has_more: bool


class Resolution(BaseModel):
    resolution_fact_id: str = Field(pattern=FACT_ID)
    conflict_status: Literal["resolved"]


# ------------------------------------------------------------------------- discovery


class Health(BaseModel):
    status: Literal["ok"]


class Cors(BaseModel):
    dev_localhost: bool
    configured: list[str]


class Implementation(BaseModel):
    name: str
    fact_format: str


class WellKnown(BaseModel):
    version: str
    node_id: str | None
    node_url: str
    auth: Literal["required", "none"]
    federation: Literal["enabled", "disabled"]
    source_attestation: Literal["enforce", "warn", "off"]
    namespaces: list[str]
    spec: str
    cors: Cors
    implementation: Implementation


# ------------------------------------------------------------------------- overviews


LintCheckName = Literal["contradiction", "stale", "orphan", "broken_ref", "namespacing", "schema",
                        "low_confidence"]


class LintFinding(BaseModel):
    check: LintCheckName
    severity: Literal["error", "warning", "info"]
    entity: str
    relation: str | None
    fact_ids: list[str]
    detail: str


class LintResult(BaseModel):
    findings: list[LintFinding]
    checked_at: str
    scope: ScopeName
    checks_run: list[LintCheckName]
    fact_count: int = Field(ge=0, description="facts in the scope (narrowed like the sweep)")


class MemoryCard(BaseModel):
    """Upstream's MemoryCardResponse, then the live facts the card was made of."""

    entity_uri: str
    scope: ScopeName
    summary: str = Field(description="one line per live fact: relation, value, confidence")
    fact_hashes: list[str] = Field(description="the cids of those facts")
    avg_confidence: float = Field(ge=0.0, le=1.0)
    refreshed_at: str | None = Field(description="computed on every read: the time of this one")
    is_stale: bool = Field(description="always false: a card is never cached")
    has_contradictions: bool
    facts: list[FactRecord]


class Peer(BaseModel):
    peer_id: str = Field(description="the peer vault's node id")
    node_id: str
    node_url: str = Field(description="the git remote it is reached through (no credentials), "
                                      "or remote:<name> for one on this machine")
    status: Literal["pending_verification", "active", "revoked"]
    allowed_scopes: list[ScopeName] = Field(description="scopes exchanged with it that this "
                                                        "token may read")
    established_at: str | None
    owner: str
    fingerprint: str = Field(description="of its owner key, to compare out of band")
    trust: Literal["pending", "trusted", "revoked"] = Field(description="our word for status")
    remote: str | None


class Remote(BaseModel):
    name: str
    url: str
    scopes: list[ScopeName]
    last_sync: str | None
    last_error: str | None


class PeerList(BaseModel):
    peers: list[Peer]
    remotes: list[Remote]


class Me(BaseModel):
    entity_uri: str = Field(description="the principal: the source its writes are signed as")
    permissions: list[Literal["read", "write"]]
    oidc_sub: None
    tenant_id: None
    scopes: list[ScopeName]
    token_id: str | None = Field(description="the token's public handle; null without auth")
    auth: Literal["token", "none"]


class PendingNoteRecord(BaseModel):
    path: str = Field(description="the note, relative to the vault")
    kind: Literal["draft", "edit", "resolution"]
    fact_id: str | None = Field(description="an edit: the signed original every reader still "
                                            "sees; else null")
    conflict_id: str | None = Field(description="a resolution: its conflict; else null")
    ticked: bool = Field(description="its sign checkbox is ticked (no writer has signed it yet)")
    error: str | None = Field(description="why its last sign was refused (stigmem_error)")


class PendingList(BaseModel):
    pending: list[PendingNoteRecord]


class Reverted(BaseModel):
    path: str = Field(description="the fact note that got its signed bytes back")


# ------------------------------------------------------------------------- errors


class ValidationIssue(BaseModel):
    type: str
    loc: list[str | int] = Field(description="where: e.g. [body, value, v]")
    msg: str = Field(description="why")
    input: Any = None
    ctx: dict[str, Any] | None = None


class ErrorInfo(BaseModel):
    code: str = Field(description="machine-readable reason, e.g. cid_malformed, fact_not_found")
    message: str
    field: str | None = Field(default=None, description="the offending parameter, if one")
    issues: list[ValidationIssue] | None = Field(
        default=None, description="422 only: each field that breaks a rule (loc) and why (msg)")


class Error(BaseModel):
    """Every error answer: ``detail`` is one line of text (what upstream clients print);
    ``error`` carries the same with its machine-readable parts."""

    detail: str = Field(description="the reason, one line")
    error: ErrorInfo


def _error(description: str, model: type[BaseModel] = Error,
           headers: dict[str, str] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {"model": model, "description": description}
    if headers:
        answer["headers"] = {name: {"description": text, "schema": {"type": "string"}}
                             for name, text in headers.items()}
    return answer


_ANSWERS: dict[int, dict[str, Any]] = {
    400: _error("a malformed parameter or body: error.code and error.field say which"),
    401: _error("no bearer token, or one the node does not know",
                headers={"WWW-Authenticate": "Bearer"}),
    403: _error("the token lacks the permission or scope (error.code says which)"),
    404: _error("no such fact, conflict or garden, or none this token may see"),
    409: _error("the conflict is already resolved, the idempotency key was used for another "
                "request, or (gardens) the slug or member exists, or the last admin would go"),
    413: _error("the request body exceeds the node's limit"),
    422: _error("a field has the wrong type or an invalid value: each of error.issues names "
                "the field (loc) and says why (msg)"),
    429: _error("rate limit for this principal exceeded",
                headers={"Retry-After": "seconds until a request may succeed"}),
    503: _error("the vault cannot serve this now (configuration or storage trouble)"),
}
AUTH = (401, 403, 429)  # every route behind a token
BODY = (413, 422)  # every route that takes a JSON body


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The documented error answers of a route (503 always: the vault may be unusable)."""
    return {code: _ANSWERS[code] for code in sorted({*codes, 503})}


def ok(model: type[BaseModel], description: str, status: int = 200,
       headers: dict[str, str] | None = None) -> dict[int | str, dict[str, Any]]:
    answer: dict[str, Any] = {"model": model, "description": description}
    if headers:
        answer["headers"] = {name: {"description": text, "schema": {"type": "string"}}
                             for name, text in headers.items()}
    return {status: answer}
