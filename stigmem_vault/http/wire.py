"""The upstream Stigmem v1 wire format <-> our model (contract §1-§3).

Request models are deliberately permissive about *values* (``Any``): the fact model validates
them and its messages name the field and the reason, so a rule lives in one place. Every
upstream FactRecord key is always present (explicit nulls); our additions are extra keys.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from stigmem_vault.http.schemas import ScopeName, TrustClassName, ValueTypeName
from stigmem_vault.index.query import TRUST_WEIGHT as TRUST_CLASS_WEIGHT
from stigmem_vault.index.query import IndexedFact, Recalled
from stigmem_vault.model.values import Value

# How much a verification verdict lets a reader trust the source (our source_trust).
VERDICT_TRUST = {"valid": 1.0, "unattested": 0.5, "unknown-signer": 0.25}


SCOPE_ENUM = {"enum": list(get_args(ScopeName))}
# Strict: a JSON value of the wrong type is a 422 naming the field, never silently coerced
# ("0.5" is not a confidence, 0 is not a boolean). Integers are still numbers.
STRICT = ConfigDict(extra="forbid", strict=True)
EXAMPLE_FACT = {"entity": "user:alice", "relation": "memory:role",
                "value": {"type": "string", "v": "engineer"}, "source": "agent:codex",
                "confidence": 0.9, "scope": "team"}


def _strict(*examples: dict[str, Any]) -> ConfigDict:
    return ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": list(examples)})


class FactValueIn(BaseModel):
    model_config = STRICT
    type: ValueTypeName
    v: Any = Field(default=None, description="the value, checked against its type: a string "
                                             "(string/text up to 4/64 KiB, ISO 8601 datetime, "
                                             "identifier ref), a number, a boolean, or absent "
                                             "for null")
    interpret_as: Literal["content", "instruction"] = Field(
        default="content", description="only content: 'instruction' is refused (422)")


class AssertRequest(BaseModel):
    model_config = _strict(EXAMPLE_FACT)
    entity: str = Field(min_length=1, max_length=512,
                        description="a typed identifier: user:alice, stigmem://org/project/x")
    relation: str = Field(min_length=1, max_length=512, description="prefix:name, e.g. memory:role")
    value: FactValueIn
    source: str = Field(min_length=1, max_length=512,
                        description="who asserts it: agent:NAME, user:NAME or system:NAME")
    confidence: float = Field(default=1.0, ge=0.0, le=1.0)
    scope: ScopeName = "local"
    valid_until: str | None = Field(default=None, description="ISO 8601 expiry")
    garden_id: str | None = Field(default=None, description="gardens are not supported (404)")
    attestation: dict[str, Any] | None = Field(default=None, description="ignored: every fact "
                                                                          "is signed by the node")
    write_mode: Literal["assert", "summarize_with_provenance"] = "assert"
    derived_from: list[dict[str, str] | str] = Field(
        default_factory=list, max_length=64,
        description="fact ids or sha256: content hashes, bare or as {fact_id} / {hash}")
    # ours
    trust: TrustClassName = Field(
        default="observed", description="how the source came to know the value")
    supersedes: str | None = Field(default=None, description="id of the fact this one replaces")


class BatchRequest(BaseModel):
    model_config = _strict({"facts": [EXAMPLE_FACT, {
        "entity": "project:atlas", "relation": "rel:owner",
        "value": {"type": "ref", "v": "user:alice"}, "source": "agent:codex", "scope": "team"}],
        "atomic": True})
    facts: list[AssertRequest] = Field(min_length=1, max_length=1000)
    atomic: bool = False
    idempotency_key: str | None = Field(default=None, max_length=200)


class ResolveRequest(BaseModel):
    model_config = _strict({"winning_fact_id": "a", "resolution_note": "confirmed with alice"})
    winning_fact_id: str | None = Field(default=None, description="a or b, or either fact's id")
    new_value: FactValueIn | None = None
    resolution_note: str | None = Field(default=None, max_length=4096)


class RecallRequest(BaseModel):
    model_config = _strict({"query": "what does alice work on", "token_budget": 2000})
    query: str = Field(min_length=1, max_length=4096)
    scope: Annotated[str, Field(json_schema_extra=SCOPE_ENUM)] | None = Field(
        default=None, description="one scope (400 if unknown); default: every scope the token "
                                  "may read")
    token_budget: int = Field(default=4000, ge=1, le=200_000)
    depth: int = Field(default=2, ge=1, le=3)
    weights: dict[str, float] | None = None
    min_confidence: float = Field(default=0.1, ge=0.0, le=1.0)
    include_neighbors: bool = True
    limit: int = Field(default=100, ge=1, le=500)
    as_of: str | None = None


def derived_links(raw: list[dict[str, str] | str]) -> list[str]:
    """Upstream sends ``{"fact_id": …}`` or ``{"hash": "sha256:…"}``; we keep the string."""
    links = []
    for item in raw:
        if isinstance(item, str):
            links.append(item)
        else:
            links.append(item.get("fact_id") or item.get("hash") or "")
    return links


def wire_value(value: Value) -> dict[str, Any]:
    return {"type": value.type.value, "v": value.v, "interpret_as": "content"}


def source_trust(item: IndexedFact) -> float:
    return VERDICT_TRUST.get(item.status, 0.0) * TRUST_CLASS_WEIGHT[item.fact.trust.value]


def fact_record(item: IndexedFact, *, auth_enabled: bool, on_read: bool = True,
                warnings: list[str] | None = None) -> dict[str, Any]:
    fact = item.fact
    trust = source_trust(item) if on_read else None
    return {
        "id": fact.id,
        "entity": fact.entity,
        "relation": fact.relation,
        "value": wire_value(fact.value),
        "source": fact.source,
        "timestamp": fact.timestamp,
        "hlc": fact.hlc,
        "received_from": None,
        "valid_until": fact.valid_until,
        "confidence": fact.confidence,
        "scope": fact.scope.value,
        "attested_key_id": fact.signer,
        "origin_node_id": None,
        "origin_allowed_scopes": None,
        "garden_id": None,
        "attested": (item.status == "valid") if auth_enabled else None,
        "contradicted": item.contradicted,
        "warnings": list(warnings or []),
        "source_trust": trust,
        "quarantine_status": None,
        "quarantine_garden_id": None,
        "effective_confidence": None if trust is None else round(fact.confidence * trust, 6),
        "sanitizer_warnings": [],
        "sanitizer_redacted": False,
        "cid": item.cid,
        "derived_from": [{"hash": d} if d.startswith("sha256:") else {"fact_id": d}
                         for d in fact.derived_from],
        # stigmem-vault additions
        "signer": fact.signer,
        "signature": fact.signature,
        "trust_class": fact.trust.value,
        "verification": item.status,
        "supersedes": fact.supersedes,
        "superseded_by": item.superseded_by,
        "live": item.live,
        "expired": item.expired,
        "path": item.path,
    }


def scored_fact(hit: Recalled, *, auth_enabled: bool, hops: int = 0) -> dict[str, Any]:
    record = fact_record(hit.item, auth_enabled=auth_enabled)
    fact = hit.item.fact
    text = f"{fact.entity} {fact.relation} {fact.value.display()} {fact.source}"
    breakdown = {
        "lexical": hit.breakdown["lexical"],
        "semantic": 0.0,
        "graph": 1.0 if hops == 0 else 1.0 / (1 + hops),
        "source_trust": record["source_trust"],
        "recency": hit.breakdown["recency"],
        "weighted_total": round(hit.score, 6),
        # ours: the parts of our score
        "trust_class": hit.breakdown["trust"],
        "confidence": hit.breakdown["confidence"],
        "contradicted_factor": hit.breakdown["contradicted_factor"],
    }
    return {"fact": record, "score": round(hit.score, 6), "score_breakdown": breakdown,
            "hop_distance": hops, "token_estimate": max(1, len(text) // 4), "from_card": False}
