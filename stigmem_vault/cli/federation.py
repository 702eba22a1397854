"""Federation commands: remotes and their scopes, sync, peers (the signed handshake), audit.

``stigmem sync`` exits 4 (the exit code of ``RemoteError``) when any remote failed, after
reporting every remote; what a remote sent that did not verify is not a failure of the sync
(it is quarantined and audited, see ``stigmem audit``).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import click

from stigmem_vault.api.federation import PeerInfo, SyncReport
from stigmem_vault.api.results import AuditEntry, Remote
from stigmem_vault.cli.common import echo_json, json_option, one_line, open_vault, state, table
from stigmem_vault.errors import RemoteError


def _comma_list(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> list[str]:
    """``--scopes team,company`` and ``--scopes team --scopes company`` alike."""
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def _remote_dict(remote: Remote) -> dict[str, object]:
    return {"name": remote.name, "url": remote.url, "scopes": list(remote.scopes)}


def _peer_dict(peer: PeerInfo) -> dict[str, object]:
    return {"node_id": peer.node_id, "owner": peer.owner, "fingerprint": peer.fingerprint,
            "status": peer.status, "scopes": list(peer.scopes),
            "identities": [{"source": s, "key": k} for s, k in peer.identities]}


def _local_url(url: str) -> str:
    """A local path as an absolute one: the vault may be synced from another directory."""
    if "://" not in url and Path(url).exists():
        return str(Path(url).resolve())
    return url


# ----------------------------------------------------------------- remote


@click.group("remote")
def remote_group() -> None:
    """Git remotes this vault syncs with, each limited to the scopes it may carry."""


@remote_group.command("add")
@click.argument("name")
@click.argument("url")
@click.option("--scopes", multiple=True, required=True, callback=_comma_list,
              metavar="SCOPE[,SCOPE...]",
              help="Scopes the remote may carry: team, company, public (never local).")
@json_option
def remote_add_cmd(name: str, url: str, scopes: list[str]) -> None:
    """Add remote NAME at URL (a path, file://, git:// or ssh:// URL of a git repository,
    usually bare). Only facts of its scopes are ever pushed there or accepted from it."""
    with open_vault() as vault:
        remote = vault.add_remote(name, _local_url(url), scopes)
    if state().json:
        echo_json(_remote_dict(remote))
    else:
        click.echo(f"added remote {remote.name} {remote.url} (scopes {','.join(remote.scopes)}); "
                   f"sync with `stigmem sync {remote.name}`")


@remote_group.command("list")
@json_option
def remote_list_cmd() -> None:
    """List remotes: name, scopes, URL."""
    with open_vault(read_only=True) as vault:
        remotes = vault.remotes()
    if state().json:
        echo_json([_remote_dict(r) for r in remotes])
    elif not remotes:
        click.echo("no remotes; add one with `stigmem remote add NAME URL --scopes team`")
    else:
        click.echo(table(("NAME", "SCOPES", "URL"),
                         [(r.name, ",".join(r.scopes), r.url) for r in remotes]))


@remote_group.command("remove")
@click.argument("name")
@json_option
def remote_remove_cmd(name: str) -> None:
    """Remove remote NAME (nothing is deleted on the remote; facts already synced stay)."""
    with open_vault() as vault:
        vault.remove_remote(name)
    if state().json:
        echo_json({"removed": name})
    else:
        click.echo(f"removed remote {name}")


# ----------------------------------------------------------------- sync


def _report_dict(report: SyncReport, peers: dict[str, PeerInfo]) -> dict[str, object]:
    data = asdict(report)
    data["refused"] = [{"branch": branch, "reason": why} for branch, why in report.refused]
    data["new_peers"] = [
        {"node_id": node, "owner": peers[node].owner if node in peers else None,
         "fingerprint": peers[node].fingerprint if node in peers else None}
        for node in report.new_peers]
    return data


def _print_report(report: SyncReport, peers: dict[str, PeerInfo]) -> None:
    if report.error is not None:
        click.echo(f"{report.remote}: failed: {one_line(report.error)}")
    pushed = ",".join(report.pushed) or "nothing new"
    click.echo(f"{report.remote}: imported {report.imported}, quarantined {report.quarantined}, "
               f"refused updates {len(report.refused)}, forged commits {report.forged_commits}, "
               f"new peers {len(report.new_peers)}, pushed {pushed}")
    for branch, why in report.refused:
        click.echo(f"  refused {branch}: {one_line(why)}")
    for tampered in report.tampered:
        click.echo(f"  {tampered.describe()} (see `stigmem audit`)")
    for node in report.new_peers:
        peer = peers.get(node)
        who = f" (owner {peer.owner}, fingerprint {peer.fingerprint})" if peer else ""
        click.echo(f"  new peer {node}{who} is pending; check the fingerprint with its operator, "
                   f"then: stigmem peer trust {node} --fingerprint sha256:...")
    if report.quarantined or report.forged_commits:
        click.echo("  see `stigmem audit` for what was rejected and why")


@click.command("sync", short_help="Pull, verify, import and push (every remote, or NAME).")
@click.argument("name", required=False)
@json_option
def sync_cmd(name: str | None) -> None:
    """Sync with remote NAME (default: every remote): fetch, verify every fact, import the
    valid ones, quarantine and audit the rest, then push this vault's projections.

    Exit status 4 if a remote could not be reached or refused the push. A projection branch
    of this node that someone else moved on the remote is put back, audited and reported
    (not an error).
    """
    with open_vault() as vault:
        reports = vault.sync(name)
        peers = {p.node_id: p for p in vault.peers()} if any(r.new_peers for r in reports) else {}
    if state().json:
        echo_json([_report_dict(r, peers) for r in reports])
    elif not reports:
        click.echo("no remotes; add one with `stigmem remote add NAME URL --scopes team`")
    else:
        for report in reports:
            _print_report(report, peers)
    if any(r.error is not None for r in reports):
        click.get_current_context().exit(RemoteError.exit_code)


# ----------------------------------------------------------------- peer


@click.group("peer")
def peer_group() -> None:
    """Peers: nodes whose signed declarations arrived through a remote; trust or revoke them."""


@peer_group.command("list")
@json_option
def peer_list_cmd() -> None:
    """List peers: node id, owner, owner-key fingerprint, status (pending, trusted, revoked),
    the scopes they declare and how many identities they speak for."""
    with open_vault(read_only=True) as vault:
        peers = vault.peers()
    if state().json:
        echo_json([_peer_dict(p) for p in peers])
        return
    if not peers:
        click.echo("no peers yet; they appear when `stigmem sync` fetches their declarations")
        return
    rows = [(p.node_id, p.owner, p.fingerprint, p.status, ",".join(p.scopes),
             str(len(p.identities))) for p in peers]
    click.echo(table(("NODE", "OWNER", "FINGERPRINT", "STATUS", "SCOPES", "IDENTITIES"), rows))


@peer_group.command("trust")
@click.argument("node_id", metavar="NODE_ID")
@click.option("--fingerprint", metavar="sha256:HEX",
              help="The owner-key fingerprint the peer's operator gave you out of band; the "
                   "peer is refused if its declaration does not match.")
@json_option
def peer_trust_cmd(node_id: str, fingerprint: str | None) -> None:
    """Admit peer NODE_ID: pin its owner key and trust the identities it declares. Facts of
    it held in quarantine that now verify are imported."""
    with open_vault() as vault:
        peer = vault.trust_peer(node_id.strip().lower(),
                                fingerprint.strip().lower() if fingerprint else None)
    if state().json:
        echo_json(_peer_dict(peer))
        return
    click.echo(f"trusted peer {peer.node_id} ({peer.owner}, {peer.fingerprint}, "
               f"{len(peer.identities)} identities)")
    if fingerprint is None:
        click.echo("warning: trusted without --fingerprint: nothing checked that this key is "
                   "the one its operator holds", err=True)


@peer_group.command("revoke")
@click.argument("node_id", metavar="NODE_ID")
@json_option
def peer_revoke_cmd(node_id: str) -> None:
    """Withdraw trust from peer NODE_ID: the identities endorsed for it are removed, so its
    facts stop verifying here and nothing new of it is accepted."""
    with open_vault() as vault:
        vault.revoke_peer(node_id.strip().lower())
    if state().json:
        echo_json({"revoked": node_id.strip().lower()})
    else:
        click.echo(f"revoked peer {node_id.strip().lower()}")


# ----------------------------------------------------------------- audit


@click.command("audit")
@click.option("--limit", type=click.IntRange(min=1), metavar="N",
              help="Show only the last N entries (default: all).")
@json_option
def audit_cmd(limit: int | None) -> None:
    """Show the audit log: every fact rejected on sync (and where it is quarantined), every
    refused branch update, forged commit and ignored peer declaration, oldest first."""
    with open_vault(read_only=True) as vault:
        entries = vault.audit_log(limit)
    if state().json:
        echo_json([asdict(e) for e in entries])
        return
    if not entries:
        click.echo("the audit log is empty")
        return
    click.echo(table(("TIME", "REMOTE", "KIND", "WHERE", "REASON"),
                     [_audit_row(e) for e in entries]))


def _audit_row(entry: AuditEntry) -> tuple[str, ...]:
    where = entry.path or entry.branch or ""
    reason = entry.reason + (f" (kept in {entry.quarantined})" if entry.quarantined else "")
    return (entry.ts, entry.remote, entry.kind, one_line(where), one_line(reason, 120))


COMMANDS = (remote_group, sync_cmd, peer_group, audit_cmd)
