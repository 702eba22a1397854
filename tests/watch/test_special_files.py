"""Files that are not regular files (FIFOs, sockets) and loose notes that cannot be read.

A FIFO or socket named ``*.md`` is never opened: it gets a status naming what it is, and the
watcher goes on with later edits (issue 9, item 3). A loose note that is binary, too large or a
symlink gets a status with its reason, as a bad draft or fact file does (item 11).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fifos import make_fifo, release, within_deadline

from stigmem_vault.api.vault import Vault

from .support import draft_text, wait_for, wait_quiet, watching, write_via_rename
from .test_bad_files import BAD

SPECIAL = ("facts/team/junk/special.md", "inbox/agent-codex/special.md", "special.md",
           "conflicts/team/special.md", "notes/special.md")


@pytest.fixture
def sockets() -> Iterator[list[socket.socket]]:
    """Unix sockets bound in the vault (the file exists while the socket is open)."""
    made: list[socket.socket] = []
    yield made
    for sock in made:
        sock.close()


def make_socket(path: Path, made: list[socket.socket]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    made.append(sock)


@pytest.fixture
def fifos(vault: Vault) -> Iterator[list[Path]]:
    """FIFOs a test made, released before the vault closes (see tests/fifos.py)."""
    made: list[Path] = []
    yield made
    release(made)


@pytest.mark.parametrize("kind", ["fifo", "socket"])
def test_the_watcher_reports_special_files_and_keeps_handling_edits(
        vault: Vault, fifos: list[Path], sockets: list[socket.socket], kind: str) -> None:
    paths = [vault.root / rel for rel in SPECIAL]
    with watching(vault) as seen:
        for path in paths:
            fifos.append(make_fifo(path)) if kind == "fifo" else make_socket(path, sockets)
        for rel in SPECIAL:
            wait_for(lambda rel=rel: vault.index.file_state(rel), what=f"a status for {rel}")
        # A draft written afterwards is still signed: the watcher was not stuck on them.
        write_via_rename(vault.root / "inbox/agent-codex/later.md",
                         draft_text("later", source="agent:codex"))
        wait_for(lambda: [f for f in vault.query() if f.fact.value.display() == "later"],
                 what="the later draft signed")
        wait_quiet(vault, seen)
    what = "a FIFO" if kind == "fifo" else "a socket"
    statuses = {path: (status, why) for path, status, why in vault.index.file_statuses()}
    assert sorted(statuses) == sorted(SPECIAL)
    assert statuses["facts/team/junk/special.md"][0] == "malformed"
    assert {statuses[rel][0] for rel in SPECIAL[1:]} == {"rejected"}
    for rel, (_status, why) in statuses.items():
        assert why.startswith(f"is not a regular file: {what}"), (rel, why)
    assert all(os.path.lexists(path) for path in paths)  # reported, not removed
    assert vault.git is not None
    assert not [rel for rel in SPECIAL if rel in vault.git.repo.index]


def test_a_scan_reports_fifos_without_opening_them(vault: Vault, fifos: list[Path]) -> None:
    """The stat scan (index, reindex, a rescan after a folder moved) as well as the watcher."""
    fifos.extend(make_fifo(vault.root / rel) for rel in SPECIAL)
    report = within_deadline(vault.reindex)
    problems = {path: (status, why) for path, status, why in report.problems}
    assert sorted(problems) == sorted(SPECIAL)
    assert all(why == "is not a regular file: a FIFO (named pipe); it is never opened"
               for _status, why in problems.values()), problems
    assert {path for path, _s, _w in vault.index.file_statuses()} == set(SPECIAL)


LOOSE_BAD = {kind: BAD[kind] for kind in ("binary", "50mb", "symlink-out")}


@pytest.mark.parametrize("kind", sorted(LOOSE_BAD))
@pytest.mark.parametrize("rel", ["loose.md", "notes/loose.md"])
def test_a_loose_note_that_cannot_be_read_gets_a_status(vault: Vault, kind: str, rel: str) -> None:
    make, reason = LOOSE_BAD[kind]
    with watching(vault) as seen:
        make(vault.root / rel)
        wait_for(lambda: vault.index.file_state(rel) not in (None, ("note", "")),
                 what=f"a status for {rel}")
        wait_quiet(vault, seen)
    statuses = {path: (status, why) for path, status, why in vault.index.file_statuses()}
    status, why = statuses[rel]
    assert status == "rejected"
    assert reason in why, why
    assert os.path.lexists(vault.root / rel)


@pytest.mark.parametrize("kind", sorted(LOOSE_BAD))
def test_a_scan_gives_a_loose_note_that_cannot_be_read_a_status(vault: Vault, kind: str) -> None:
    make, reason = LOOSE_BAD[kind]
    make(vault.root / "loose.md")
    report = vault.reindex()
    [(_path, status, why)] = [p for p in report.problems if p[0] == "loose.md"]
    assert status == "rejected" and reason in why, why
    assert ("loose.md", status, why) in vault.index.file_statuses()


def test_a_readable_loose_note_is_no_problem(vault: Vault) -> None:
    write_via_rename(vault.root / "loose.md", "# Just a note\n\nnot a draft\n")
    report = vault.reindex()
    assert report.problems == []
    assert vault.index.file_state("loose.md") == ("note", "")
