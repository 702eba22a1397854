"""Endpoints about the vault rather than one fact: lint, entity cards, federation status, the
caller itself; and the upstream endpoints this node answers with an honest refusal (HTTP
federation, instruction manifests). Each parses, calls the token principal's view, formats."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from stigmem_vault.api.access import Principal
from stigmem_vault.api.lint import LOW_CONFIDENCE, MAX_LOOKAHEAD_S
from stigmem_vault.api.peers import UPSTREAM_STATUS
from stigmem_vault.errors import InvalidFact
from stigmem_vault.http import schemas, wire
from stigmem_vault.http.app import (
    StrictJSONRoute,
    bad_parameter,
    principal_of,
    public_text,
    reader,
    writer,
)
from stigmem_vault.http.routes import SCOPES, _auth_on, _settings, _vault, _view
from stigmem_vault.http.schemas import AUTH, BODY, LintCheckName, ScopeName, errors, ok

router = APIRouter(route_class=StrictJSONRoute)
identified = Depends(principal_of)


def _unattested_shown(request: Request) -> bool:
    # A node that accepts unattested writes shows them, in every listing alike.
    return _settings(request).attestation_mode != "enforce"


# ---------------------------------------------------------------- lint


class LintRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={
        "examples": [{"scope": "team", "checks": ["contradiction", "stale"],
                      "stale_lookahead_s": 86400}]})
    scope: ScopeName = Field(description="the scope to sweep (one the token may read)")
    checks: list[LintCheckName] | None = Field(
        default=None, description="checks to run; omit for all (upstream's five, then schema "
                                  "and low_confidence)")
    entity: str | None = Field(default=None, description="only facts about this entity")
    relation: str | None = Field(default=None, description="only this relation")
    stale_lookahead_s: int = Field(default=0, ge=0, le=MAX_LOOKAHEAD_S,
                                   description="also flag facts expiring within this many "
                                               "seconds")
    min_confidence: float = Field(default=LOW_CONFIDENCE, ge=0.0, le=1.0, allow_inf_nan=False,
                                  description="low_confidence flags live facts below this")


@router.post("/v1/lint", tags=["overview"], summary="Lint a scope", response_model=None,
             responses={**ok(schemas.LintResult, "findings of a read-only health sweep"),
                        **errors(400, *AUTH, *BODY)})
def lint_scope(request: Request, body: LintRequest, principal: Principal = reader) -> dict[str, Any]:
    """A read-only health sweep of one scope: open conflicts, expired or expiring facts,
    entities with no live facts, refs to nothing, relations without a namespace, facts that
    break their relation's schema, and low-confidence facts. Always answered at once (200)."""
    try:
        report = _view(request, principal).lint(
            body.scope, body.checks, entity=body.entity, relation=body.relation,
            stale_lookahead_s=body.stale_lookahead_s, min_confidence=body.min_confidence,
            include_unattested=_unattested_shown(request))
    except InvalidFact as exc:
        raise bad_parameter(exc) from None
    return report.as_dict()


# ---------------------------------------------------------------- cards


@router.get("/v1/cards/{entity_uri:path}", tags=["overview"], summary="An entity's card",
            response_model=None,
            responses={**ok(schemas.MemoryCard, "what the vault holds about the entity now"),
                       **errors(400, 404, *AUTH, 422)})
def card(request: Request,
         entity_uri: Annotated[str, Path(description="the entity, e.g. user:alice or "
                                                     "stigmem://acme/project/atlas (slashes "
                                                     "may be sent as they are)")],
         principal: Principal = reader,
         scope: Annotated[str, Query(description="the scope the card is made of",
                                     json_schema_extra=SCOPES)] = "local",
         refresh: Annotated[bool, Query(description="accepted for upstream clients; a card is "
                                                    "computed on every read")] = False,
         ) -> dict[str, Any]:
    """The entity's live facts in one scope, summarised in upstream's card shape; 404 when it
    has none the token may see."""
    del refresh  # nothing is cached
    try:
        made = _view(request, principal).card(entity_uri, scope,
                                              include_unattested=_unattested_shown(request))
    except InvalidFact as exc:
        raise bad_parameter(exc) from None
    auth = _auth_on(request)
    return {**made.as_dict(), "facts": [wire.fact_record(i, auth_enabled=auth) for i in made.facts]}


# ---------------------------------------------------------------- who and with whom


@router.get("/v1/me", tags=["overview"], summary="Who this token is", response_model=None,
            responses={**ok(schemas.Me, "the principal, its scopes and permissions"),
                       **errors(*AUTH)})
def whoami(request: Request, principal: Principal = identified) -> dict[str, Any]:
    """The principal the token acts as (upstream's keys, then its scopes and token id)."""
    return {"entity_uri": principal.source, "permissions": sorted(principal.perms),
            "oidc_sub": None, "tenant_id": None, "scopes": sorted(principal.scopes),
            "token_id": principal.token_id, "auth": "token" if _auth_on(request) else "none"}


@router.get("/v1/federation/peers", tags=["overview"], summary="Federation peers",
            response_model=None,
            responses={**ok(schemas.PeerList, "peer vaults and git remotes, as far as the "
                                              "token's scopes reach"),
                       **errors(*AUTH)})
def federation_peers(request: Request, principal: Principal = reader) -> dict[str, Any]:
    """The vaults this one federates with over git (spec §16), in upstream's peer shape, and
    the remotes they are reached through. Only scopes the token may read are listed, and a
    peer or remote sharing none of them is left out."""
    view = _view(request, principal)
    peers, remotes = view.federation()
    root = _vault(request).root
    return {
        "peers": [{"peer_id": p.node_id, "node_id": f"stigmem:node:{p.node_id}",
                   "node_url": p.url, "status": UPSTREAM_STATUS[p.status],
                   "allowed_scopes": list(p.scopes), "established_at": None, "owner": p.owner,
                   "fingerprint": p.fingerprint, "trust": p.status, "remote": p.remote}
                  for p in peers],
        "remotes": [{"name": r.name, "url": r.url, "scopes": list(r.scopes),
                     "last_sync": r.last_sync,
                     "last_error": public_text(r.last_error, root) if r.last_error else None}
                    for r in remotes],
    }


# ---------------------------------------------------------------- pending notes (spec §14)


class RevertRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={
        "examples": [{"target": "facts/team/acme/service/87/billing/service.health--2b57.md"}]})
    target: str = Field(min_length=1, max_length=4096,
                        description="the pending edit: its vault-relative path, or the id (or "
                                    "a prefix of 8+ hex digits) of the signed fact it edits")


@router.get("/v1/pending", tags=["overview"], summary="Notes waiting for sign",
            response_model=None,
            responses={**ok(schemas.PendingList, "drafts, edits and conflict choices not "
                                                 "signed yet"),
                       **errors(*AUTH)})
def pending(request: Request, principal: Principal = reader) -> dict[str, Any]:
    """What `stigmem status` lists as pending: people's drafts, edits of signed facts and
    conflict choices waiting for their `sign` tick (or, ticked, for the watcher). Files of the
    working tree, so only the vault owner with every scope may list them (403
    ``owner_required``)."""
    notes = _view(request, principal).pending()
    return {"pending": [{"path": n.path, "kind": n.kind, "fact_id": n.fact_id,
                         "conflict_id": n.conflict_id, "ticked": n.ticked, "error": n.error}
                        for n in notes]}


@router.post("/v1/pending/revert", tags=["overview"], summary="Revert a pending edit",
             response_model=None,
             responses={**ok(schemas.Reverted, "the file has its signed bytes back"),
                        **errors(400, 404, *AUTH, *BODY)})
def revert(request: Request, body: RevertRequest, principal: Principal = writer) -> dict[str, Any]:
    """`stigmem revert`: drop a pending edit of a signed fact, giving its file the signed
    bytes back (nothing is signed). The vault owner with every scope only (403
    ``owner_required``); a target that names no signed fact is 422 ``target``."""
    try:
        rel = _view(request, principal).revert(body.target)
    except InvalidFact as exc:
        raise InvalidFact("target", exc.reason) from None
    return {"path": rel}


# ---------------------------------------------------------------- refused honestly
# Never successful, so not in the OpenAPI document (which describes what a node serves);
# spec §15.8 documents them.

_NO_HTTP_FEDERATION = {
    "code": "federation_over_git",
    "message": "this node does not federate over HTTP: vaults exchange signed facts over git "
               "(stigmem remote add, stigmem sync; spec §16)"}


@router.get("/v1/federation/facts", summary="HTTP federation pull (not served)",
            tags=["overview"], response_model=None, include_in_schema=False)
def federation_pull(principal: Principal = identified) -> None:
    """Upstream's peer pull: always 404 ``federation_over_git`` (after the token check),
    since this node's federation is git (its discovery document says ``"federation":
    "disabled"``)."""
    del principal
    raise HTTPException(404, detail=_NO_HTTP_FEDERATION)


@router.post("/v1/federation/facts", summary="HTTP federation push (not served)",
             tags=["overview"], response_model=None, include_in_schema=False)
def federation_push(principal: Principal = identified) -> None:
    """Upstream's peer push: always 404 ``federation_over_git``, as the pull."""
    del principal
    raise HTTPException(404, detail=_NO_HTTP_FEDERATION)


@router.post("/v1/agents/{agent_id}/instruction-manifest", tags=["overview"],
             summary="Publish an instruction manifest (refused)", response_model=None,
             include_in_schema=False)
def instruction_manifest(agent_id: Annotated[str, Path(description="the agent")],
                         principal: Principal = writer) -> None:
    """Always 403 ``instruction_write_required``: this node stores facts as data only, so no
    principal holds the permission to publish instructions (the body is not read)."""
    del agent_id, principal
    raise HTTPException(403, detail={
        "code": "instruction_write_required",
        "message": "this node stores facts as data only: no principal may publish "
                   "instructions or instruction manifests"})


__all__ = ["router"]
