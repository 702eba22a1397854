"""A typed, synchronous Python client for a stigmem-vault node (the upstream v1 HTTP API).

    from stigmem_vault.client import StigmemClient

    with StigmemClient("http://127.0.0.1:8765", token="stg_...") as node:
        fact = node.assert_fact("user:alice", "memory:role", "engineer",
                                source="agent:codex", scope="team")
        page = node.list_facts(entity="user:alice", scope="team")
        for hit in node.recall("what does alice do").facts:
            print(hit.score, hit.fact.relation, hit.fact.value.v)

Every answer is a small frozen dataclass; the JSON it came from stays on ``.raw``. Any answer
that is not 2xx raises :class:`ClientError` with the status and the node's ``detail``; a node
that cannot be reached raises :class:`NodeUnreachable`. httpx is imported here and nowhere
else in the package, so ``import stigmem_vault`` stays light.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

Scalar = str | int | float | bool | None
T = TypeVar("T", bound="DataclassInstance")  # _plain builds dataclasses only


# ----------------------------------------------------------------------------- errors


class ClientError(Exception):
    """The node answered with a non-2xx status.

    ``detail`` is the node's ``detail`` as sent (a one-line string from this node; an upstream
    node may send ``{"code", "message"}`` or, on a 422, a list of ``{"loc", "msg", "type"}``
    issues) and ``error`` this node's structured ``error`` (``{"code", "message", "field"?,
    "issues"?}``), if any. ``code``, ``message``, ``fields`` and ``retry_after`` read either.
    """

    def __init__(self, status: int, detail: Any, headers: Mapping[str, str] | None = None,
                 error: Mapping[str, Any] | None = None) -> None:
        self.status = status
        self.detail = detail
        self.error: dict[str, Any] = dict(error or {})
        self.headers: dict[str, str] = dict(headers or {})
        super().__init__(f"{status}: {self.message}")

    def _structured(self) -> Mapping[str, Any]:
        return self.error or (self.detail if isinstance(self.detail, dict) else {})

    @property
    def code(self) -> str | None:
        """The machine-readable reason (``cid_malformed``, ``source_not_owned``...), if any."""
        code = self._structured().get("code")
        return str(code) if code is not None else None

    @property
    def message(self) -> str:
        structured = self._structured()
        if "message" in structured:
            return str(structured["message"])
        if isinstance(self.detail, list):
            return "; ".join(f"{'.'.join(_loc(issue))}: {issue.get('msg')}"
                             for issue in self.detail if isinstance(issue, dict))
        return str(self.detail)

    @property
    def fields(self) -> list[str]:
        """The offending fields, dotted (``value.v``), from a 422 or a coded 400."""
        issues = self.error.get("issues", self.detail)
        if isinstance(issues, list):
            return [".".join(_loc(issue)) for issue in issues if isinstance(issue, dict)]
        field = self._structured().get("field")
        return [str(field)] if field else []

    @property
    def retry_after(self) -> float | None:
        """Seconds to wait before retrying (429), from the ``Retry-After`` header."""
        value = {k.lower(): v for k, v in self.headers.items()}.get("retry-after")
        try:
            return float(value) if value is not None else None
        except ValueError:
            return None


class NodeUnreachable(ClientError):
    """No HTTP answer at all: connection refused, timed out, or broken (status 0)."""

    def __init__(self, reason: str) -> None:
        super().__init__(0, reason)


def _loc(issue: Mapping[str, Any]) -> list[str]:
    """A validation issue's location without its section (body, query, path)."""
    parts = [str(part) for part in issue.get("loc", [])]
    return parts[1:] if parts and parts[0] in ("body", "query", "path", "header") else parts


# ----------------------------------------------------------------------------- records


def _tuple(items: Sequence[Any] | None, make: Any = None) -> tuple[Any, ...]:
    return tuple(make(item) if make else item for item in (items or ()))


def _plain(cls: type[T], data: Mapping[str, Any], **converted: Any) -> T:
    """Build dataclass ``cls`` from ``data``: known keys only, ``converted`` ones as given."""
    values = {f.name: data.get(f.name) for f in dataclasses.fields(cls)
              if f.init and f.name != "raw"}
    values.update(converted)
    if "raw" in {f.name for f in dataclasses.fields(cls)}:
        values["raw"] = dict(data)
    return cls(**values)


@dataclass(frozen=True, slots=True)
class FactValue:
    type: str
    v: Scalar
    interpret_as: str = "content"

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FactValue:
        return cls(data["type"], data.get("v"), data.get("interpret_as", "content"))


@dataclass(frozen=True, slots=True)
class DerivedLink:
    fact_id: str | None = None
    hash: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DerivedLink:
        return cls(data.get("fact_id"), data.get("hash"))


@dataclass(frozen=True, slots=True)
class Fact:
    """A FactRecord: every upstream key, then the node's additions (signer, signature...)."""

    id: str
    entity: str
    relation: str
    value: FactValue
    source: str
    timestamp: str
    hlc: str
    received_from: str | None
    valid_until: str | None
    confidence: float
    scope: str
    attested_key_id: str | None
    origin_node_id: str | None
    origin_allowed_scopes: tuple[str, ...] | None
    garden_id: str | None
    attested: bool | None
    contradicted: bool
    warnings: tuple[str, ...]
    source_trust: float | None
    quarantine_status: str | None
    quarantine_garden_id: str | None
    effective_confidence: float | None
    sanitizer_warnings: tuple[str, ...]
    sanitizer_redacted: bool
    cid: str
    derived_from: tuple[DerivedLink, ...]
    signer: str | None = None
    signature: str | None = None
    trust_class: str | None = None
    verification: str | None = None
    vouched_by: str | None = None
    supersedes: str | None = None
    superseded_by: str | None = None
    live: bool | None = None
    expired: bool | None = None
    path: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False, hash=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Fact:
        scopes = data.get("origin_allowed_scopes")
        return _plain(cls, data, value=FactValue.from_json(data["value"]),
                      origin_allowed_scopes=None if scopes is None else tuple(scopes),
                      warnings=_tuple(data.get("warnings")),
                      sanitizer_warnings=_tuple(data.get("sanitizer_warnings")),
                      derived_from=_tuple(data.get("derived_from"), DerivedLink.from_json))


@dataclass(frozen=True, slots=True)
class FactPage:
    facts: tuple[Fact, ...]
    total: int | None
    cursor: str | None  # pass back as ``cursor=`` for the next page; None at the end

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FactPage:
        return cls(_tuple(data["facts"], Fact.from_json), data.get("total"), data.get("cursor"))


@dataclass(frozen=True, slots=True)
class FactInput:
    """One fact to assert. ``value_type`` defaults to what ``value`` looks like (bool, number,
    None, else string); pass it for text, datetime and ref values."""

    entity: str
    relation: str
    value: Scalar
    source: str
    value_type: str | None = None
    confidence: float = 1.0
    scope: str = "local"
    valid_until: str | None = None
    trust: str | None = None
    supersedes: str | None = None
    derived_from: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        value: dict[str, Any] = {"type": self.value_type or _infer_type(self.value)}
        if value["type"] != "null" or self.value is not None:
            value["v"] = self.value
        body: dict[str, Any] = {"entity": self.entity, "relation": self.relation, "value": value,
                                "source": self.source, "confidence": self.confidence,
                                "scope": self.scope}
        optional = {"valid_until": self.valid_until, "trust": self.trust,
                    "supersedes": self.supersedes}
        body.update({k: v for k, v in optional.items() if v is not None})
        if self.derived_from:
            body["derived_from"] = list(self.derived_from)
        return body


def _infer_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "string"


@dataclass(frozen=True, slots=True)
class BatchItem:
    index: int
    status: str  # accepted | rejected
    fact_id: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class BatchResult:
    accepted: int
    rejected: int
    results: tuple[BatchItem, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BatchResult:
        return cls(data["accepted"], data["rejected"],
                   _tuple(data["results"], lambda item: _plain(BatchItem, item)))


@dataclass(frozen=True, slots=True)
class ProvenanceLink:
    hash: str | None
    exists: bool
    fact_id: str | None = None
    entity: str | None = None


@dataclass(frozen=True, slots=True)
class Provenance:
    fact_id: str
    cid: str
    derived_from: tuple[ProvenanceLink, ...]
    signer: str | None
    signer_sources: tuple[str, ...]
    verification: str | None
    verification_reason: str | None
    supersedes_chain: tuple[str, ...]
    superseded_by_chain: tuple[str, ...]
    derived_by: tuple[str, ...]
    commits: tuple[tuple[str, str], ...]  # (commit id, message), newest first
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False, hash=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Provenance:
        return _plain(
            cls, data,
            derived_from=_tuple(data.get("derived_from"), lambda i: _plain(ProvenanceLink, i)),
            signer_sources=_tuple(data.get("signer_sources")),
            supersedes_chain=_tuple(data.get("supersedes_chain")),
            superseded_by_chain=_tuple(data.get("superseded_by_chain")),
            derived_by=_tuple(data.get("derived_by")),
            commits=_tuple(data.get("commits"), lambda c: (c["commit"], c["message"])))


@dataclass(frozen=True, slots=True)
class CidCheck:
    cid_valid: bool
    computed_cid: str
    stored_cid: str
    mismatch_reason: str | None
    signature_valid: bool | None = None
    verification: str | None = None
    verification_reason: str | None = None


@dataclass(frozen=True, slots=True)
class ScoreBreakdown:
    lexical: float
    semantic: float
    graph: float
    source_trust: float | None
    recency: float
    weighted_total: float
    trust_class: float | None = None
    confidence: float | None = None
    contradicted_factor: float | None = None


@dataclass(frozen=True, slots=True)
class ScoredFact:
    fact: Fact
    score: float
    score_breakdown: ScoreBreakdown
    hop_distance: int
    token_estimate: int
    from_card: bool

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ScoredFact:
        return _plain(cls, data, fact=Fact.from_json(data["fact"]),
                      score_breakdown=_plain(ScoreBreakdown, data["score_breakdown"]))


@dataclass(frozen=True, slots=True)
class RecallResult:
    recall_id: str
    query_hash: str
    facts: tuple[ScoredFact, ...]
    content: tuple[ScoredFact, ...]
    instructions: tuple[ScoredFact, ...]
    total_scored: int | None
    token_budget: int
    tokens_used: int
    truncated: bool
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False, hash=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RecallResult:
        return _plain(cls, data, facts=_tuple(data["facts"], ScoredFact.from_json),
                      content=_tuple(data.get("content"), ScoredFact.from_json),
                      instructions=_tuple(data.get("instructions"), ScoredFact.from_json))


@dataclass(frozen=True, slots=True)
class Neighbor:
    entity: str
    relation: str
    hops: int
    confidence: float
    source_trust: float | None
    path: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Neighbors:
    entity: str
    depth: int
    neighbors: tuple[Neighbor, ...]
    next_cursor: str | None
    total_hint: int

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Neighbors:
        return _plain(cls, data, neighbors=_tuple(
            data["neighbors"], lambda n: _plain(Neighbor, n, path=_tuple(n.get("path")))))


@dataclass(frozen=True, slots=True)
class Conflict:
    conflict_id: str
    fact_a: Fact | None
    fact_b: Fact | None
    status: str  # upstream's unresolved | resolved
    resolved_by: str | None
    detected_at: str
    entity: str | None = None
    relation: str | None = None
    scope: str | None = None
    vault_status: str | None = None  # ours: open | resolved | obsolete

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Conflict:
        a, b = data.get("fact_a"), data.get("fact_b")
        return _plain(cls, data, fact_a=Fact.from_json(a) if a else None,
                      fact_b=Fact.from_json(b) if b else None)


@dataclass(frozen=True, slots=True)
class ConflictPage:
    conflicts: tuple[Conflict, ...]
    cursor: str | None
    has_more: bool

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ConflictPage:
        return cls(_tuple(data["conflicts"], Conflict.from_json), data.get("cursor"),
                   bool(data.get("has_more")))


@dataclass(frozen=True, slots=True)
class Resolution:
    resolution_fact_id: str
    conflict_status: str


@dataclass(frozen=True, slots=True)
class PendingNote:
    """A person's draft, edit of a signed fact or conflict choice not signed yet."""

    path: str
    kind: str  # draft | edit | resolution
    fact_id: str | None
    conflict_id: str | None
    ticked: bool
    error: str | None


@dataclass(frozen=True, slots=True)
class WellKnown:
    version: str
    node_id: str | None
    node_url: str
    auth: str  # required | none
    federation: str
    source_attestation: str  # enforce | warn | off
    namespaces: tuple[str, ...]
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False, hash=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WellKnown:
        return _plain(cls, data, namespaces=_tuple(data.get("namespaces")))


# ----------------------------------------------------------------------------- the client


def _params(**values: Any) -> dict[str, str | int | float]:
    """Query parameters: None is left out, booleans are spelled true/false."""
    out: dict[str, str | int | float] = {}
    for name, value in values.items():
        if value is None:
            continue
        out[name] = ("true" if value else "false") if isinstance(value, bool) else value
    return out


class StigmemClient:
    """A node at ``base_url``; ``token`` is a bearer token (None for an ``--auth none`` node)."""

    def __init__(self, base_url: str, token: str | None = None, *, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        headers = {"Accept": "application/json", "User-Agent": "stigmem-vault-client"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        self.base_url = base_url.rstrip("/")
        self.last_response: httpx.Response | None = None  # headers such as X-Total-Count
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout,
                                  transport=transport)

    # ------------------------------------------------------------------ plumbing

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> StigmemClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send a request as is and return the response, whatever its status."""
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise NodeUnreachable(f"{method} {self.base_url}{path}: {exc}") from exc

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        self.last_response = response
        if not response.is_success:
            try:
                body = response.json()
                detail, error = body.get("detail", response.text), body.get("error")
            except (ValueError, AttributeError):
                detail, error = response.text, None
            raise ClientError(response.status_code, detail, response.headers,
                              error if isinstance(error, dict) else None)
        return response.json()

    # ------------------------------------------------------------------ ops

    def healthz(self) -> str:
        """``"ok"`` when the node serves."""
        return str(self._call("GET", "/healthz")["status"])

    def well_known(self) -> WellKnown:
        return WellKnown.from_json(self._call("GET", "/.well-known/stigmem"))

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI document the node serves."""
        return dict(self._call("GET", "/openapi.json"))

    # ------------------------------------------------------------------ writing

    def assert_fact(self, entity: str, relation: str, value: Scalar, *, source: str,
                    value_type: str | None = None, confidence: float = 1.0,
                    scope: str = "local", valid_until: str | None = None,
                    trust: str | None = None, supersedes: str | None = None,
                    derived_from: Sequence[str] = ()) -> Fact:
        """Sign and store one fact; returns it once it is durable on the node."""
        item = FactInput(entity, relation, value, source, value_type, confidence, scope,
                         valid_until, trust, supersedes, tuple(derived_from))
        return Fact.from_json(self._call("POST", "/v1/facts", json=item.to_json()))

    def assert_batch(self, facts: Sequence[FactInput | Mapping[str, Any]], *,
                     atomic: bool = False, idempotency_key: str | None = None) -> BatchResult:
        """Several facts at once; ``atomic`` writes all or none. Retrying with the same
        ``idempotency_key`` replays the first answer."""
        body: dict[str, Any] = {
            "facts": [f.to_json() if isinstance(f, FactInput) else dict(f) for f in facts],
            "atomic": atomic}
        if idempotency_key is not None:
            body["idempotency_key"] = idempotency_key
        return BatchResult.from_json(self._call("POST", "/v1/facts/batch", json=body))

    # ------------------------------------------------------------------ reading

    def list_facts(self, *, entity: str | None = None, relation: str | None = None,
                   source: str | None = None, scope: str | None = None,
                   trust: str | None = None, min_confidence: float | None = None,
                   include_contradicted: bool | None = None, include_expired: bool | None = None,
                   include_superseded: bool | None = None, after: str | None = None,
                   cursor: str | None = None, limit: int | None = None,
                   as_of: str | None = None, attested: bool | None = None) -> FactPage:
        """One page of facts, newest first. Filters left as None are not sent."""
        params = _params(entity=entity, relation=relation, source=source, scope=scope,
                         trust=trust, min_confidence=min_confidence,
                         include_contradicted=include_contradicted,
                         include_expired=include_expired, include_superseded=include_superseded,
                         after=after, cursor=cursor, limit=limit, as_of=as_of,
                         attested=attested)
        return FactPage.from_json(self._call("GET", "/v1/facts", params=params))

    def iter_facts(self, **filters: Any) -> Iterator[Fact]:
        """Every matching fact, following the cursor page by page (``limit`` = page size)."""
        cursor = filters.pop("cursor", None)
        while True:
            page = self.list_facts(cursor=cursor, **filters)
            yield from page.facts
            if page.cursor is None:
                return
            cursor = page.cursor

    def get_fact(self, ref: str) -> Fact:
        """A fact by id (or a unique prefix of 8+ hex digits) or by upstream cid (sha256:...)."""
        return Fact.from_json(self._call("GET", f"/v1/facts/{_segment(ref)}"))

    def provenance(self, ref: str) -> Provenance:
        return Provenance.from_json(self._call("GET", f"/v1/facts/{_segment(ref)}/provenance"))

    def verify_cid(self, ref: str) -> CidCheck:
        """Recompute the fact's cid and verify its signed file on the node."""
        return _plain(CidCheck, self._call("POST", f"/v1/facts/{_segment(ref)}/verify-cid"))

    def recall(self, query: str, *, scope: str | None = None, limit: int | None = None,
               token_budget: int | None = None, min_confidence: float | None = None,
               as_of: str | None = None, depth: int | None = None,
               include_neighbors: bool | None = None,
               weights: Mapping[str, float] | None = None) -> RecallResult:
        """Ranked recall: the best-scoring facts that fit in ``token_budget``."""
        body: dict[str, Any] = {"query": query, **{name: value for name, value in {
            "scope": scope, "limit": limit, "token_budget": token_budget,
            "min_confidence": min_confidence, "as_of": as_of, "depth": depth,
            "include_neighbors": include_neighbors}.items() if value is not None}}
        if weights is not None:
            body["weights"] = dict(weights)
        return RecallResult.from_json(self._call("POST", "/v1/recall", json=body))

    def neighbors(self, entity: str, scope: str, *, depth: int | None = None,
                  relation_filter: str | None = None, min_confidence: float | None = None,
                  page_size: int | None = None, cursor: str | None = None) -> Neighbors:
        """Entities linked to ``entity`` through ref facts, up to ``depth`` hops (1-3)."""
        params = _params(entity=entity, scope=scope, depth=depth, relation_filter=relation_filter,
                         min_confidence=min_confidence, page_size=page_size, cursor=cursor)
        return Neighbors.from_json(self._call("GET", "/v1/graph/neighbors", params=params))

    # ------------------------------------------------------------------ conflicts

    def conflicts(self, *, status: str | None = None, cursor: str | None = None,
                  limit: int | None = None) -> ConflictPage:
        """Conflicts (status open or unresolved, resolved, obsolete, all), newest first."""
        params = _params(status=status, cursor=cursor, limit=limit)
        return ConflictPage.from_json(self._call("GET", "/v1/conflicts", params=params))

    def resolve(self, conflict_id: str, *, winning_fact_id: str | None = None,
                new_value: Scalar = None, new_value_type: str | None = None,
                resolution_note: str | None = None) -> Resolution:
        """Resolve with one side (``winning_fact_id``: an id, or "a"/"b") or a new value."""
        body: dict[str, Any] = _params(winning_fact_id=winning_fact_id,
                                       resolution_note=resolution_note)
        if new_value is not None or new_value_type is not None:
            kind = new_value_type or _infer_type(new_value)
            body["new_value"] = {"type": kind} if kind == "null" else {"type": kind,
                                                                      "v": new_value}
        data = self._call("POST", f"/v1/conflicts/{_segment(conflict_id)}/resolve", json=body)
        return _plain(Resolution, data)

    # ------------------------------------------------ pending notes (the vault owner only)

    def pending(self) -> tuple[PendingNote, ...]:
        """GET /v1/pending: drafts, edits of signed facts and conflict choices waiting for
        their sign tick (what ``stigmem status`` lists)."""
        data = self._call("GET", "/v1/pending")
        return _tuple(data["pending"], lambda note: _plain(PendingNote, note))

    def revert(self, target: str) -> str:
        """POST /v1/pending/revert: a pending edit (a vault path, or the edited fact's id or
        a prefix of 8+ hex digits) gets its signed bytes back, as ``stigmem revert`` does;
        the file's vault path."""
        return str(self._call("POST", "/v1/pending/revert", json={"target": target})["path"])


def _segment(text: str) -> str:
    """A path segment, percent-encoded (a cid's ':' stays readable)."""
    from urllib.parse import quote

    return quote(text, safe=":")


__all__ = [
    "BatchItem",
    "BatchResult",
    "CidCheck",
    "ClientError",
    "Conflict",
    "ConflictPage",
    "DerivedLink",
    "Fact",
    "FactInput",
    "FactPage",
    "FactValue",
    "Neighbor",
    "Neighbors",
    "NodeUnreachable",
    "PendingNote",
    "Provenance",
    "ProvenanceLink",
    "RecallResult",
    "Resolution",
    "ScoreBreakdown",
    "ScoredFact",
    "StigmemClient",
    "WellKnown",
]
