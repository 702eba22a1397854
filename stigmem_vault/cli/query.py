"""Reading commands over the index: query (and its alias list), recall, provenance.

``query`` answers with live facts by default; ``list`` is the same command with the older
default of showing every verified fact (superseded and expired too) unless ``--live``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from stigmem_vault.api.results import IndexedFact, Recalled
from stigmem_vault.cli.common import (
    echo_json,
    fields,
    item_dict,
    item_flags,
    json_option,
    one_line,
    open_vault,
    state,
    table,
)

F = TypeVar("F", bound=Callable[..., Any])

_SCOPE_HELP = "Only this scope: local, team, company or public (repeatable)."
_TRUST_HELP = "Only this trust class: observed, inferred, reported or stale-risk (repeatable)."
_TYPE_HELP = "Only this value type: string, text, number, boolean, datetime, ref or null."


def _filter_options(func: F) -> F:
    """The filters ``query`` and ``list`` share (raw text: the API normalizes and checks it)."""
    options = [
        click.option("--entity", metavar="ENTITY", help="Only facts about this entity."),
        click.option("--relation", metavar="RELATION", help="Only this relation."),
        click.option("--source", metavar="SOURCE", help="Only facts asserted by this source."),
        click.option("--scope", "scopes", metavar="SCOPE", multiple=True, help=_SCOPE_HELP),
        click.option("--trust", "trusts", metavar="TRUST", multiple=True, help=_TRUST_HELP),
        click.option("--type", "value_type", metavar="TYPE", help=_TYPE_HELP),
        click.option("--signer", metavar="KEY", help="Only facts signed by this key id (ed25519:...)."),
        click.option("--min-confidence", metavar="C", type=float,
                     help="Only facts with at least this confidence (0.0-1.0)."),
        click.option("--supersedes", metavar="ID", help="Only facts that supersede this fact id."),
        click.option("--include-superseded", is_flag=True,
                     help="Also facts replaced by a later fact, and retractions."),
        click.option("--include-expired", is_flag=True, help="Also facts past their valid_until."),
        click.option("--exclude-contradicted", is_flag=True,
                     help="Leave out facts in an open conflict (shown, flagged, by default)."),
        click.option("--include-unverified", is_flag=True,
                     help="Also facts whose file does not verify (unattested, forged, ...)."),
        click.option("--as-of", metavar="WHEN",
                     help="The vault as it stood at WHEN, an HLC stamp or an ISO 8601 time "
                          "(2026-05-01T12:00:00Z): facts written up to then and live then "
                          "(FLAGS still describe them now)."),
        click.option("--limit", metavar="N", type=click.IntRange(min=1),
                     help="At most N facts (oldest first)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _query(scopes: tuple[str, ...], trusts: tuple[str, ...],
           exclude_contradicted: bool, **filters: Any) -> None:
    with open_vault(read_only=True) as vault:
        items = vault.query(scope=list(scopes) or None, trust=list(trusts) or None,
                            include_contradicted=not exclude_contradicted, **filters)
    if state().json:
        echo_json([item_dict(item) for item in items])
    elif not items:
        click.echo("no matching facts")
    else:
        click.echo(table(("ID", "ENTITY", "RELATION", "VALUE", "SOURCE", "CONF", "TRUST", "SCOPE",
                          "FLAGS"), [_row(item) for item in items]))


def _row(item: IndexedFact) -> tuple[str, ...]:
    fact = item.fact
    return (fact.id[:12], one_line(fact.entity, 32), fact.relation,
            one_line(fact.value.display(), 40), fact.source, f"{fact.confidence:g}",
            fact.trust.value, fact.scope.value, item_flags(item))


@click.command("query", short_help="List live facts matching filters (from the index).")
@_filter_options
@json_option
def query_cmd(**options: Any) -> None:
    """List live facts matching every given filter, oldest first (HLC order).

    Live means not superseded, not retracted and not expired; facts in an open conflict are
    live and flagged "contradicted". The FLAGS column says why a shown fact is not plainly live.
    """
    _query(**options)


@click.command("list", short_help="List facts, superseded and expired too unless --live.")
@_filter_options
@click.option("--live", is_flag=True, help="Only live facts (leave out superseded and expired ones).")
@json_option
def list_cmd(live: bool, include_superseded: bool, include_expired: bool, **options: Any) -> None:
    """List verified facts matching every given filter, oldest first (HLC order).

    Unlike `query`, superseded and expired facts are shown too unless --live is given.
    """
    _query(include_superseded=include_superseded or not live,
           include_expired=include_expired or not live, **options)


# ----------------------------------------------------------------- recall


def _recalled_dict(rank: int, found: Recalled) -> dict[str, object]:
    return {"rank": rank, "score": found.score, "breakdown": dict(found.breakdown),
            **item_dict(found.item)}


def _recall_row(rank: int, found: Recalled) -> tuple[str, ...]:
    b = found.breakdown
    fact = found.item.fact
    return (str(rank), f"{found.score:.3f}", f"{b.get('lexical', 0):.3f}",
            f"{b.get('recency', 0):.3f}", f"{b.get('trust', 0):.2f}", f"{b.get('confidence', 0):g}",
            f"{b.get('contradicted_factor', 1):g}", fact.id[:12], one_line(fact.entity, 32),
            fact.relation, one_line(fact.value.display(), 40))


@click.command("recall", short_help="Ranked recall of facts matching TEXT, with scores.")
@click.argument("text")
@click.option("--limit", metavar="N", type=click.IntRange(min=1), default=10, show_default=True,
              help="At most N results.")
@click.option("--scope", "scopes", metavar="SCOPE", multiple=True, help=_SCOPE_HELP)
@click.option("--trust", "trusts", metavar="TRUST", multiple=True, help=_TRUST_HELP)
@click.option("--min-confidence", metavar="C", type=float,
              help="Only facts with at least this confidence (0.0-1.0).")
@click.option("--exclude-contradicted", is_flag=True,
              help="Leave out facts in an open conflict (by default they rank lower).")
@click.option("--as-of", metavar="WHEN",
              help="Recall the vault as it stood at WHEN, an HLC stamp or an ISO 8601 time "
                   "(not in the future): facts live then, aged from then.")
@click.option("--depth", type=click.IntRange(1, 3), default=2, show_default=True,
              help="Also facts of entities up to this many ref hops from the matches.")
@click.option("--no-neighbors", is_flag=True, help="Only facts the text matches.")
@json_option
def recall_cmd(text: str, limit: int, scopes: tuple[str, ...], trusts: tuple[str, ...],
               min_confidence: float | None, exclude_contradicted: bool, as_of: str | None,
               depth: int, no_neighbors: bool) -> None:
    """Ranked recall of live facts matching TEXT, best first, with each score's breakdown.

    score = (lexical BM25 blended with recency and trust class) x confidence x contradicted
    factor; the columns show every part.
    """
    with open_vault(read_only=True) as vault:
        found = vault.recall(text, limit=limit, scope=list(scopes) or None,
                             trust=list(trusts) or None, min_confidence=min_confidence,
                             include_contradicted=not exclude_contradicted, as_of=as_of,
                             depth=depth, include_neighbors=not no_neighbors)
    if state().json:
        echo_json([_recalled_dict(rank, r) for rank, r in enumerate(found, 1)])
    elif not found:
        click.echo("nothing recalled")
    else:
        click.echo(table(("#", "SCORE", "LEXICAL", "RECENCY", "TRUST", "CONF", "CONTRA", "ID",
                          "ENTITY", "RELATION", "VALUE"),
                         [_recall_row(rank, r) for rank, r in enumerate(found, 1)]))


# ----------------------------------------------------------------- provenance


def _short(item: IndexedFact) -> str:
    fact = item.fact
    flags = item_flags(item)
    return (f"{fact.id[:12]}  {fact.hlc}  {fact.source}  "
            f"{one_line(fact.value.display(), 40)}" + (f"  [{flags}]" if flags else ""))


def _section(title: str, lines: list[str]) -> None:
    click.echo(f"{title}:")
    for line in lines or ["none"]:
        click.echo(f"  {line}")


@click.command("provenance", short_help="Signer, verdict, supersedes chain, derivations, commits.")
@click.argument("fact_id", metavar="ID")
@json_option
def provenance_cmd(fact_id: str) -> None:
    """Where fact ID comes from: signer, file verdict, supersedes chain, derivations, commits."""
    with open_vault(read_only=True) as vault:
        prov = vault.provenance(fact_id)
    item, fact = prov.item, prov.item.fact
    if state().json:
        echo_json({
            "fact": item_dict(item),
            "signer": {"key": fact.signer, "sources": prov.signer_sources},
            "file": {"path": item.path, "status": prov.file_status, "reason": prov.file_reason},
            "replaced": [item_dict(i) for i in prov.replaced],
            "replaced_by": [item_dict(i) for i in prov.replaced_by],
            "derived_from": [{"id": parent, "exists": found is not None,
                              "fact": item_dict(found) if found else None}
                             for parent, found in prov.derived_from],
            "derived_by": prov.derived_by,
            "commits": [{"commit": oid, "message": message} for oid, message in prov.commits],
        })
        return
    flags = item_flags(item)
    file_state = (f"{prov.file_status}: {prov.file_reason}" if prov.file_status
                  else "not indexed")
    click.echo(fields([
        ("fact", fact.id),
        ("entity", fact.entity),
        ("relation", fact.relation),
        ("value", f"{fact.value.display()} ({fact.value.type.value})"),
        ("source", fact.source),
        ("hlc", fact.hlc),
        ("signer", f"{fact.signer} (bound to {', '.join(prov.signer_sources) or 'no source'})"),
        ("file", f"{item.path or 'none'} ({file_state})"),
        ("state", "live" + (f" ({flags})" if flags else "") if item.live
         else f"not live ({flags or 'no longer present'})"),
    ]))
    _section("replaces (its supersedes chain, newest first)", [_short(i) for i in prov.replaced])
    _section("replaced by (oldest first)", [_short(i) for i in prov.replaced_by])
    _section("derived from", [
        f"{parent}  " + (_short(found).split("  ", 1)[1] if found else "(not in this vault)")
        for parent, found in prov.derived_from])
    _section("derived by", prov.derived_by)
    _section("git commits (newest first)", [f"{oid[:12]}  {msg}" for oid, msg in prov.commits])


COMMANDS = (query_cmd, list_cmd, recall_cmd, provenance_cmd)
