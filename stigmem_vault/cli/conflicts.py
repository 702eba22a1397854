"""Conflict commands: list contradictions (open, resolved, obsolete) and resolve one."""

from __future__ import annotations

import click

from stigmem_vault.api.results import ConflictRecord, IndexedFact
from stigmem_vault.cli.common import (
    echo_json,
    fact_dict,
    item_dict,
    json_option,
    one_line,
    open_vault,
    state,
    table,
)


def _conflict_dict(record: ConflictRecord) -> dict[str, object]:
    return {
        "id": record.id,
        "status": record.status,
        "entity": record.entity,
        "relation": record.relation,
        "scope": record.scope,
        "opened_hlc": record.opened_hlc,
        "resolution": record.resolution,
        "a": item_dict(record.fact_a) if record.fact_a else None,
        "b": item_dict(record.fact_b) if record.fact_b else None,
    }


def _side(name: str, item: IndexedFact | None) -> tuple[str, ...]:
    if item is None:
        return (name, "(no longer in the index)", "", "", "", "", "")
    fact = item.fact
    return (name, fact.id[:12], one_line(fact.value.display(), 40), fact.source, fact.hlc,
            f"{fact.confidence:g}", fact.trust.value)


def _print_conflict(record: ConflictRecord) -> None:
    click.echo(f"conflict {record.id[:12]}  {record.status}  {record.entity}  {record.relation}"
               f"  ({record.scope})  opened {record.opened_hlc}")
    rows = [_side("a", record.fact_a), _side("b", record.fact_b)]
    for line in table(("SIDE", "FACT", "VALUE", "SOURCE", "HLC", "CONF", "TRUST"), rows).splitlines():
        click.echo(f"  {line}")
    if record.resolution:
        click.echo(f"  resolved by {record.resolution}")


@click.command("conflicts", short_help="List open, resolved and obsolete conflicts.")
@click.option("--status", type=click.Choice(["open", "resolved", "obsolete", "all"]),
              default="all", show_default=True,
              help="Only conflicts with this status (newest first).")
@json_option
def conflicts_cmd(status: str) -> None:
    """List contradictions: two live facts with different values for one entity, relation, scope.

    A conflict is resolved by a signed fact of the vault owner (`stigmem resolve`), or
    obsolete when one side stopped being live otherwise.
    """
    with open_vault(read_only=True) as vault:
        records = vault.conflicts(None if status == "all" else status)
    if state().json:
        echo_json([_conflict_dict(r) for r in records])
        return
    if not records:
        click.echo("no conflicts" if status == "all" else f"no {status} conflicts")
        return
    for number, record in enumerate(records):
        if number:
            click.echo()
        _print_conflict(record)
    if any(r.status == "open" for r in records):
        click.echo("\nresolve one with `stigmem resolve CONFLICT --winner a|b|FACT_ID` "
                   "or `--value V`")


@click.command("resolve", short_help="Resolve a conflict with a signed fact.")
@click.argument("conflict_id", metavar="CONFLICT")
@click.option("--winner", metavar="a|b|ID", help="The side that wins: a, b or one side's fact id.")
@click.option("--value", metavar="V",
              help="A new value instead (typed like the conflicting facts).")
@json_option
def resolve_cmd(conflict_id: str, winner: str | None, value: str | None) -> None:
    """Resolve conflict CONFLICT (id or prefix) with a signed fact; prints that fact's id.

    Give exactly one of --winner and --value. The resolution is the vault owner's fact; it
    derives from both sides and replaces them, and the conflict becomes resolved.
    """
    with open_vault() as vault:
        fact = vault.resolve(conflict_id, winner=winner, value=value)
        path = vault.path_of(fact)
    if state().json:
        echo_json({"action": "resolved", "conflict": conflict_id.strip().lower(),
                   **fact_dict(fact, path)})
    else:
        click.echo(f"resolved {fact.id} {path}")


COMMANDS = (conflicts_cmd, resolve_cmd)
