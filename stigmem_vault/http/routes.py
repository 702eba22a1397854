"""The node's endpoints (upstream Stigmem v1 paths). Each parses, calls the token principal's
view of the vault (api/view.py, where every permission and scope rule lives), and formats."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import uuid
from dataclasses import replace
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, HTTPException, Path, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from starlette.convertors import Convertor, register_url_convertor

from stigmem_vault.api.access import Principal
from stigmem_vault.api.vault import Vault
from stigmem_vault.api.view import PrincipalView
from stigmem_vault.canonical.cid import upstream_cid
from stigmem_vault.errors import AccessDenied, InvalidFact, NotFound
from stigmem_vault.http import schemas, wire
from stigmem_vault.http.app import StrictJSONRoute, bad_parameter, reader, writer
from stigmem_vault.http.schemas import AUTH, BODY, errors, ok
from stigmem_vault.http.settings import NodeSettings
from stigmem_vault.model.fact import Claim, make_claim
from stigmem_vault.model.hlc import HLC
from stigmem_vault.model.identifiers import adopt_source
from stigmem_vault.model.values import make_value


class _FactRefSegment(Convertor[str]):
    """A fact reference in a path: any segment but ``batch``, so that GET /v1/facts/batch is a
    405 (the batch route takes POST only), not a lookup of a fact called "batch"."""

    regex = r"(?!batch$)[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("fact_ref", _FactRefSegment())
router = APIRouter(route_class=StrictJSONRoute)
FACT_REF = {"pattern": r"^([0-9a-f]{8,64}|sha256:[0-9a-f]{64})$"}
CONFLICT_REF = r"^[0-9a-f]{8,32}$"
SCOPES = {"enum": ["local", "team", "company", "public"]}
NAMESPACES = ["stigmem:", "rel:", "memory:", "intent:", "roadmap:", "preference:", "garden:"]


def _vault(request: Request) -> Vault:
    # Starlette's State holds Any. create_app put a Vault there (None only in an app built to
    # describe its routes, which serves no request).
    vault: Vault = request.app.state.vault
    return vault


def _view(request: Request, principal: Principal) -> PrincipalView:
    return _vault(request).as_principal(principal)


def _settings(request: Request) -> NodeSettings:
    settings: NodeSettings = request.app.state.settings  # Any in State; create_app put it there
    return settings


def _relaxed(request: Request) -> bool:
    """Do listings and recall show vouched and unattested facts (§15.2)? Not on an enforcing
    node (only facts their source signed); yes where writes may name other sources."""
    return _settings(request).attestation_mode != "enforce"


def _auth_on(request: Request) -> bool:
    return _settings(request).auth == "token"


class PlainJSON(JSONResponse):
    """A reply of plain JSON data (dicts, lists, str, numbers, bools, None), rendered at once.

    Returned dicts go through FastAPI's jsonable_encoder first, on the event loop, value by
    value: 6 ms for a page of 40 facts and 37 ms for a recall of 100 (json.dumps: 0.3 and 3 ms,
    orjson: 0.05 and 0.5 ms). The JSON is the same, compact UTF-8; data orjson cannot take
    (an integer beyond 64 bits) goes through jsonable_encoder and json.dumps.
    """

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content)
        except TypeError:
            return super().render(jsonable_encoder(content))


# ---------------------------------------------------------------- discovery


@router.get("/healthz", tags=["ops"], summary="Liveness probe", response_model=None,
            responses={**ok(schemas.Health, "the node is up"), **errors()})
def healthz() -> dict[str, str]:
    """Always ``{"status": "ok"}`` while the node serves; needs no token."""
    return {"status": "ok"}


def _announced_url(request: Request, settings: NodeSettings) -> str:
    """``--node-url`` if given, else host and port; port 0 (any free port) is announced as the
    port the socket was bound to, never as ``:0``, which no client can reach."""
    if settings.node_url is None and settings.port == 0:
        bound = request.scope.get("server")
        if bound:
            return replace(settings, port=int(bound[1])).url
    return settings.url


@router.get("/.well-known/stigmem", tags=["ops"], summary="Discovery document",
            response_model=None,
            responses={**ok(schemas.WellKnown, "what this node is and speaks"), **errors()})
def well_known(request: Request) -> dict[str, Any]:
    """The upstream discovery document (version, auth, attestation mode, namespaces); no token."""
    vault, settings = _vault(request), _settings(request)
    return {
        "version": "1.0",
        "node_id": f"stigmem:node:{vault.node.node_id}" if vault.node else None,
        "node_url": _announced_url(request, settings),
        "auth": "required" if settings.auth == "token" else "none",
        "federation": "disabled",
        "source_attestation": settings.attestation_mode,
        "namespaces": NAMESPACES,
        "spec": "docs/spec.md",
        "cors": {"dev_localhost": False, "configured": []},
        "implementation": {"name": "stigmem-vault", "fact_format": "stigmem.fact/1"},
    }


# ---------------------------------------------------------------- writing facts


def _claim(body: wire.AssertRequest, view: PrincipalView) -> tuple[Claim, list[str]]:
    """The claim a request makes, and what was accepted but not taken as sent (§15.3)."""
    if body.value.interpret_as == "instruction":
        # Upstream's answer to a token without instruction:write; no token here has it.
        raise AccessDenied("instruction_write_required",
                           "value.interpret_as 'instruction' needs the instruction:write "
                           "permission, which this node grants to no token: it stores facts "
                           "as data only")
    source, note = adopt_source(body.source)
    derived, dropped = wire.derived_links(body.derived_from)
    claim = make_claim(
        entity=body.entity, relation=body.relation, value=make_value(body.value.type, body.value.v),
        source=source, confidence=body.confidence, trust=body.trust, scope=body.scope,
        valid_until=body.valid_until, supersedes=body.supersedes, derived_from=derived)
    return (view.in_garden(claim, body.garden_id),
            [*([note] if note else []), *body.warnings(), *dropped])


@router.post("/v1/facts", status_code=201, tags=["facts"], summary="Assert a fact",
             response_model=None,
             responses={**ok(schemas.FactRecord, "the signed fact, durable on disk", 201),
                        **errors(400, 404, *AUTH, *BODY)})
async def assert_fact(request: Request, body: wire.AssertRequest,
                      principal: Principal = writer) -> Response:
    """Sign and store one fact; 201 once the file is durable and the fact is queryable.

    The fact is signed with the token principal's key and committed to git shortly after
    (batched). Under enforced source attestation ``source`` must be the principal (403
    ``source_not_owned``); under ``warn`` another source is accepted, flagged in ``warnings``,
    and verifies as unattested. Values are checked against their type (422 naming the field).
    """
    view = _view(request, principal)
    claim, notes = _claim(body, view)
    # The vault's group writer signs, writes and indexes it; this request only waits, so
    # concurrent requests' facts share index transactions (api/writer.py).
    future, warnings = view.submit(claim, _settings(request).attestation_mode)
    item = await asyncio.wrap_future(future)
    return PlainJSON(wire.fact_record(item, auth_enabled=_auth_on(request), on_read=False,
                                      warnings=[*notes, *warnings]), status_code=201)


@router.post("/v1/facts/batch", tags=["facts"], summary="Assert several facts",
             response_model=None,
             responses={**ok(schemas.BatchResult, "what was accepted and rejected, per item"),
                        **errors(400, 409, *AUTH, *BODY)})
def assert_batch(request: Request, body: wire.BatchRequest,
                 principal: Principal = writer) -> dict[str, Any]:
    """Several facts at once (spec-14): ``atomic`` writes all or none; an idempotency key
    replays the first answer, and refuses the same key with a different body (409
    ``idempotency_key_reused``). Keys are per principal. An item the model rejects is reported
    in ``results`` with its reason; a body that is not a batch at all is a 422."""
    claims: list[Any] = []
    view = _view(request, principal)
    for item in body.facts:
        try:
            claims.append(_claim(item, view)[0])
        except (InvalidFact, NotFound, AccessDenied) as exc:
            claims.append(exc)
    digest = hashlib.sha256(body.model_dump_json().encode()).hexdigest()
    try:
        return view.write_batch(
            claims, atomic=body.atomic, key=body.idempotency_key, request_hash=digest,
            attestation=_settings(request).attestation_mode).as_dict()
    except AccessDenied as exc:
        if exc.code != "idempotency_key_reused":
            raise
        # Not a permission problem: the key is already bound to another request.
        raise HTTPException(409, detail={"code": exc.code, "message": exc.reason}) from None


# ---------------------------------------------------------------- reading facts


def _cursor(raw: str | None) -> tuple[str, str] | None:
    if not raw:
        return None
    try:
        hlc, fact_id = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        HLC.parse(hlc)
        return str(hlc), str(fact_id)
    except (ValueError, TypeError, InvalidFact):
        raise HTTPException(400, detail={"code": "invalid_cursor",
                                         "message": "cursor is not one this node issued"}) from None


def _offset(raw: str | None) -> int:
    """A neighbors cursor: the base64url of a non-negative integer this node issued."""
    if not raw:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except ValueError:  # not base64, not UTF-8, not JSON
        offset = None
    if type(offset) is not int or offset < 0:  # 1e309 is a float (infinity), True an int
        raise HTTPException(400, detail={"code": "invalid_cursor",
                                         "message": "cursor is not one this node issued"})
    return offset


def _encode_cursor(hlc: str, fact_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([hlc, fact_id]).encode()).decode().rstrip("=")


def _as_of(raw: str | None) -> str | None:
    return None if raw is None else wire.as_of_hlc(raw)


@router.get("/v1/facts", tags=["facts"], summary="Query facts", response_model=None,
            responses={**ok(schemas.FactList, "one page of matching facts, newest first",
                            headers={"X-Total-Count": "matching facts across all pages"}),
                       **errors(400, 404, *AUTH, 422)})
def list_facts(
    request: Request, response: Response, principal: Principal = reader,
    entity: Annotated[str | None, Query(description="exactly this entity (normalized)",
                                        examples=["user:alice"])] = None,
    relation: Annotated[str | None, Query(description="exactly this relation",
                                          examples=["memory:role"])] = None,
    source: Annotated[str | None, Query(description="exactly this source",
                                        examples=["agent:codex"])] = None,
    scope: Annotated[str | None, Query(description="one scope (400 if unknown); default: "
                                                   "every scope the token may read",
                                       json_schema_extra=SCOPES)] = None,
    trust: Annotated[str | None, Query(description="trust class: observed, inferred, "
                                                   "reported or stale-risk")] = None,
    min_confidence: Annotated[float, Query(ge=0.0, le=1.0)] = 0.0,
    include_contradicted: Annotated[bool, Query(description="list every side of a "
                                                            "contradiction, not only its winner")] = False,
    include_expired: Annotated[bool, Query(description="include facts past valid_until")] = False,
    include_superseded: Annotated[bool, Query(description="include replaced and retracted "
                                                          "facts")] = False,
    after: Annotated[str | None, Query(description="only facts signed after this ISO "
                                                   "timestamp")] = None,
    cursor: Annotated[str | None, Query(description="the cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    as_of: Annotated[str | None, Query(description="the vault as of an HLC or ISO time",
                                       json_schema_extra={"pattern": wire.AS_OF})] = None,
    garden_id: Annotated[str | None, Query(description="only the facts of this garden (id or "
                                                       "slug); 404 if it is not one the token's "
                                                       "principal is in")] = None,
    attested: Annotated[bool | None, Query(description="true: only facts whose signer is bound "
                                                       "to their source (verification valid); "
                                                       "false: only the others")] = None,
) -> Response:
    """Facts, newest first (HLC, then id), in pages with a stable keyset cursor.

    Live facts only unless asked: not superseded, not retracted (confidence 0), not expired.
    Of contradicted facts only each key's current winner (higher confidence, then later HLC)
    is listed, flagged ``contradicted``; ``include_contradicted=true`` lists every side.
    """
    view = _view(request, principal)
    try:
        filters = view.filters(
            entity=entity, relation=relation, source=source, scope=scope,
            trust=trust, min_confidence=min_confidence or None, as_of=_as_of(as_of),
            include_expired=include_expired, include_superseded=include_superseded,
            winners_only=not include_contradicted, after_timestamp=after, newest_first=True,
            # A node that accepts writes naming other sources shows them (flagged by
            # `verification`); an enforcing node shows only facts their source signed.
            include_unattested=_relaxed(request), include_vouched=_relaxed(request),
            attested=attested, before=_cursor(cursor), limit=limit, garden=garden_id or None)
    except InvalidFact as exc:
        raise bad_parameter(exc) from None
    items = view.query(filters)
    total = view.count(filters)
    next_cursor = (_encode_cursor(items[-1].fact.hlc, items[-1].fact.id)
                   if len(items) == limit else None)
    return PlainJSON({"facts": [wire.fact_record(i, auth_enabled=_auth_on(request)) for i in items],
                      "total": total, "cursor": next_cursor, "tombstone_notices": []},
                     headers={"X-Total-Count": str(total)})


_ID_OR_PREFIX = re.compile(r"[0-9a-fA-F]{8,64}")


def _unusable_ref(ref: str) -> Exception:
    """What to answer for a reference the view refused (InvalidFact): a malformed ``sha256:``
    cid is 400 ``cid_malformed`` and an ambiguous prefix 400 ``id_ambiguous``; anything else
    names no fact: 404, as upstream answers for an unknown UUID (its ids' shape)."""
    wanted = ref.strip()
    if wanted.startswith("sha256:"):
        return HTTPException(400, detail={"code": "cid_malformed",
                                          "message": "a cid is sha256: and 64 lowercase hex"})
    if _ID_OR_PREFIX.fullmatch(wanted):
        return HTTPException(400, detail={"code": "id_ambiguous", "message": f"prefix {ref!r} "
                                          "names several facts; give more digits"})
    return NotFound("fact", ref)


@router.get("/v1/facts/{fact_ref:fact_ref}", tags=["facts"], summary="Get one fact", response_model=None,
            responses={**ok(schemas.FactRecord, "the fact"), **errors(400, 404, *AUTH, 422)})
def get_fact(request: Request,
             fact_ref: Annotated[str, Path(description="fact id (64 hex, or a unique prefix "
                                                       "of 8+) or upstream cid (sha256:...)",
                                           json_schema_extra=FACT_REF)],
             principal: Principal = reader) -> dict[str, Any]:
    """One fact by id (64 hex, or a unique prefix of 8+) or by upstream cid (``sha256:…``)."""
    try:
        item = _view(request, principal).get(fact_ref)
    except InvalidFact:
        raise _unusable_ref(fact_ref) from None
    return wire.fact_record(item, auth_enabled=_auth_on(request))


@router.get("/v1/facts/{fact_id}/provenance", tags=["facts"], summary="Provenance of a fact",
            response_model=None,
            responses={**ok(schemas.Provenance, "where the fact comes from and what it "
                                                 "replaced"), **errors(400, 404, *AUTH, 422)})
def provenance(request: Request,
               fact_id: Annotated[str, Path(description="fact id, prefix or cid",
                                            json_schema_extra=FACT_REF)],
               principal: Principal = reader) -> dict[str, Any]:
    """Derivation links (upstream shape), signer, verification, supersession chains, commits.

    A parent the token may not see shows only as ``{hash, exists}``.
    """
    try:
        prov = _view(request, principal).provenance(fact_id)
    except InvalidFact:
        raise _unusable_ref(fact_id) from None
    item = prov.item
    derived = []
    for parent, found in prov.derived_from:  # a parent the token may not see is missing
        entry: dict[str, Any] = {"hash": parent if parent.startswith("sha256:") else
                                 (found.cid if found else None), "exists": found is not None}
        if found is not None:
            entry.update(fact_id=found.fact.id, entity=found.fact.entity)
        derived.append(entry)
    return {
        "fact_id": item.fact.id, "cid": item.cid, "derived_from": derived,
        "signer": item.fact.signer, "signer_sources": prov.signer_sources,
        "verification": prov.file_status, "verification_reason": prov.file_reason,
        "supersedes_chain": [older.fact.id for older in prov.replaced],
        "superseded_by_chain": [newer.fact.id for newer in prov.replaced_by],
        "derived_by": prov.derived_by,
        "commits": [{"commit": sha, "message": message} for sha, message in prov.commits],
    }


@router.post("/v1/facts/{fact_id}/verify-cid", tags=["facts"], summary="Verify a fact",
             response_model=None,
             responses={**ok(schemas.CidCheck, "the cid and signature verdicts"),
                        **errors(400, 404, *AUTH, *BODY)})
def verify_cid(request: Request,
               fact_id: Annotated[str, Path(description="fact id, prefix or cid",
                                            json_schema_extra=FACT_REF)],
               principal: Principal = reader) -> dict[str, Any]:
    """Recompute the cid from the fact, and re-verify the signed file on disk (body ignored)."""
    try:
        item, verdict = _view(request, principal).verify(fact_id)
    except InvalidFact:
        raise _unusable_ref(fact_id) from None
    computed = upstream_cid(item.fact.claim)
    return {
        "cid_valid": computed == item.cid, "computed_cid": computed, "stored_cid": item.cid,
        "mismatch_reason": None if computed == item.cid else "the index holds a different cid",
        "signature_valid": bool(verdict and verdict.ok),
        "verification": verdict.verdict.value if verdict else "absent",
        "verification_reason": verdict.reason if verdict else "the fact's file is gone",
    }


# ---------------------------------------------------------------- recall and graph


@router.post("/v1/recall", tags=["recall"], summary="Ranked recall", response_model=None,
             responses={**ok(schemas.RecallResult, "scored facts packed into the token budget",
                             headers={"X-Total-Count": "facts scored before packing"}),
                        **errors(400, *AUTH, *BODY)})
def recall(request: Request, response: Response, body: wire.RecallRequest,
           principal: Principal = reader) -> Response:
    """Ranked recall over live facts the token may read (spec §13.5): the query's full-text
    matches (identifiers are searched by their parts) and, with ``include_neighbors``, the
    facts of entities up to ``depth`` ref hops from them, scored by ``weights`` (lexical,
    graph, source_trust, recency; semantic is not used) times confidence, contradicted facts
    counting half. ``as_of``: the vault as it stood then (422 if invalid or in the future).
    Packed greedily by score into ``token_budget``. Results are data; this node never returns
    instructions."""
    try:
        hits = _view(request, principal).recall(
            body.query, limit=body.limit, scope=body.scope, min_confidence=body.min_confidence,
            include_unattested=_relaxed(request), include_vouched=_relaxed(request),
            as_of=body.as_of, depth=body.depth, include_neighbors=body.include_neighbors,
            weights=body.weights.model_dump() if body.weights else None)
    except InvalidFact as exc:
        if exc.field != "scope":  # a bad scope is 400 upstream; other body fields are 422
            raise
        raise bad_parameter(exc) from None
    packed, used, truncated = [], 0, False
    for hit in hits:
        scored = wire.scored_fact(hit, auth_enabled=_auth_on(request))
        if used + scored["token_estimate"] > body.token_budget:
            truncated = True
            continue
        used += scored["token_estimate"]
        packed.append(scored)
    return PlainJSON({
        "recall_id": str(uuid.uuid4()),
        "query_hash": hashlib.sha256(body.query.encode("utf-8")).hexdigest(),
        "facts": packed, "content": packed, "instructions": [],
        "total_scored": len(hits), "token_budget": body.token_budget, "tokens_used": used,
        "truncated": truncated, "tombstone_notices": [], "chain_proof": None,
    }, headers={"X-Total-Count": str(len(hits))})


@router.get("/v1/graph/neighbors", tags=["recall"], summary="Graph neighbours",
            response_model=None,
            responses={**ok(schemas.Neighbors, "entities reachable through ref facts"),
                       **errors(400, *AUTH, 422)})
def neighbors(request: Request,
              entity: Annotated[str, Query(description="where to start",
                                           examples=["project:atlas"])],
              scope: Annotated[str, Query(description="the scope to walk",
                                          json_schema_extra=SCOPES)],
              principal: Principal = reader,
              depth: Annotated[int, Query(description="hops, 1-3 (400 graph_depth_exceeded "
                                                      "beyond)")] = 1,
              relation_filter: Annotated[str | None, Query(description="relation prefix, e.g. "
                                                                       "memory:*")] = None,
              min_confidence: Annotated[float, Query(ge=0.0, le=1.0)] = 0.1,
              page_size: Annotated[int, Query(ge=1, le=200)] = 20,
              cursor: Annotated[str | None, Query(description="next_cursor of the previous "
                                                              "page")] = None) -> dict[str, Any]:
    """The entity graph that ``ref`` values form, breadth first up to ``depth`` (1-3)."""
    if not 1 <= depth <= 3:
        raise HTTPException(400, detail={"code": "graph_depth_exceeded",
                                         "message": "depth must be between 1 and 3"})
    view = _view(request, principal)
    offset = _offset(cursor)
    prefix = relation_filter.rstrip("*") if relation_filter else None
    try:
        found = view.neighbors(entity, depth=depth, scope=scope, relation_prefix=prefix,
                               min_confidence=min_confidence)
        normalized = view.filters(entity=entity).entity
    except InvalidFact as exc:
        raise bad_parameter(exc) from None
    page = found[offset:offset + page_size]
    next_offset = offset + page_size
    return {
        "entity": normalized, "depth": depth,
        "neighbors": [{"entity": n.entity, "relation": n.relation, "hops": n.hops,
                       "confidence": n.confidence, "source_trust": None, "path": n.path}
                      for n in page],
        "next_cursor": (base64.urlsafe_b64encode(str(next_offset).encode()).decode().rstrip("=")
                        if next_offset < len(found) else None),
        "total_hint": len(found),
    }


# ---------------------------------------------------------------- conflicts

# Upstream's enum is unresolved | resolved, and its SDKs refuse any other value: an obsolete
# conflict (settled, but not by the owner) is no longer unresolved, so it says resolved there;
# vault_status keeps the finer open | resolved | obsolete of every other surface.
_STATUS_OUT = {"open": "unresolved", "resolved": "resolved", "obsolete": "resolved"}
# The vocabulary of every surface (open, resolved, obsolete, all), plus upstream's unresolved.
_STATUS_IN: dict[str, str | None] = {"open": "open", "unresolved": "open", "resolved": "resolved",
                                     "obsolete": "obsolete", "all": None}


@router.get("/v1/conflicts", tags=["conflicts"], summary="List conflicts", response_model=None,
            responses={**ok(schemas.ConflictList, "conflicts in scopes the token may read, "
                                                   "newest first"),
                       **errors(400, *AUTH, 422)})
def conflicts(request: Request, principal: Principal = reader,
              status: Annotated[str | None, Query(
                  description="open (upstream's unresolved is the same), resolved, obsolete "
                              "or all (the default)",
                  json_schema_extra={"enum": ["open", "unresolved", "resolved", "obsolete",
                                              "all"]})] = None,
              cursor: Annotated[str | None, Query(description="the cursor of the previous "
                                                              "page")] = None,
              limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
    """Contradictions between live facts on one (entity, relation, scope), with both facts."""
    if status is not None and status not in _STATUS_IN:
        raise HTTPException(400, detail={"code": "invalid_parameter", "field": "status",
                                         "message": "status is open (or unresolved), "
                                                    "resolved, obsolete or all"})
    records = _view(request, principal).conflicts(_STATUS_IN[status] if status else None)
    after = _cursor(cursor)
    if after is not None:
        records = [c for c in records if (c.opened_hlc, c.id) < after]
    page = records[:limit]
    auth = _auth_on(request)
    return {
        "conflicts": [{
            "conflict_id": c.id,
            "fact_a": wire.fact_record(c.fact_a, auth_enabled=auth) if c.fact_a else None,
            "fact_b": wire.fact_record(c.fact_b, auth_enabled=auth) if c.fact_b else None,
            "status": _STATUS_OUT[c.status], "vault_status": c.status,
            "resolved_by": c.resolution,
            "detected_at": _iso_from_hlc(c.opened_hlc),
            "entity": c.entity, "relation": c.relation, "scope": c.scope,
        } for c in page],
        "cursor": _encode_cursor(page[-1].opened_hlc, page[-1].id) if len(records) > limit else None,
        "has_more": len(records) > limit,
    }


@router.post("/v1/conflicts/{conflict_id}/resolve", tags=["conflicts"], summary="Resolve a conflict",
             response_model=None,
             responses={**ok(schemas.Resolution, "the signed resolution fact"),
                        **errors(400, 404, 409, *AUTH, *BODY)})
def resolve(request: Request,
            conflict_id: Annotated[str, Path(
                description="conflict id (32 hex, or a unique prefix of 8+)",
                json_schema_extra={"pattern": CONFLICT_REF})],
            body: Annotated[wire.ResolveRequest, Body()],
            principal: Principal = writer) -> dict[str, Any]:
    """Resolve with one of the two facts (``winning_fact_id``: its id, or a or b) or a
    ``new_value``: exactly one (422 otherwise). The resolution is a new signed fact deriving
    from both sides; the originals are never changed. Only the vault owner (or a system
    source) may settle a conflict between other authors (403 ``resolution_requires_owner``)."""
    if _is_uuid(conflict_id):  # upstream's ids' shape: it names no conflict here
        raise NotFound("conflict", conflict_id)
    if not re.fullmatch(CONFLICT_REF, conflict_id.strip().lower()):  # its shape, not its existence
        raise HTTPException(400, detail={"code": "id_malformed", "message": "a conflict id is "
                                         "32 hex digits, or a unique prefix of 8 or more"})
    value = None
    if body.new_value is not None:
        value = make_value(body.new_value.type, body.new_value.v, "new_value")
    try:
        _record, item = _view(request, principal).resolve(
            conflict_id, winner=body.winning_fact_id, value=value)
    except InvalidFact as exc:
        if exc.field == "conflict":  # not open (resolved or obsolete)
            raise HTTPException(409, detail=f"conflict {exc.reason}") from None
        if exc.field == "conflict_id":  # a prefix of several conflicts it may see
            raise HTTPException(400, detail={"code": "id_ambiguous", "message": exc.reason}) from None
        if exc.field != "winner":
            raise
        raise InvalidFact("winning_fact_id", exc.reason) from None  # name the wire field
    return {"resolution_fact_id": item.fact.id, "conflict_status": "resolved"}


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text.strip())
    except ValueError:
        return False
    return "-" in text  # 32 bare hex digits are one of our conflict ids


def _iso_from_hlc(hlc: str) -> str:
    from datetime import UTC, datetime

    wall = HLC.parse(hlc).wall_ms
    return datetime.fromtimestamp(wall / 1000, UTC).isoformat()
