"""The upstream Stigmem v1 wire format <-> our model (contract §1-§3).

Request models are deliberately permissive about *values* (``Any``): the fact model validates
them and its messages name the field and the reason, so a rule lives in one place. Every
upstream FactRecord key is always present (explicit nulls); our additions are extra keys.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from stigmem_vault.api.results import TRUST_WEIGHT as TRUST_CLASS_WEIGHT
from stigmem_vault.api.results import VERDICT_TRUST, IndexedFact, Recalled
from stigmem_vault.errors import InvalidFact

# Re-exported: the shapes of what fact_record renders, for MCP's tool schemas.
from stigmem_vault.http.schemas import FactRecord as FactRecord
from stigmem_vault.http.schemas import LintFinding as LintFinding
from stigmem_vault.http.schemas import ScopeName, TrustClassName, ValueTypeName
from stigmem_vault.model.fact import parse_fact_ref
from stigmem_vault.model.hlc import as_of_stamp
from stigmem_vault.model.identifiers import check_scalar_values
from stigmem_vault.model.values import Value, parse_iso_datetime

SCOPE_ENUM = {"enum": list(get_args(ScopeName))}
# Strict: a JSON value of the wrong type is a 422 naming the field, never silently coerced
# ("0.5" is not a confidence, 0 is not a boolean). Integers are still numbers.
STRICT = ConfigDict(extra="forbid", strict=True)
EXAMPLE_FACT = {"entity": "user:alice", "relation": "memory:role",
                "value": {"type": "string", "v": "engineer"}, "source": "agent:codex",
                "confidence": 0.9, "scope": "team"}


def _strict(*examples: dict[str, Any], extra: Literal["forbid", "allow"] = "forbid") -> ConfigDict:
    return ConfigDict(extra=extra, strict=True, json_schema_extra={"examples": list(examples)})


# JSON reads 1e309 as infinity (and Python's parser takes NaN and Infinity): a number field
# refuses them by name (422 "should be a finite number"), never passing them on.
Finite = Annotated[float, Field(allow_inf_nan=False)]
# What a client may send as a value: documented as a JSON scalar, taken as it comes, and
# checked by the fact model against its type (its messages name value.v and the reason).
ScalarIn = Annotated[Any, WithJsonSchema({"anyOf": [
    {"type": "string"}, {"type": "number"}, {"type": "boolean"}, {"type": "null"}]})]
# Patterns the node's own checks apply (documented in the schema, enforced by the model, whose
# messages say more than "should match pattern").
FACT_ID_IN = r"^\s*[0-9a-fA-F]{64}\s*$"
_HLC = r"[0-9]{13}\.[0-9]{6}\.[a-z0-9][a-z0-9-]{0,63}"
_ISO = (r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
        r"([Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?([Zz]|[+-][0-9]{2}:?[0-9]{2})?)?")
AS_OF = rf"^({_HLC}|\s*{_ISO}\s*)$"
ISO_TIME = rf"^\s*{_ISO}\s*$"


class FactValueIn(BaseModel):
    model_config = STRICT
    type: ValueTypeName
    v: ScalarIn = Field(default=None, description="the value, checked against its type: a string "
                                             "(string/text up to 4/64 KiB, ISO 8601 datetime, "
                                             "identifier ref), a number, a boolean, or absent "
                                             "for null")
    interpret_as: Literal["content", "instruction"] = Field(
        default="content", description="only content: 'instruction' is refused (403 "
                                       "instruction_write_required)")

    @field_validator("v", mode="before")
    @classmethod
    def _scalar(cls, raw: object) -> object:
        """A JSON scalar of Unicode text (the fact model's own rule); the type check is the
        model's. (A batch hashes its request: it must hold nothing JSON cannot render.)"""
        if isinstance(raw, list | dict):
            kind = "an array" if isinstance(raw, list) else "an object"
            raise ValueError(f"must be a string, number, boolean or null, not {kind}")
        if isinstance(raw, str):
            try:
                check_scalar_values(raw, "value.v")
            except InvalidFact as exc:
                raise ValueError(exc.reason) from None
        return raw


def _by_model(check: Callable[[str, str], object], raw: object, field: str) -> object:
    """Apply a fact-model check here, so that a batch refuses what its schema refuses (422 for
    the whole body) and a single assert gets the model's own reason."""
    if isinstance(raw, str):
        try:
            check(raw, field)
        except InvalidFact as exc:
            raise ValueError(exc.reason) from None
    return raw


def as_of_hlc(raw: str) -> str:
    """An HLC, or an ISO time turned into the highest HLC of that millisecond."""
    return as_of_stamp(raw)


class DerivedLinkIn(BaseModel):
    model_config = STRICT
    # Upstream ids are UUIDs: a fact_id that is not one of ours (64 hex) names nothing in this
    # vault, so it is dropped with a warning (derived_links), not refused.
    fact_id: str | None = Field(default=None, max_length=512)
    hash: str | None = Field(default=None, pattern=r"^sha256:[0-9a-f]{64}$")


class AssertRequest(BaseModel):
    # Unknown keys are ignored, as upstream does, and named in the answer's warnings (an
    # assert) instead of refused; every known key is still strictly typed.
    model_config = _strict(EXAMPLE_FACT, extra="allow")
    _ignored: list[str] = PrivateAttr(default_factory=list)
    entity: str = Field(min_length=1, max_length=512,
                        description="a typed identifier: user:alice, stigmem://org/project/x")
    relation: str = Field(min_length=1, max_length=512, description="prefix:name, e.g. memory:role")
    value: FactValueIn
    source: str = Field(min_length=1, max_length=512,
                        description="who asserts it: agent:NAME, user:NAME or system:NAME; "
                                    "any other text becomes agent:<text> (with a warning)")
    confidence: Finite = Field(default=1.0, ge=0.0, le=1.0)
    scope: ScopeName = "local"
    valid_until: str | None = Field(default=None, description="ISO 8601 expiry",
                                    json_schema_extra={"pattern": ISO_TIME})
    garden_id: str | None = Field(
        default=None, description="the garden (id or slug) the fact belongs to: 404 unless the "
                                  "principal is a member, 403 unless a writer, 422 if its scope "
                                  "is not the garden's")
    # Ignored, so not part of the request as parsed (nor of a batch's idempotency hash).
    attestation: dict[str, Any] | None = Field(
        default=None, exclude=True, description="ignored: every fact is signed by the node")
    write_mode: Literal["assert", "summarize_with_provenance"] = "assert"
    derived_from: list[DerivedLinkIn | str] = Field(
        default_factory=list, max_length=64,
        description="fact ids or sha256: content hashes, bare or as {fact_id} / {hash}")
    # ours
    trust: TrustClassName = Field(
        default="observed", description="how the source came to know the value")
    supersedes: str | None = Field(default=None, description="id of the fact this one replaces",
                                   json_schema_extra={"pattern": FACT_ID_IN})

    @field_validator("supersedes", mode="before")
    @classmethod
    def _fact_id(cls, raw: object) -> object:
        return _by_model(parse_fact_ref, raw, "supersedes")

    @field_validator("confidence", mode="before")
    @classmethod
    def _numeric_string(cls, raw: object) -> object:
        """``"0.9"`` is read as 0.9, as upstream's node reads it (any other string is still
        422: "abc" names no number)."""
        if isinstance(raw, str):
            try:
                return float(raw.strip())
            except ValueError:
                raise ValueError(f"{raw!r} is not a number") from None
        return raw

    @model_validator(mode="after")
    def _set_aside_unknown(self) -> AssertRequest:
        """Keys this node does not know are noted and dropped: neither stored nor hashed."""
        extra = self.__pydantic_extra__ or {}
        self._ignored = sorted(extra)
        self.__pydantic_extra__ = {}
        return self

    def warnings(self) -> list[str]:
        """What was accepted but not taken as sent (§15.3): unknown keys, a relation without a
        namespace, a derivation naming no fact of this vault."""
        notes = [f"unknown_field: {key!r} is not a field of this request; ignored"
                 for key in self._ignored]
        if ":" not in self.relation:
            notes.append(f"relation_without_namespace: {self.relation!r} has no namespace "
                         "(prefix:name, e.g. memory:role); stored as given")
        return notes

    @field_validator("valid_until", mode="before")
    @classmethod
    def _iso_time(cls, raw: object) -> object:
        return _by_model(parse_iso_datetime, raw, "valid_until")

    @field_validator("derived_from", mode="before")
    @classmethod
    def _known_link_keys(cls, raw: object) -> object:
        """A link object has exactly one of fact_id and hash; any other key is refused by name."""
        for index, item in enumerate(raw if isinstance(raw, list) else ()):
            if not isinstance(item, dict):
                continue
            unknown = sorted(str(key) for key in item if key not in ("fact_id", "hash"))
            if unknown:
                raise ValueError(f"item {index} has the unknown key {unknown[0]!r}: a link is "
                                 f"{{fact_id}} or {{hash}}")
            if len(item) != 1:
                raise ValueError(f"item {index} must have exactly one of fact_id and hash, "
                                 f"not {'both' if item else 'neither'}")
        return raw


class BatchRequest(BaseModel):
    model_config = _strict({"facts": [EXAMPLE_FACT, {
        "entity": "project:atlas", "relation": "rel:owner",
        "value": {"type": "ref", "v": "user:alice"}, "source": "agent:codex", "scope": "team"}],
        "atomic": True})
    facts: list[AssertRequest] = Field(min_length=1, max_length=1000)
    atomic: bool = False
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)


class ResolveRequest(BaseModel):
    model_config = _strict({"winning_fact_id": "a", "resolution_note": "confirmed with alice"})
    winning_fact_id: str | None = Field(default=None, description="a or b, or either fact's id")
    new_value: FactValueIn | None = None
    resolution_note: str | None = Field(default=None, max_length=4096)


class RecallWeightsIn(BaseModel):
    """Upstream's RecallWeights: each 0-1; a signal left out keeps its default."""

    model_config = STRICT
    lexical: Finite = Field(default=0.35, ge=0.0, le=1.0, description="full-text match")
    semantic: Finite = Field(default=0.35, ge=0.0, le=1.0,
                             description="not used: this node has no embeddings")
    graph: Finite = Field(default=0.15, ge=0.0, le=1.0,
                          description="closeness to a match through ref facts")
    source_trust: Finite = Field(default=0.10, ge=0.0, le=1.0,
                                 description="verdict weight x trust-class weight")
    recency: Finite = Field(default=0.05, ge=0.0, le=1.0, description="age, 30-day half-life")


class RecallRequest(BaseModel):
    model_config = _strict({"query": "what does alice work on", "token_budget": 2000})
    query: str = Field(min_length=1, max_length=4096)
    scope: Annotated[str, Field(json_schema_extra=SCOPE_ENUM)] | None = Field(
        default=None, description="one scope (400 if unknown); default: every scope the token "
                                  "may read")
    token_budget: int = Field(default=4000, ge=1, le=200_000)
    depth: int = Field(default=2, ge=1, le=3,
                       description="ref hops from the matches to their neighbours' facts")
    weights: RecallWeightsIn | None = Field(
        default=None, description="how much each signal counts (upstream's defaults if absent); "
                                  "lexical, graph, source_trust and recency are used")
    min_confidence: Finite = Field(default=0.1, ge=0.0, le=1.0)
    include_neighbors: bool = Field(
        default=True, description="also score the facts of entities up to depth ref hops from "
                                  "the matches (hop_distance > 0)")
    limit: int = Field(default=100, ge=1, le=500)
    as_of: str | None = Field(default=None, json_schema_extra={"pattern": AS_OF},
                              description="the vault as it stood at this HLC or ISO time (not "
                                          "more than 5 s in the future: 422)")

    @field_validator("as_of", mode="before")
    @classmethod
    def _as_of(cls, raw: object) -> object:
        return _by_model(lambda text, _field: as_of_hlc(text), raw, "as_of")


def derived_links(raw: list[DerivedLinkIn | str]) -> tuple[list[str], list[str]]:
    """Upstream sends ``{"fact_id": …}`` or ``{"hash": "sha256:…"}``; we keep the string, and
    drop (with a warning) a ``fact_id`` that is not a fact id of this vault (an upstream UUID):
    it names nothing here. Returns (links, warnings)."""
    links: list[str] = []
    notes: list[str] = []
    for index, item in enumerate(raw):
        if isinstance(item, str):
            links.append(item)
        elif item.hash is not None:
            links.append(item.hash)
        elif item.fact_id is not None and re.match(FACT_ID_IN, item.fact_id):
            links.append(item.fact_id)
        else:
            notes.append(f"derived_from_ignored: item {index} ({{fact_id: {item.fact_id!r}}}) "
                         "is not a fact id of this vault (64 hex digits); dropped")
    return links, notes


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
        "garden_id": fact.garden_id,
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
        "vouched_by": item.vouched_by,
        "supersedes": fact.supersedes,
        "superseded_by": item.superseded_by,
        "live": item.live,
        "expired": item.expired,
        "path": item.path,
    }


def scored_fact(hit: Recalled, *, auth_enabled: bool) -> dict[str, Any]:
    record = fact_record(hit.item, auth_enabled=auth_enabled)
    fact = hit.item.fact
    text = f"{fact.entity} {fact.relation} {fact.value.display()} {fact.source}"
    breakdown = {
        "lexical": hit.breakdown["lexical"],
        "semantic": 0.0,
        "graph": hit.breakdown["graph"],
        "source_trust": hit.breakdown["source_trust"],
        "recency": hit.breakdown["recency"],
        "weighted_total": round(hit.score, 6),
        # ours: the parts of our score
        "trust_class": hit.breakdown["trust"],
        "confidence": hit.breakdown["confidence"],
        "contradicted_factor": hit.breakdown["contradicted_factor"],
    }
    return {"fact": record, "score": round(hit.score, 6), "score_breakdown": breakdown,
            "hop_distance": hit.hops, "token_estimate": max(1, len(text) // 4), "from_card": False}
