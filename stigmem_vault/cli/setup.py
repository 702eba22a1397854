"""Vault-level commands: init and status."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path

import click

from stigmem_vault.api import obsidian_plugin
from stigmem_vault.api.results import RemoteStatus, RepoSize, Status
from stigmem_vault.api.vault import Vault
from stigmem_vault.cli import obsidian
from stigmem_vault.cli.common import echo_json, fields, json_option, open_vault, progress_hook, state


def _status_rows(status: Status) -> list[tuple[str, object]]:
    total = sum(status.facts_by_scope.values())
    by_scope = ", ".join(f"{scope} {count}" for scope, count in status.facts_by_scope.items())
    node = (f"{status.node_source} ({status.node_id})" if status.node_id
            else "none: a read-only copy (make your own with `stigmem init NEW --from`)")
    return [
        ("vault", status.root),
        ("owner", status.owner),
        ("node", node),
        ("facts", f"{total} ({by_scope})"),
        ("identities", status.identities),
        ("schemas", status.schemas),
        ("head", status.head or "no commits"),
        ("uncommitted", status.uncommitted or None),
        ("repository", _repository_line(status.repository)),
    ]


def _repository_line(size: RepoSize | None) -> str | None:
    """git's objects on disk, as ``git count-objects -v`` would count them."""
    if size is None:
        return None
    return (f"{_mib(size.total_bytes)} ({size.loose_objects} loose object(s), "
            f"{_mib(size.loose_bytes)}; {size.packs} pack(s) of {size.packed_objects} "
            f"object(s), {_mib(size.pack_bytes)})")


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


def _remote_line(row: RemoteStatus) -> str:
    """One remote in ``stigmem status``: last sync, ahead/behind, quarantined, last error."""
    error = " ".join(row.last_error.split()) if row.last_error else None
    return (f"{row.remote} ({','.join(row.scopes)}): "
            f"last sync {row.last_sync or 'never'}, ahead {row.ahead}, "
            f"behind {row.behind}, quarantined {row.quarantined}"
            + (f", last error: {error}" if error else ""))


@click.command("init")
@click.argument("path", type=click.Path(file_okay=False))
@click.option("--owner", required=True, help="The person who owns the vault: user:NAME.")
@click.option("--from", "template", type=click.Path(file_okay=False),
              help="Import the verified facts, schemas and identities of this vault.")
@click.option("--obsidian-plugin", "with_plugin", is_flag=True,
              help="Also install the stigmem Obsidian plugin into the vault and enable it.")
@click.option("--obsidian-plugin-from", "plugin_from", type=click.Path(file_okay=False, exists=True),
              help=f"With --obsidian-plugin: {obsidian.FROM_HELP}")
@json_option
def init_cmd(path: str, owner: str, template: str | None, with_plugin: bool,
             plugin_from: str | None) -> None:
    """Create a vault at PATH: git repository, owner and node keys, first signed commit."""
    if plugin_from is not None and not with_plugin:
        raise click.UsageError("--obsidian-plugin-from needs --obsidian-plugin")
    # Find (or build) the plugin first: a missing bundle is reported before anything is made.
    bundle = obsidian_plugin.plugin_bundle(Path(plugin_from) if plugin_from else None) \
        if with_plugin else None
    with ExitStack() as stack, Vault.init(path, owner=owner, template=template,
                                          commit_delay=None,
                                          progress=progress_hook(stack)) as vault:
        status = vault.status()  # the first index: 20k imported facts take seconds
        skipped = vault.init_report
    if bundle is not None:
        obsidian_plugin.install_plugin(Path(status.root), bundle)
    facts = sum(status.facts_by_scope.values())
    if state().json:
        echo_json({**asdict(status), "imported_facts": facts,
                   "obsidian_plugin": obsidian_plugin.PLUGIN_DIR if bundle else None,
                   "skipped": [{"path": p, "reason": r} for p, r in skipped]})
        return
    click.echo(f"created vault {status.root} for {status.owner} (node {status.node_source})")
    if template is not None:
        click.echo(f"imported {facts} fact(s) from {template}; skipped {len(skipped)} file(s)")
    for skipped_path, reason in skipped:
        click.echo(f"skipped {skipped_path}: {reason}", err=True)
    if bundle is not None:
        click.echo(f"installed the Obsidian plugin in {obsidian_plugin.PLUGIN_DIR}/ and enabled it")


@click.command("status")
@json_option
def status_cmd() -> None:
    """Show the vault: owner, node, facts by scope, identities, git head, the index (facts,
    live facts, open conflicts), every fact file with a problem and its reason, recent notices,
    and per remote: last sync, ahead/behind, quarantined facts, last error."""
    with open_vault(read_only=True) as vault:
        status = vault.status()
        counts = vault.index.counts()  # opening the index brings it up to date first
        problems = vault.index.file_statuses()
        notices = vault.notices()
        remotes = vault.sync_status()
        pending = vault.pending()
    if state().json:
        echo_json({**asdict(status), "index": counts,
                   "pending": [asdict(p) for p in pending],
                   "problems": [{"path": p, "status": s, "reason": r} for p, s, r in problems],
                   "notices": notices, "remotes": [asdict(row) for row in remotes]})
        return
    click.echo(fields([*_status_rows(status), (
        "index", f"{counts['files']} file(s), {counts['facts']} fact(s), {counts['live']} live, "
                 f"{counts['open_conflicts']} open conflict(s)")]))
    if problems:
        click.echo(f"\n{len(problems)} file(s) with problems:")
        for path, file_status, reason in problems:
            click.echo(f"  {path}: {file_status}: {reason}")
    if pending:
        click.echo(f"\n{len(pending)} pending (tick `sign` in the note to sign it; "
                   "`stigmem revert PATH` drops an edit):")
        for item in pending:
            click.echo(f"  {item.path}: {item.kind}"
                       + (f" of {item.fact_id[:12]}" if item.fact_id else "")
                       + (f" of conflict {item.conflict_id[:12]}" if item.conflict_id else "")
                       + (", ticked: the next `stigmem watch`, node or `stigmem index` signs it"
                          if item.ticked else "")
                       + (f" (last try: {item.error})" if item.error else ""))
    if remotes:
        click.echo("\nremotes:")
        for row in remotes:
            click.echo(f"  {_remote_line(row)}")
    if notices:
        click.echo("\nrecent notices:")
        for notice in notices:
            click.echo(f"  {notice}")
