"""What every command shares: the run state (--vault, --json), opening the vault, output.

Commands import from here, never from each other; ``main`` imports the commands.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from stigmem_vault.api.results import Change, FactView, IndexedFact
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
def open_vault(**options: Any) -> Iterator[Vault]:
    """The vault named by --vault, $STIGMEM_VAULT or the current directory; committed on exit.

    ``options`` go to ``Vault.open`` (a long-running command passes its own ``commit_delay``;
    a command that only reads passes ``read_only=True``: it never writes to the vault, takes
    its write lock, recovers another writer's files or carries out gestures).
    """
    path = state().vault or os.getcwd()
    one_shot = "commit_delay" not in options  # serve, watch, mcp run long and log instead
    # One process, one batch: no commit timer; close() commits what the command wrote.
    options.setdefault("commit_delay", None)
    with ExitStack() as stack:
        if one_shot:
            options.setdefault("progress", progress_hook(stack))
        with Vault.open(path, **options) as vault:
            yield vault


# Below this many files a progress bar would only flicker.
PROGRESS_MIN_FILES = 100


class Progress:
    """A click progress bar on stderr, opened on the first report once the total is known.

    Called as ``progress(done, total)``; the API's long operations take it as a callback.
    """

    def __init__(self, stack: ExitStack, label: str) -> None:
        self._stack = stack
        self._label = label
        self._bar: Any = None
        self._done = 0

    def __call__(self, done: int, total: int) -> None:
        if self._bar is None:
            if total < PROGRESS_MIN_FILES:
                return
            self._bar = click.progressbar(length=total, label=self._label, file=sys.stderr)
            self._bar.__enter__()
            self._stack.callback(self._finish)  # an interrupted run ends its line too
        self._bar.update(done - self._done)
        self._done = done
        if done >= total:  # end the line now, before the command prints its answer
            self._finish()

    def _finish(self) -> None:
        if self._bar is not None:
            bar, self._bar, self._done = self._bar, None, 0
            bar.__exit__(None, None, None)


class ProgressBars:
    """The API's progress hook (``what, done, total``): one bar per kind of work, on stderr."""

    def __init__(self, stack: ExitStack) -> None:
        self._stack = stack
        self._bars: dict[str, Progress] = {}

    def __call__(self, what: str, done: int, total: int) -> None:
        bar = self._bars.get(what)
        if bar is None:
            bar = self._bars[what] = Progress(self._stack, what)
        bar(done, total)


def progress_bar(stack: ExitStack, label: str) -> Progress | None:
    """A progress bar only when a person watches stderr (never in pipes, logs or tests)."""
    return Progress(stack, label) if sys.stderr.isatty() else None


def progress_hook(stack: ExitStack) -> ProgressBars | None:
    """The API's progress hook, only when a person watches stderr (as ``progress_bar``)."""
    return ProgressBars(stack) if sys.stderr.isatty() else None


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
        "garden_id": fact.garden_id,
        "hlc": fact.hlc,
        "timestamp": fact.timestamp,
        "signer": fact.signer,
        "signature": fact.signature,
        "extra": dict(fact.extra),
    }


def view_dict(view: FactView) -> dict[str, object]:
    return fact_dict(view.fact, view.path)


def item_dict(item: IndexedFact) -> dict[str, object]:
    """An indexed fact: the fact, where it lives, and what the index derived about it."""
    return {
        **fact_dict(item.fact, item.path or ""),
        "status": item.status,
        "present": item.present,
        "live": item.live,
        "superseded_by": item.superseded_by,
        "contradicted": item.contradicted,
        "expired": item.expired,
    }


def item_flags(item: IndexedFact) -> str:
    """Why an indexed fact is not simply live, as short words for a table cell."""
    flags = []
    if item.status != "valid":
        flags.append(item.status)
    if not item.present:
        flags.append("deleted")
    if item.contradicted:
        flags.append("contradicted")
    if item.superseded_by:
        flags.append("superseded")
    if item.fact.confidence == 0:
        flags.append("retraction")
    if item.expired:
        flags.append("expired")
    return ",".join(flags)


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


def change_dict(change: Change) -> dict[str, str | None]:
    return {"kind": change.kind, "path": change.path, "detail": change.detail,
            "fact_id": change.fact_id}


def change_line(change: Change, as_json: bool) -> str:
    """One line saying what a writer did (`stigmem watch`, the node's log, `index`)."""
    if as_json:
        return json.dumps(change_dict(change), ensure_ascii=False)
    line = f"{change.kind:<9} {change.path}"
    if change.fact_id:
        line += f" {change.fact_id[:12]}"
    return line + (f" ({change.detail})" if change.detail else "")
