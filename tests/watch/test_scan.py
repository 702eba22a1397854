"""The incremental stat scan, and catching up on what changed while no watcher ran."""

from __future__ import annotations

import os
from pathlib import Path

from stigmem_vault.api.vault import Vault
from stigmem_vault.vault.verify import verify_file

from .support import (
    draft_text,
    set_property,
    signed_elsewhere,
    tick_sign,
    write_in_place,
    write_via_rename,
)


def _reopen(vault: Vault, home: Path) -> Vault:
    vault.close()
    return Vault.open(vault.root, home=home, commit_delay=None)


def _seed(vault: Vault, n: int = 5) -> list:
    facts = [vault.assert_fact(entity=f"user:u{i}", relation="memory:role", value=f"r{i}")
             for i in range(n)]
    assert len(vault.query()) == n  # opens and fills the index
    return facts


def test_an_unchanged_vault_is_a_stat_scan(vault: Vault, home: Path) -> None:
    _seed(vault)
    vault = _reopen(vault, home)
    try:
        report = vault.refresh()
        assert (report.scanned, report.unchanged, report.indexed, report.removed) == (5, 5, 0, 0)
        assert vault.refresh().indexed == 0
    finally:
        vault.close()


def test_only_files_whose_stat_changed_are_read_again(vault: Vault, home: Path) -> None:
    facts = _seed(vault)
    path = vault.root / vault.path_of(facts[0])
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # touched, same bytes
    report = vault.refresh()
    # The touched file is read again (it held a signed fact, so as a possible edit: there is
    # none, the bytes are the same); the other four are only stat'ed.
    assert (report.scanned, report.unchanged) == (5, 4)
    assert report.problems == []
    again = vault.refresh()
    assert (again.scanned, again.unchanged, again.indexed) == (5, 5, 0)
    assert len(vault.query()) == 5


def test_a_new_file_and_a_removed_bad_file_are_found(vault: Vault) -> None:
    _seed(vault, 3)
    fact, rel, text = signed_elsewhere(vault, "agent:codex", "new")
    write_via_rename(vault.root / rel, text)
    bad = vault.root / "facts/local/junk/bad.md"
    write_via_rename(bad, b"\x00\x01")
    report = vault.refresh()
    assert (report.scanned, report.unchanged, report.indexed) == (5, 3, 2)
    assert [p for p, _, _ in report.problems] == ["facts/local/junk/bad.md"]
    bad.unlink()
    report = vault.refresh()
    assert (report.scanned, report.unchanged, report.removed) == (4, 4, 1)
    assert vault.index.file_statuses() == []
    assert fact.id in {i.fact.id for i in vault.query()}


def test_plain_notes_are_not_read_again_either(vault: Vault) -> None:
    _seed(vault, 2)
    write_in_place(vault.root / "Daily/2026-11-24.md", "---\ntags: [daily]\n---\nA plain note.\n")
    write_in_place(vault.root / "Scratch.md", "no properties\n")
    first = vault.refresh()
    assert first.scanned == 4
    second = vault.refresh()
    assert (second.scanned, second.unchanged) == (4, 4)


def test_a_rejected_draft_is_not_read_again_until_it_changes(vault: Vault) -> None:
    draft = vault.root / "notes/idea.md"
    write_in_place(draft, draft_text("x", source="user:nobody"))
    vault.refresh()
    annotated = draft.read_text("utf-8")
    assert "stigmem_error" in annotated
    report = vault.refresh()
    assert report.unchanged == report.scanned
    assert draft.read_text("utf-8") == annotated


# ------------------------------------------------------------------ catch-up on start


def test_gestures_made_while_nobody_watched_happen_on_the_next_open(vault: Vault, home: Path) -> None:
    keep = vault.assert_fact(entity="user:bob", relation="memory:role", value="engineer",
                             source="agent:codex")
    drop = vault.assert_fact(entity="user:bob", relation="memory:team", value="atlas",
                             source="agent:codex")
    assert len(vault.query()) == 2
    root = vault.root
    keep_rel, drop_rel = vault.path_of(keep), vault.path_of(drop)
    keep_bytes = (root / keep_rel).read_bytes()
    vault.close()

    # The vault is closed: a human works in Obsidian, an agent drops a draft.
    write_in_place(root / keep_rel,
                   tick_sign(set_property(keep_bytes.decode(), "value_string", '"manager"')))
    os.unlink(root / drop_rel)
    write_via_rename(root / "notes/new.md", draft_text("from a draft", entity="user:carol"))
    write_via_rename(root / "inbox/agent-codex/state.md",
                     draft_text("idle", entity="agent:codex", relation="codex:state", source=None))

    with Vault.open(root, home=home, commit_delay=None) as reopened:
        report = reopened.refresh()
        assert report.problems == []
        values = {(i.fact.entity, i.fact.relation): (i.fact.value.v, i.fact.source)
                  for i in reopened.query()}
        assert values == {("user:bob", "memory:role"): ("manager", "user:alice"),
                          ("user:carol", "memory:note"): ("from a draft", "user:alice"),
                          ("agent:codex", "codex:state"): ("idle", "agent:codex")}
        # Nothing was lost: both agent facts are still there, signed and verifiable.
        assert (root / keep_rel).read_bytes() == keep_bytes
        assert verify_file(root, drop_rel, reopened.trust).ok
        retraction = reopened.lookup(reopened.lookup(drop.id).superseded_by).fact
        assert (retraction.source, retraction.confidence) == ("user:alice", 0.0)
        assert not (root / "notes/new.md").exists()
        assert not (root / "inbox/agent-codex/state.md").exists()
        # The catch-up is done once: a second refresh finds nothing to do.
        again = reopened.refresh()
        assert again.indexed == 0 and again.unchanged == again.scanned
        reopened.flush()
        assert reopened.git.dirty_paths() == ([], [])


def test_catch_up_without_an_index_file_at_all(vault: Vault, home: Path) -> None:
    facts = _seed(vault, 3)
    root = vault.root
    vault.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{root}/.stigmem/index/index.sqlite3{suffix}").unlink(missing_ok=True)
    write_via_rename(root / "notes/new.md", draft_text("fresh"))
    with Vault.open(root, home=home, commit_delay=None) as reopened:
        live = {i.fact.id for i in reopened.query()}
        assert {f.id for f in facts} <= live and len(live) == 4
