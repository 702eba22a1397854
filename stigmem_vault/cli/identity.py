"""Identity commands: the sources this vault trusts and the keys that speak for them."""

from __future__ import annotations

from dataclasses import asdict

import click

from stigmem_vault.api.results import Identity
from stigmem_vault.cli.common import echo_json, json_option, open_vault, state, table


@click.group("identity")
def identity_group() -> None:
    """Create, list and rotate identities (a source bound to a signing key)."""


def _show(identity: Identity, text: str) -> None:
    """What an identity command did: the identity as JSON, or ``text``."""
    if state().json:
        echo_json(asdict(identity))
    else:
        click.echo(text)


@identity_group.command("create")
@click.argument("source")
@json_option
def create_cmd(source: str) -> None:
    """Create a key pair for SOURCE (agent:NAME, user:NAME) on this machine and trust it."""
    with open_vault() as vault:
        identity = vault.create_identity(source)
    _show(identity, f"created identity {identity.source} {identity.key}")


@identity_group.command("list")
@json_option
def list_cmd() -> None:
    """List the identities in the trust store and whether this machine holds their keys."""
    with open_vault(read_only=True) as vault:
        identities = vault.identities()
    if state().json:
        echo_json([asdict(i) for i in identities])
        return
    rows = [(i.source, i.role, "yes" if i.held else "no", "yes" if i.vouches else "no", i.key)
            for i in identities]
    click.echo(table(("SOURCE", "ROLE", "KEY HELD", "VOUCHES", "KEY"), rows))


@identity_group.command("vouch")
@click.argument("source")
@json_option
def vouch_cmd(source: str) -> None:
    """Let SOURCE's key vouch for facts naming other sources (a grant signed by the owner).

    A node with --attestation warn or off signs a token's writes in another source's name with
    the token principal's key: with this grant they verify as vouched (live, in conflicts),
    without it as unattested (stored, never live). The owner's key may always vouch."""
    with open_vault() as vault:
        identity = vault.grant_vouch(source)
    _show(identity, f"{identity.source} ({identity.key}) may vouch for other sources")


@identity_group.command("rotate")
@click.argument("source")
@json_option
def rotate_cmd(source: str) -> None:
    """Give SOURCE a new key, vouched for by the vault owner (for the owner itself: by the old
    owner key). Facts signed with the old key stay valid; new facts use the new key."""
    with open_vault() as vault:
        identity = vault.rotate_identity(source)
    _show(identity, f"rotated identity {identity.source} to {identity.key}; peers follow at the "
                    f"next `stigmem sync`")
