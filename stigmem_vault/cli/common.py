"""What every command shares: the run state (--vault, --json), opening the vault, output.

Commands import from here, never from each other; ``main`` imports the commands.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from stigmem_vault.api.results import FactView
from stigmem_vault.api.vault import Vault
from stigmem_vault.model.fact import Fact

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class State:
    """Options of the whole run, set by the group and by per-command ``--json`` flags."""

    vault: str | None = None
    json: bool = False


def state() -> State:
    return click.get_current_context().ensure_object(State)


def _set_json(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.ensure_object(State).json = True


def json_option(func: F) -> F:
    """``--json`` on a command: the same switch as the global ``stigmem --json``."""
    return click.option("--json", is_flag=True, expose_value=False, callback=_set_json,
                        help="Print machine-readable JSON on stdout.")(func)


@contextmanager
def open_vault() -> Iterator[Vault]:
    """The vault named by --vault, $STIGMEM_VAULT or the current directory; committed on exit."""
    path = state().vault or os.getcwd()
    # One process, one batch: no commit timer; close() commits what the command wrote.
    with Vault.open(path, commit_delay=None) as vault:
        yield vault


# ----------------------------------------------------------------- output


def echo_json(data: object) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def fact_dict(fact: Fact, path: str) -> dict[str, object]:
    return {
        "id": fact.id,
        "path": path,
        "entity": fact.entity,
        "relation": fact.relation,
        "value": {"type": fact.value.type.value, "v": fact.value.v},
        "source": fact.source,
        "confidence": fact.confidence,
        "trust": fact.trust.value,
        "scope": fact.scope.value,
        "valid_until": fact.valid_until,
        "supersedes": fact.supersedes,
        "derived_from": list(fact.derived_from),
        "hlc": fact.hlc,
        "timestamp": fact.timestamp,
        "signer": fact.signer,
        "signature": fact.signature,
        "extra": dict(fact.extra),
    }


def view_dict(view: FactView) -> dict[str, object]:
    return fact_dict(view.fact, view.path)


def one_line(text: str, width: int | None = None) -> str:
    """A table cell: newlines made visible, long text cut with an ellipsis."""
    flat = text.replace("\r", "").replace("\n", "⏎")
    if width is not None and len(flat) > width:
        return flat[: width - 1] + "…"
    return flat


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns, two spaces apart; the last column is not padded."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    lines = []
    for row in (headers, *rows):
        cells = [str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def fields(rows: Sequence[tuple[str, object]]) -> str:
    """``name  value`` lines with the values aligned; rows whose value is None are left out."""
    shown = [(name, one_line(str(value))) for name, value in rows if value is not None]
    width = max((len(name) for name, _ in shown), default=0)
    return "\n".join(f"{name.ljust(width)}  {value}".rstrip() for name, value in shown)


def confirm(verb: str, fact: Fact, path: str) -> None:
    """The one-line confirmation of a write (or its JSON form)."""
    if state().json:
        echo_json({"action": verb, **fact_dict(fact, path)})
    else:
        click.echo(f"{verb} {fact.id} {path}")
