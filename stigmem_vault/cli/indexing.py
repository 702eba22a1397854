"""Keeping the index in step with the files: index (incremental), reindex (from scratch), watch."""

from __future__ import annotations

import signal
import threading
from contextlib import ExitStack
from types import FrameType

import click

from stigmem_vault.api.results import Change, ScanReport
from stigmem_vault.api.vault import COMMIT_DELAY
from stigmem_vault.cli.common import (
    change_dict,
    change_line,
    echo_json,
    json_option,
    open_vault,
    progress_bar,
    state,
)

# How often the waiting main thread wakes up (signals are handled in between anyway).
_WAKE = 0.5


def _print_report(verb: str, report: ScanReport) -> None:
    if state().json:
        echo_json({
            "scanned": report.scanned, "unchanged": report.unchanged, "indexed": report.indexed,
            "removed": report.removed,
            "problems": [{"path": p, "status": s, "reason": r} for p, s, r in report.problems],
            "changes": [change_dict(c) for c in report.changes],
        })
        return
    click.echo(f"{verb}: scanned {report.scanned} note(s): {report.unchanged} unchanged, "
               f"{report.indexed} fact file(s) indexed, {report.removed} removed")
    for change in report.changes:  # the gestures it carried out, as `stigmem watch` says them
        click.echo(change_line(change, False))
    for path, status, reason in report.problems:
        click.echo(f"{path}: {status}: {reason}")
    if report.problems:
        click.echo(f"{len(report.problems)} file(s) with problems (every one: `stigmem status`)")


@click.command("index", short_help="Bring the index up to date (changed files only).")
@json_option
def index_cmd() -> None:
    """Bring the index up to date with the files (only changed files are read).

    Gestures made while nobody watched (edited or deleted facts, drafts, conflict notes) are
    carried out. Lists the problems found in the files it read; exits 0 even so.
    """
    with ExitStack() as stack, open_vault() as vault:
        report = vault.refresh(progress=progress_bar(stack, "indexing"))
    _print_report("index", report)


@click.command("reindex", short_help="Rebuild the index from every file.")
@json_option
def reindex_cmd() -> None:
    """Throw the index away and build it again from every file (the same answers as `index`)."""
    with ExitStack() as stack, open_vault() as vault:
        report = vault.reindex(progress=progress_bar(stack, "reindexing"))
    _print_report("reindex", report)


@click.command("watch", short_help="Watch the vault: index and sign changes until Ctrl-C.")
@json_option
def watch_cmd() -> None:
    """Watch the vault until Ctrl-C (SIGINT) or SIGTERM: index every change as it happens.

    Drafts and edits of signed facts are signed once their `sign` checkbox is ticked (pending
    until then; agents' inbox drafts on arrival), deletions become retractions, moved fact
    notes stay live, edited conflict notes resolutions; each change is printed as one line
    (one JSON object per line under --json). Writes are committed shortly after they happen and on exit.
    """
    stop = threading.Event()
    as_json = state().json  # read here: the callbacks run on the watcher's thread, outside click

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    def on_change(changes: list[Change]) -> None:
        for change in changes:
            click.echo(change_line(change, as_json))

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        # The default commit delay, not a command's single batch: the watcher runs for hours.
        with open_vault(commit_delay=COMMIT_DELAY) as vault:

            def on_error(exc: BaseException) -> None:
                vault.notify(f"watcher: {exc}")
                click.echo(f"error: watcher: {' '.join(str(exc).split())}", err=True)

            watcher = vault.watch(on_change=on_change, on_error=on_error)
            try:
                click.echo(f"watching {vault.root} (Ctrl-C to stop)", err=True)
                while not stop.wait(_WAKE):
                    pass
            finally:
                watcher.stop()
        click.echo("stopped; every change is committed", err=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


COMMANDS = (index_cmd, reindex_cmd, watch_cmd)
