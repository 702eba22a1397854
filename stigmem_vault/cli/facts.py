"""Fact commands: assert, get, amend, retract (listing is in query.py).

Options carry raw text to the API (scope, trust, type, identifiers, dates), so the model's
validation is the only place a rule lives and its message, naming the field, is what the user
sees. Only ``--value`` is pre-parsed, with the model's own ``parse_cli_value``.
"""

from __future__ import annotations

import os
from typing import TypedDict

import click

from stigmem_vault.cli.common import (
    confirm,
    echo_json,
    fact_dict,
    fields,
    json_option,
    open_vault,
    state,
    view_dict,
)
from stigmem_vault.model.values import parse_cli_value

DEFAULT_TYPE = "string"

_TYPE_HELP = "Value type: string, text, number, boolean, datetime, ref or null."
_SCOPE_HELP = "Replication scope: local, team, company or public."
_TRUST_HELP = "Trust class: observed, inferred, reported or stale-risk."


def _value(type_name: str, text: str | None) -> object:
    """The Python value for ``--value TEXT`` of type ``type_name`` (JSON for number/boolean/null)."""
    return None if text is None else parse_cli_value(type_name, text)


def _given(**options: object) -> dict[str, object]:
    """Only the options the user gave: defaults belong to the API."""
    return {key: value for key, value in options.items() if value is not None}


class _FactOptions(TypedDict, total=False):
    """The optional fields of ``assert`` the user gave: defaults belong to the API."""

    source: str
    confidence: float
    trust: str
    scope: str
    valid_until: str
    supersedes: str
    derived_from: list[str]


def _fact_options(source: str | None, confidence: float | None, trust: str | None,
                  scope: str | None, valid_until: str | None, supersedes: str | None,
                  derived_from: tuple[str, ...]) -> _FactOptions:
    options = _FactOptions()
    if source is not None:
        options["source"] = source
    if confidence is not None:
        options["confidence"] = confidence
    if trust is not None:
        options["trust"] = trust
    if scope is not None:
        options["scope"] = scope
    if valid_until is not None:
        options["valid_until"] = valid_until
    if supersedes is not None:
        options["supersedes"] = supersedes
    if derived_from:
        options["derived_from"] = list(derived_from)
    return options


@click.command("assert")
@click.option("--entity", metavar="ENTITY", required=True, help="What the fact is about, e.g. project:atlas.")
@click.option("--relation", metavar="RELATION", required=True, help="Namespaced predicate, e.g. codex:state.")
@click.option("--value", metavar="V",
              help="The value; read as JSON for number, boolean and null (omit it for null).")
@click.option("--type", "value_type", metavar="TYPE", default=DEFAULT_TYPE, show_default=True,
              help=_TYPE_HELP)
@click.option("--source", metavar="SOURCE",
              help="Who asserts it (agent:NAME, user:NAME); default: the vault owner.")
@click.option("--confidence", metavar="C", type=float, help="0.0-1.0 (default 1.0).")
@click.option("--trust", metavar="TRUST", help=_TRUST_HELP + " (default observed)")
@click.option("--scope", metavar="SCOPE", help=_SCOPE_HELP + " (default local)")
@click.option("--valid-until", metavar="ISO", help="Expiry, ISO 8601 (e.g. 2026-12-31T00:00:00Z).")
@click.option("--supersedes", metavar="ID", help="Full id of the fact this one replaces.")
@click.option("--derived-from", metavar="ID", multiple=True,
              help="Id of a fact this is derived from (repeatable).")
@click.option("--garden", metavar="GARDEN",
              help="Put it in this Memory Garden (slug or id); its source must be a writer there.")
@json_option
def assert_cmd(entity: str, relation: str, value: str | None, value_type: str, source: str | None,
               confidence: float | None, trust: str | None, scope: str | None,
               valid_until: str | None, supersedes: str | None, derived_from: tuple[str, ...],
               garden: str | None) -> None:
    """Sign and write a new fact; prints its id and file."""
    with open_vault() as vault:  # opened first: an unusable vault is reported before bad input
        fact = vault.assert_fact(
            entity=entity, relation=relation, value=_value(value_type, value), value_type=value_type,
            garden=garden,
            **_fact_options(source, confidence, trust, scope, valid_until, supersedes, derived_from))
        confirm("asserted", fact, vault.path_of(fact))


@click.command("get")
@click.argument("fact_id", metavar="ID")
@json_option
def get_cmd(fact_id: str) -> None:
    """Show one fact by id or unambiguous prefix (8+ hex digits)."""
    with open_vault(read_only=True) as vault:
        view = vault.get(fact_id)
    if state().json:
        echo_json(view_dict(view))
        return
    data = fact_dict(view.fact, view.path)
    value = view.fact.value
    data["value"] = f"{value.display()} ({value.type.value})"
    data["derived_from"] = ", ".join(view.fact.derived_from) or None
    data["extra"] = ", ".join(f"{k}={v}" for k, v in view.fact.extra) or None
    click.echo(fields(list(data.items())))


@click.command("amend")
@click.argument("fact_id", metavar="ID")
@click.option("--value", metavar="V", help="New value; JSON for number, boolean and null.")
@click.option("--type", "value_type", metavar="TYPE", help=_TYPE_HELP + " Default: the amended fact's type.")
@click.option("--confidence", metavar="C", type=float, help="New confidence, 0.0-1.0.")
@click.option("--trust", metavar="TRUST", help=_TRUST_HELP)
@click.option("--scope", metavar="SCOPE", help=_SCOPE_HELP)
@click.option("--valid-until", metavar="ISO", help="New expiry, ISO 8601.")
@click.option("--source", metavar="SOURCE", help="Who amends it; default: the amended fact's source.")
@json_option
def amend_cmd(fact_id: str, value: str | None, value_type: str | None, confidence: float | None,
              trust: str | None, scope: str | None, valid_until: str | None,
              source: str | None) -> None:
    """Write a new fact that supersedes ID, with the given fields changed."""
    with open_vault() as vault:
        changes = _given(value_type=value_type, confidence=confidence, trust=trust, scope=scope,
                         valid_until=valid_until)
        if value is not None:
            # The text is read as the type it will have: the given one, else the old fact's.
            type_name = value_type or vault.get(fact_id).fact.value.type.value
            changes["value"] = _value(type_name, value)
        fact = vault.amend(fact_id, source=source, **changes)  # source=None: the old fact's
        confirm("amended", fact, vault.path_of(fact))


@click.command("retract")
@click.argument("fact_id", metavar="ID")
@click.option("--source", metavar="SOURCE", help="Who retracts it; default: the vault owner.")
@json_option
def retract_cmd(fact_id: str, source: str | None) -> None:
    """Retract ID: a new fact at confidence 0 that supersedes it."""
    with open_vault() as vault:
        fact = vault.retract(fact_id, source=source)
        confirm("retracted", fact, vault.path_of(fact))


@click.command("revert")
@click.argument("target", metavar="PATH|ID")
@json_option
def revert_cmd(target: str) -> None:
    """Throw away a pending edit of a signed fact (not yet signed with its `sign` checkbox):
    the fact file at PATH (or of fact ID) gets its signed bytes back."""
    with open_vault() as vault:
        root = str(vault.root)
        given = os.path.realpath(target)  # a path from here (absolute or relative), if it is one
        if os.path.lexists(given) and given.startswith(root + os.sep):
            target = os.path.relpath(given, root).replace(os.sep, "/")
        rel = vault.revert(target)
    if state().json:
        echo_json({"reverted": rel})
    else:
        click.echo(f"reverted {rel} to its signed original")


COMMANDS = (assert_cmd, get_cmd, amend_cmd, retract_cmd, revert_cmd)
