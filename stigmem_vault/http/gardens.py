"""Memory Garden endpoints (upstream ``/v1/gardens…``). Each parses, calls the token
principal's view (api/view.py, where membership and roles are enforced), and formats.

A garden the principal may not see is answered exactly as one that does not exist (404)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, Field, RootModel

from stigmem_vault.api.access import Principal
from stigmem_vault.api.vault import Vault
from stigmem_vault.api.view import PrincipalView
from stigmem_vault.errors import InvalidFact
from stigmem_vault.http.app import StrictJSONRoute, reader, writer
from stigmem_vault.http.schemas import AUTH, BODY, ScopeName, errors, ok
from stigmem_vault.http.wire import STRICT
from stigmem_vault.model import gardens as g

router = APIRouter(route_class=StrictJSONRoute, tags=["gardens"])
RoleName = Annotated[str, Field(pattern=r"^(admin|writer|reader)$",
                                description="admin, writer or reader")]
GardenRef = Annotated[str, Path(description="the garden's slug, garden id "
                                            "(stigmem://…/garden/<slug>) or record id")]
MemberRef = Annotated[str, Path(description="the member principal, percent-encoded")]


class GardenCreateRequest(BaseModel):
    model_config = STRICT
    slug: str = Field(pattern=g.SLUG.pattern, description="lowercase letters, digits and '-'")
    name: str = Field(min_length=1, max_length=512)
    scope: ScopeName = "company"
    description: str | None = Field(default=None, max_length=4096)
    quarantine: bool = Field(default=False, description="quarantine gardens are not supported; "
                                                        "true is 422")


class GardenMemberRequest(BaseModel):
    model_config = STRICT
    entity_uri: str = Field(min_length=1, max_length=512, description="a principal")
    role: RoleName = "reader"


class GardenMemberUpdateRequest(BaseModel):
    model_config = STRICT
    role: RoleName


class GardenMemberRecord(BaseModel):
    entity_uri: str
    role: str
    added_by: str
    added_at: str


class GardenRecord(BaseModel):
    id: str = Field(description="the fact id of the record that created the garden")
    garden_id: str = Field(description="stigmem://<node id>/garden/<slug>")
    slug: str
    name: str
    scope: ScopeName
    description: str | None
    quarantine: bool
    created_by: str
    created_at: str
    members: list[GardenMemberRecord]


class GardenList(RootModel[list[GardenRecord]]):
    """A bare JSON array of gardens (upstream's shape)."""


class GardenMemberList(RootModel[list[GardenMemberRecord]]):
    """A bare JSON array of members (upstream's shape)."""


def _view(request: Request, principal: Principal) -> PrincipalView:
    vault: Vault = request.app.state.vault
    return vault.as_principal(principal)


def member_record(member: g.Member) -> dict[str, Any]:
    return {"entity_uri": member.principal, "role": member.role, "added_by": member.added_by,
            "added_at": member.added_at}


def garden_record(garden: g.Garden) -> dict[str, Any]:
    return {"id": garden.id, "garden_id": garden.garden_id, "slug": garden.slug,
            "name": garden.name, "scope": garden.scope, "description": garden.description,
            "quarantine": False, "created_by": garden.created_by,
            "created_at": garden.created_at,
            "members": [member_record(m) for m in sorted(garden.members.values(),
                                                         key=lambda m: m.principal)]}


@router.post("/v1/gardens", status_code=201, summary="Create a garden", response_model=None,
             responses={**ok(GardenRecord, "the new garden; its creator is its first admin", 201),
                        **errors(400, 409, *AUTH, *BODY)})
def create_garden(request: Request, body: GardenCreateRequest,
                  principal: Principal = writer) -> dict[str, Any]:
    """Create a garden in ``scope``: a signed record in the vault, committed and federated
    with that scope. 409 if the slug is taken."""
    if body.quarantine:
        raise InvalidFact("quarantine", "quarantine gardens are not supported by this node")
    garden = _view(request, principal).create_garden(
        slug=body.slug, name=body.name, scope=body.scope, description=body.description)
    return garden_record(garden)


@router.get("/v1/gardens", summary="List gardens", response_model=None,
            responses={**ok(GardenList, "the gardens this token's principal is in (the "
                                        "vault owner: all)"), **errors(*AUTH)})
def list_gardens(request: Request, principal: Principal = reader) -> list[dict[str, Any]]:
    """The gardens the principal is a member of; the vault owner sees every garden."""
    return [garden_record(x) for x in _view(request, principal).gardens()]


@router.get("/v1/gardens/{garden}", summary="Get a garden", response_model=None,
            responses={**ok(GardenRecord, "the garden with its members"),
                       **errors(404, *AUTH)})
def get_garden(request: Request, garden: GardenRef,
               principal: Principal = reader) -> dict[str, Any]:
    """A garden with its members, for its members (and the vault owner); 404 for anyone
    else, exactly as for a garden that does not exist."""
    return garden_record(_view(request, principal).garden(garden))


@router.delete("/v1/gardens/{garden}", status_code=204, summary="Delete a garden",
               response_model=None, responses={204: {"description": "deleted"},
                                               **errors(404, *AUTH)})
def delete_garden(request: Request, garden: GardenRef, principal: Principal = writer) -> Response:
    """Delete a garden (admin only): a signed record; its facts stay, orphaned (only the
    vault owner sees them)."""
    _view(request, principal).delete_garden(garden)
    return Response(status_code=204)


@router.get("/v1/gardens/{garden}/members", summary="List members", response_model=None,
            responses={**ok(GardenMemberList, "the members (any member may list them)"),
                       **errors(404, *AUTH)})
def list_members(request: Request, garden: GardenRef,
                 principal: Principal = reader) -> list[dict[str, Any]]:
    """The members and their roles; 404 for a non-member, as for no garden."""
    found = _view(request, principal).garden(garden)
    return garden_record(found)["members"]  # type: ignore[no-any-return]


@router.post("/v1/gardens/{garden}/members", status_code=201, summary="Add a member",
             response_model=None,
             responses={**ok(GardenMemberRecord, "the new member", 201),
                        **errors(400, 404, 409, *AUTH, *BODY)})
def add_member(request: Request, garden: GardenRef, body: GardenMemberRequest,
               principal: Principal = writer) -> dict[str, Any]:
    """Add a member (admin only); 409 if already one."""
    return member_record(_view(request, principal).add_garden_member(
        garden, body.entity_uri, body.role))


@router.patch("/v1/gardens/{garden}/members/{member:path}", summary="Change a member's role",
              response_model=None,
              responses={**ok(GardenMemberRecord, "the member with its new role"),
                         **errors(400, 404, 409, *AUTH, *BODY)})
def update_member(request: Request, garden: GardenRef, member: MemberRef,
                  body: GardenMemberUpdateRequest, principal: Principal = writer) -> dict[str, Any]:
    """Change a member's role (admin only); 409 if it would leave the garden without admin."""
    return member_record(_view(request, principal).set_garden_role(garden, member, body.role))


@router.delete("/v1/gardens/{garden}/members/{member:path}", status_code=204,
               summary="Remove a member", response_model=None,
               responses={204: {"description": "removed"}, **errors(404, 409, *AUTH)})
def remove_member(request: Request, garden: GardenRef, member: MemberRef,
                  principal: Principal = writer) -> Response:
    """Remove a member (admin only); 409 for the last admin."""
    _view(request, principal).remove_garden_member(garden, member)
    return Response(status_code=204)
