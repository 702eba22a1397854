"""Garden commands: Memory Gardens (docs/spec.md §17) from the terminal, as the vault owner.

A front end over the same view the HTTP node and MCP use (``vault.as_principal``), so the same
rules apply; the operator is the vault owner, who sees every garden but changes one only as
its admin.
"""

from __future__ import annotations

from collections.abc import Callable

import click

from stigmem_vault.api.view import PrincipalView
from stigmem_vault.cli.common import echo_json, json_option, open_vault, state, table
from stigmem_vault.model import gardens as g

ROLES = click.Choice(list(g.ROLES))


def _garden_dict(garden: g.Garden) -> dict[str, object]:
    return {"id": garden.id, "garden_id": garden.garden_id, "slug": garden.slug,
            "name": garden.name, "scope": garden.scope, "description": garden.description,
            "created_by": garden.created_by, "created_at": garden.created_at,
            "members": [{"principal": m.principal, "role": m.role, "added_by": m.added_by,
                         "added_at": m.added_at}
                        for m in sorted(garden.members.values(), key=lambda m: m.principal)]}


def _show(garden: g.Garden) -> None:
    if state().json:
        echo_json(_garden_dict(garden))
        return
    click.echo(f"garden {garden.slug}  {garden.name!r}  ({garden.scope})  {garden.garden_id}")
    if garden.description:
        click.echo(f"  {garden.description}")
    click.echo(f"  created by {garden.created_by} at {garden.created_at}")
    rows = [(m.principal, m.role, m.added_by) for m in
            sorted(garden.members.values(), key=lambda m: m.principal)]
    for line in table(("MEMBER", "ROLE", "ADDED BY"), rows).splitlines():
        click.echo(f"  {line}")


def _change_members(garden: str, change: Callable[[PrincipalView], object]) -> None:
    """Make one membership change as the vault owner, then show the garden."""
    with open_vault() as vault:
        view = vault.as_principal(vault.operator())
        change(view)
        _show(view.garden(garden))


@click.group("garden", short_help="Memory Gardens: groups that share facts within a scope.")
def garden_group() -> None:
    """Memory Gardens: a named group, narrower than a scope, that shares a set of facts.

    Gardens and their members are signed records in the vault, committed and federated with
    their scope. Facts join a garden with `assert --garden` (or garden_id over HTTP/MCP).
    """


@garden_group.command("create")
@click.argument("slug")
@click.option("--name", help="A display name (default: the slug).")
@click.option("--scope", type=click.Choice(["local", "team", "company", "public"]),
              default="company", show_default=True, help="The scope its facts live in.")
@click.option("--description", help="What the garden is for.")
@json_option
def create_cmd(slug: str, name: str | None, scope: str, description: str | None) -> None:
    """Create garden SLUG; you (the vault owner) become its first admin."""
    with open_vault() as vault:
        garden = vault.as_principal(vault.operator()).create_garden(
            slug=slug, name=name or slug, scope=scope, description=description)
    _show(garden)


@garden_group.command("list")
@json_option
def list_cmd() -> None:
    """Every garden the vault holds."""
    with open_vault(read_only=True) as vault:
        gardens = vault.as_principal(vault.operator()).gardens()
    if state().json:
        echo_json([_garden_dict(x) for x in gardens])
        return
    if not gardens:
        click.echo("no gardens")
        return
    click.echo(table(("SLUG", "NAME", "SCOPE", "MEMBERS", "ID"),
                     [(x.slug, x.name, x.scope, str(len(x.members)), x.garden_id)
                      for x in gardens]))


@garden_group.command("show")
@click.argument("garden")
@json_option
def show_cmd(garden: str) -> None:
    """One garden (slug or id) and its members."""
    with open_vault(read_only=True) as vault:
        found = vault.as_principal(vault.operator()).garden(garden)
    _show(found)


@garden_group.command("add")
@click.argument("garden")
@click.argument("principal")
@click.option("--role", type=ROLES, default="reader", show_default=True,
              help="admin (manages members), writer (adds facts) or reader.")
@json_option
def add_cmd(garden: str, principal: str, role: str) -> None:
    """Add PRINCIPAL to GARDEN with a role (you must be its admin)."""
    _change_members(garden, lambda view: view.add_garden_member(garden, principal, role))


@garden_group.command("role")
@click.argument("garden")
@click.argument("principal")
@click.argument("role", type=ROLES)
@json_option
def role_cmd(garden: str, principal: str, role: str) -> None:
    """Change a member's role (you must be the garden's admin)."""
    _change_members(garden, lambda view: view.set_garden_role(garden, principal, role))


@garden_group.command("remove")
@click.argument("garden")
@click.argument("principal")
@json_option
def remove_cmd(garden: str, principal: str) -> None:
    """Remove a member (not the last admin)."""
    _change_members(garden, lambda view: view.remove_garden_member(garden, principal))


@garden_group.command("delete")
@click.argument("garden")
def delete_cmd(garden: str) -> None:
    """Delete a garden. Its facts stay in the vault, visible to the owner only."""
    with open_vault() as vault:
        vault.as_principal(vault.operator()).delete_garden(garden)
    click.echo(f"deleted garden {garden}")


COMMANDS = [garden_group]
