"""The running watcher: no loops on its own writes, timed commits, config changes, resilience."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from stigmem_vault.api import index_keeper
from stigmem_vault.api.index_keeper import IndexKeeper
from stigmem_vault.api.results import Change
from stigmem_vault.api.vault import Vault

from .support import (
    Recorder,
    draft_text,
    listing,
    set_property,
    tick_sign,
    wait_for,
    wait_quiet,
    watching,
    write_in_place,
    write_via_rename,
)


def _head(vault: Vault) -> str:
    return str(vault.git.repo.head.target)


def test_the_watcher_does_not_react_to_its_own_writes(vault: Vault) -> None:
    with watching(vault) as seen:
        write_via_rename(vault.root / "notes/a.md", draft_text("one"))
        [signed] = wait_for(lambda: seen.kinds("signed"))
        rel = signed.path
        write_in_place(vault.root / rel, tick_sign(
            set_property((vault.root / rel).read_text("utf-8"), "value_string", '"two"')))
        wait_for(lambda: seen.kinds("amended"))
        wait_quiet(vault, seen, quiet=0.5)
        settled = seen.count()
        files = listing(vault.root)
        wait_quiet(vault, seen, quiet=0.3)
        assert seen.count() == settled
        assert listing(vault.root) == files
    # Each gesture happened exactly once; the echoes of our own writes are only re-indexing.
    assert len(seen.kinds("signed")) == 1 and len(seen.kinds("amended")) == 1
    assert len(seen.kinds("restored")) == 1
    assert {c.kind for c in seen.changes} <= {"signed", "amended", "restored", "indexed"}
    assert [i.fact.value.v for i in vault.query()] == ["two"]
    assert len(vault.query(include_superseded=True)) == 2


def test_own_writes_the_process_no_longer_remembers_are_only_read_again(
        vault: Vault, monkeypatch: pytest.MonkeyPatch) -> None:
    # A node that lives for months remembers only its latest writes: one it forgot before
    # the watcher saw it (here, all but the last) must not be taken for another program's edit.
    monkeypatch.setattr(index_keeper, "OWN_WRITES_KEPT", 1)
    with watching(vault) as seen:
        written = [vault.assert_fact(entity=f"project:p{n}", relation="memory:role",
                                     value=f"role {n}").id for n in range(5)]
        vault.flush()  # entity notes rendered now, and committed
        wait_quiet(vault, seen, quiet=0.5)
        files, head = listing(vault.root), _head(vault)
        wait_quiet(vault, seen, quiet=0.3)
        assert listing(vault.root) == files and _head(vault) == head
    assert {c.kind for c in seen.changes} <= {"indexed"}
    assert sorted(i.fact.id for i in vault.query()) == sorted(written)
    assert len(vault._keeper._own_writes) <= 1


def test_timed_commits_settle_and_leave_a_clean_tree(home: Path, tmp_path: Path) -> None:
    vault = Vault.init(tmp_path / "timed", owner="user:alice", home=home, commit_delay=0.05)
    try:
        start = _head(vault)
        with watching(vault) as seen:
            write_via_rename(vault.root / "notes/a.md", draft_text("one"))
            write_via_rename(vault.root / "notes/b.md", draft_text("two", entity="user:bob"))
            wait_for(lambda: len(seen.kinds("signed")) == 2)
            wait_for(lambda: _head(vault) != start and vault.git.dirty_paths() == ([], []),
                     what="the timed commit")
            wait_quiet(vault, seen, quiet=0.4)
        assert vault.git.dirty_paths() == ([], [])
        assert {i.fact.value.v for i in vault.query()} == {"one", "two"}
    finally:
        vault.close()


def test_an_on_change_failure_is_reported_and_the_watcher_goes_on(vault: Vault) -> None:
    seen = Recorder()
    errors: list[BaseException] = []
    failed = threading.Event()

    def on_change(changes: list[Change]) -> None:
        if not failed.is_set():
            failed.set()
            raise RuntimeError("a consumer bug")
        seen.on_change(changes)

    watcher = vault.watch(on_change=on_change, on_error=errors.append)
    try:
        write_via_rename(vault.root / "notes/a.md", draft_text("one"))
        wait_for(failed.is_set)
        wait_for(lambda: errors)
        write_via_rename(vault.root / "notes/b.md", draft_text("two", entity="user:bob"))
        wait_for(lambda: seen.kinds("signed"))
    finally:
        watcher.stop()
    assert [str(e) for e in errors] == ["a consumer bug"]
    assert {i.fact.value.v for i in vault.query()} == {"one", "two"}


def test_a_schema_change_reindexes_under_the_new_rules(vault: Vault) -> None:
    vault.assert_fact(entity="user:bob", relation="project:tag", value="red")
    vault.assert_fact(entity="user:bob", relation="project:tag", value="blue", source="agent:codex")
    assert len(vault.conflicts("open")) == 1
    with watching(vault) as seen:
        write_via_rename(vault.root / ".stigmem/schemas/tag.yaml",
                         "relation: project:tag\ntype: string\ncardinality: multi\n")
        wait_for(lambda: seen.kinds("config"))
        wait_for(lambda: vault.conflicts("open") == [])
        wait_quiet(vault, seen)
    assert {i.fact.value.v for i in vault.query(relation="project:tag")} == {"red", "blue"}


def test_a_folder_created_with_notes_inside_is_seen(vault: Vault) -> None:
    with watching(vault) as seen:
        deep = vault.root / "a" / "b" / "c"
        os.makedirs(deep)
        for i in range(3):
            write_in_place(deep / f"n{i}.md", draft_text(f"deep {i}", entity=f"user:u{i}"))
        wait_for(lambda: len(seen.kinds("signed")) == 3)
        wait_quiet(vault, seen)
    assert {i.fact.value.v for i in vault.query()} == {"deep 0", "deep 1", "deep 2"}


def test_many_agents_writing_at_once_lose_nothing(vault: Vault) -> None:
    with watching(vault) as seen:
        def agent(n: int) -> None:
            for i in range(5):
                write_via_rename(vault.root / f"inbox/agent-codex/{n}-{i}.md",
                                 draft_text(f"{n}-{i}", entity=f"user:u{n}-{i}", source=None))

        threads = [threading.Thread(target=agent, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wait_for(lambda: len(seen.kinds("signed")) == 20, timeout=10)
        wait_quiet(vault, seen)
    assert len(vault.query(source="agent:codex")) == 20
    assert not any((vault.root / "inbox/agent-codex").iterdir())


def test_gestures_carried_out_by_a_config_rescan_are_reported(vault: Vault) -> None:
    with watching(vault) as seen:
        vault.create_identity("agent:claude")  # the trust store changes: a re-index with a scan
        write_via_rename(vault.root / "inbox/agent-claude/state.md",
                         draft_text("busy", entity="agent:claude", relation="codex:state", source=None))
        wait_for(lambda: seen.kinds("config"))
        [signed] = wait_for(lambda: seen.kinds("signed"))
        wait_quiet(vault, seen)
    assert vault.lookup(signed.fact_id).fact.source == "agent:claude"


def test_a_draft_saved_while_the_catch_up_scan_runs_is_signed_after_it(
        vault: Vault, monkeypatch: pytest.MonkeyPatch) -> None:
    """The watcher listens before the scan: a note saved after the scan looked at the folder
    but before the watcher started used to wait for the next scan (a node restart)."""
    original = IndexKeeper.catch_up

    def scan_then_save(self: IndexKeeper) -> list[Change]:
        done = original(self)
        write_via_rename(vault.root / "notes/during.md", draft_text("saved during the scan"))
        return done

    monkeypatch.setattr(IndexKeeper, "catch_up", scan_then_save)
    with watching(vault) as seen:
        [signed] = wait_for(lambda: seen.kinds("signed"), what="the draft saved during the scan")
    assert signed.path.startswith("facts/")
