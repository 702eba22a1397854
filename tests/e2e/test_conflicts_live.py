"""A two-author contradiction, end to end: agents write, the running watcher opens a conflict
and writes its note within a second, a human resolves it by editing the note in Obsidian."""

from __future__ import annotations

import subprocess
import time

import pytest
from watch.support import (
    draft_text,
    properties_edit,
    save_seen,
    set_property,
    signed_elsewhere,
    tick_sign,
    wait_for,
    wait_quiet,
    watching,
    write_in_place,
    write_via_rename,
)

from stigmem_vault.api.vault import Vault
from stigmem_vault.canonical.signing import sign_claim
from stigmem_vault.model.fact import make_claim
from stigmem_vault.model.hlc import HLC
from stigmem_vault.model.values import make_value
from stigmem_vault.vault import frontmatter, markdown
from stigmem_vault.vault.layout import fact_relpath
from stigmem_vault.vault.notes import conflict_note_relpath
from stigmem_vault.vault.verify import verify_file


def git_head(vault: Vault) -> str:
    assert vault.git is not None
    return str(vault.git.repo.head.target)


def _props(text: str) -> dict[str, object]:
    return frontmatter.load(frontmatter.split(text)[0])


def _open_conflict(vault: Vault, seen) -> tuple[object, str, float]:
    """agent:codex drops an inbox draft, agent:claude writes a signed file: they disagree."""
    vault.create_identity("agent:claude")
    write_via_rename(vault.root / "inbox/agent-codex/state.md",
                     draft_text("review", entity="stigmem://acme/project/atlas",
                                relation="codex:current_state", source=None))
    wait_for(lambda: seen.kinds("signed"))
    _fact, rel, text = signed_elsewhere(vault, "agent:claude", "done",
                                        entity="stigmem://acme/project/atlas",
                                        relation="codex:current_state")
    started = time.monotonic()
    write_via_rename(vault.root / rel, text)
    [record] = wait_for(lambda: vault.conflicts("open"), timeout=1.0, what="the open conflict")
    note = conflict_note_relpath(record.id, record.entity, record.relation, record.scope)
    wait_for(lambda: (vault.root / note).exists(), timeout=1.0, what="the conflict note")
    return record, str(note), time.monotonic() - started


def _git(vault: Vault, *args: str) -> str:
    return subprocess.run(["git", "-C", str(vault.root), *args], capture_output=True, text=True,
                          check=True).stdout


@pytest.mark.parametrize("choice", ["winner", "value"])
def test_a_conflict_is_noted_within_a_second_and_resolved_by_ticking_sign_in_its_note(
        vault: Vault, choice: str) -> None:
    with watching(vault) as seen:
        record, note_rel, took = _open_conflict(vault, seen)
        assert took < 1.0
        note = vault.root / note_rel
        props = _props(note.read_text("utf-8"))
        assert (props["status"], props["conflict"]) == ("open", record.id)
        assert props["sign"] is False  # the checkbox a person ticks, unticked
        assert "tick `sign`" in note.read_text("utf-8")
        assert {props["fact_a"], props["fact_b"]} == {record.fact_a.fact.id, record.fact_b.fact.id}
        assert {record.fact_a.fact.source, record.fact_b.fact.source} == {"agent:codex", "agent:claude"}
        # Both stay queryable while the conflict is open.
        assert {i.fact.value.v for i in vault.query(relation="codex:current_state")} == {"review", "done"}
        wait_quiet(vault, seen, quiet=0.2)
        head = git_head(vault)

        # The person chooses; Obsidian saves in place every couple of seconds while they type.
        text = note.read_text("utf-8")
        if choice == "winner":
            saves = [set_property(text, "winner", '"b"')]
        else:
            saves = [set_property(text, "value", f'"{typed}"') for typed in ("sh", "ship", "shipped")]
        for saved in saves:
            save_seen(note, saved, seen, note_rel)
            assert note.read_text("utf-8") == saved  # the person's note is never rewritten
        # The Properties editor then rewrites the whole block its way (unquoted, reordered).
        saved = properties_edit(saves[-1], first=(choice, "status"))
        save_seen(note, saved, seen, note_rel)
        wait_quiet(vault, seen, quiet=0.2)
        assert note.read_text("utf-8") == saved
        assert seen.kinds("resolved") == [] and seen.kinds("rejected") == []
        assert [c.status for c in vault.conflicts()] == ["open"]
        assert {i.fact.value.v for i in vault.query(relation="codex:current_state")} == {"review", "done"}
        assert git_head(vault) == head  # nothing signed, nothing committed
        [pending] = [p for p in vault.pending() if p.kind == "resolution"]
        assert (pending.path, pending.conflict_id, pending.ticked) == (note_rel, record.id, False)
        # Said pending once, however many saves.
        assert [c.path for c in seen.kinds("pending")] == [note_rel]

        write_in_place(note, properties_edit(saved, changes={"sign": True}))
        [resolved] = wait_for(lambda: seen.kinds("resolved"), what="the resolution")
        wait_for(lambda: _props(note.read_text("utf-8"))["status"] == "resolved",
                 what="the note to show the resolution")
        wait_quiet(vault, seen)
    assert len(seen.kinds("resolved")) == 1

    expected = record.fact_b.fact.value.v if choice == "winner" else "shipped"
    resolution = vault.lookup(resolved.fact_id)
    fact = resolution.fact
    assert (fact.source, fact.value.v, fact.entity, fact.relation, fact.scope.value) == (
        "user:alice", expected, record.entity, record.relation, record.scope)
    assert set(fact.derived_from) == {record.fact_a.fact.id, record.fact_b.fact.id}
    assert resolution.status == "valid" and resolution.live
    assert verify_file(vault.root, resolution.path, vault.trust).ok  # a valid signed fact
    assert vault.trust.is_bound("user:alice", fact.signer)
    [after] = vault.conflicts()
    assert (after.id, after.status, after.resolution) == (record.id, "resolved", fact.id)
    assert [i.fact.value.v for i in vault.query(relation="codex:current_state")] == [expected]
    # Exactly one resolution: the only fact by the owner on the key.
    assert [i.fact.id for i in vault.query(relation="codex:current_state", source="user:alice",
                                           include_superseded=True)] == [fact.id]
    # The agents' facts are kept, intact and verifiable.
    for side in (record.fact_a, record.fact_b):
        assert verify_file(vault.root, side.path, vault.trust).ok
        assert vault.lookup(side.fact.id).superseded_by == fact.id
    final = _props(note.read_text("utf-8"))
    assert (final["status"], final["resolution"]) == ("resolved", fact.id)
    assert "sign" not in final
    assert [p for p in vault.pending() if p.kind == "resolution"] == []
    vault.flush()
    assert _git(vault, "status", "--porcelain") == ""


def test_a_bad_choice_shows_its_error_once_sign_is_ticked_and_unticks_it(vault: Vault) -> None:
    with watching(vault) as seen:
        _record, note_rel, _ = _open_conflict(vault, seen)
        wait_quiet(vault, seen, quiet=0.2)
        note = vault.root / note_rel
        bad = set_property(note.read_text("utf-8"), "winner", '"c"')
        save_seen(note, bad, seen, note_rel)
        wait_quiet(vault, seen, quiet=0.2)
        assert note.read_text("utf-8") == bad and seen.kinds("rejected") == []  # no error yet
        write_in_place(note, tick_sign(bad))
        [rejected] = wait_for(lambda: [c for c in seen.kinds("rejected") if c.path == note_rel])
        wait_quiet(vault, seen)
        assert "winner" in rejected.detail
        props = _props(note.read_text("utf-8"))
        assert props["sign"] is False and "winner" in str(props["stigmem_error"])
        assert "> [!error] stigmem could not sign this note" in note.read_text("utf-8")
        assert [c.status for c in vault.conflicts()] == ["open"]
        [pending] = [p for p in vault.pending() if p.kind == "resolution"]
        assert pending.error is not None and "winner" in pending.error
        # A correct choice, ticked, still resolves it.
        fixed = tick_sign(set_property(note.read_text("utf-8"), "winner", '"a"'))
        write_in_place(note, fixed)
        wait_for(lambda: seen.kinds("resolved"))
        wait_quiet(vault, seen)
    assert len(seen.kinds("resolved")) == 1
    assert [c.status for c in vault.conflicts()] == ["resolved"]
    assert "stigmem_error" not in _props(note.read_text("utf-8"))


def test_sign_ticked_without_a_choice_says_what_is_missing(vault: Vault) -> None:
    with watching(vault) as seen:
        _record, note_rel, _ = _open_conflict(vault, seen)
        wait_quiet(vault, seen, quiet=0.2)
        note = vault.root / note_rel
        write_in_place(note, tick_sign(note.read_text("utf-8")))
        [rejected] = wait_for(lambda: [c for c in seen.kinds("rejected") if c.path == note_rel])
        wait_quiet(vault, seen)
    assert "winner" in rejected.detail and seen.kinds("resolved") == []
    assert _props(note.read_text("utf-8"))["sign"] is False
    assert [c.status for c in vault.conflicts()] == ["open"]


def test_a_choice_made_while_nobody_watched_waits_for_sign_too(vault: Vault) -> None:
    with watching(vault) as seen:
        record, note_rel, _ = _open_conflict(vault, seen)
        wait_quiet(vault, seen)
    note = vault.root / note_rel
    write_in_place(note, set_property(note.read_text("utf-8"), "winner", "a"))
    vault.flush()
    head = git_head(vault)
    report = vault.refresh()  # what a writer's scan (`stigmem index`, a node starting) does
    assert [c.kind for c in report.changes] == ["pending"]
    assert [c.status for c in vault.conflicts()] == ["open"] and git_head(vault) == head
    assert [c.kind for c in vault.refresh().changes] == []  # said once
    write_in_place(note, tick_sign(note.read_text("utf-8")))
    report = vault.refresh()
    [resolved] = [c for c in report.changes if c.kind == "resolved"]
    assert vault.lookup(resolved.fact_id).fact.value == record.fact_a.fact.value


def test_a_pending_choice_is_not_overwritten_when_its_conflict_changes_but_stays_open(
        vault: Vault) -> None:
    """Another fact on the key re-renders its conflict notes; the one a person is choosing in
    is left as they typed it while its conflict stays open."""
    with watching(vault) as seen:
        record, note_rel, _ = _open_conflict(vault, seen)
        wait_quiet(vault, seen)
        note = vault.root / note_rel
        chosen = set_property(note.read_text("utf-8"), "value", "shipping")
        save_seen(note, chosen, seen, note_rel)
        vault.create_identity("agent:third")
        _, rel, text = signed_elsewhere(vault, "agent:third", "blocked",
                                        entity=record.entity, relation=record.relation)
        write_via_rename(vault.root / rel, text)  # a third author: another conflict on the key
        wait_for(lambda: len(vault.conflicts("open")) > 1, what="a second open conflict")
        wait_quiet(vault, seen)
    assert note.read_text("utf-8") == chosen
    assert seen.kinds("resolved") == []


def test_a_later_update_by_one_author_makes_the_conflict_obsolete_in_its_note(vault: Vault) -> None:
    with watching(vault) as seen:
        record, note_rel, _ = _open_conflict(vault, seen)
        wait_quiet(vault, seen, quiet=0.2)
        _, rel, text = signed_elsewhere(vault, "agent:claude", "review",
                                        entity=record.entity, relation=record.relation)
        write_via_rename(vault.root / rel, text)  # claude now agrees with codex
        wait_for(lambda: [c.status for c in vault.conflicts()] == ["obsolete"])
        wait_for(lambda: _props((vault.root / note_rel).read_text("utf-8"))["status"] == "obsolete")
        wait_quiet(vault, seen)
    assert {i.fact.source for i in vault.query(relation=record.relation)} == {"agent:codex", "agent:claude"}


def test_a_conflict_that_turns_out_never_to_have_been_is_withdrawn_with_its_note(
        vault: Vault) -> None:
    """Two agents disagree and the note is written; then an owner amendment stamped *before*
    the later fact arrives (its writer's clock lagged) and replaces it. The two were never live
    together (§13.3): the conflict goes, its note goes, and a reindex agrees and writes nothing."""
    vault.create_identity("agent:claude")

    def drop(source: str, value: str, wall_ms: int, supersedes: str | None = None) -> str:
        claim = make_claim(entity="user:bob", relation="memory:role",
                           value=make_value("string", value), source=source, scope="team",
                           supersedes=supersedes)
        fact = sign_claim(claim, HLC(wall_ms, 0, "elsewhere"), "2026-11-24T10:00:00.000Z",
                          vault.signing_key_for(source))
        path = vault.root / fact_relpath(fact)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(markdown.render(fact), encoding="utf-8")
        vault.refresh()
        return fact.id

    base = 1_764_000_000_000
    a = drop("agent:codex", "review", base + 1)
    b = drop("agent:claude", "done", base + 5)
    [first] = vault.conflicts("open")
    first_note = vault.root / conflict_note_relpath(first.id, "user:bob", "memory:role", "team")
    assert first_note.exists()
    amendment = drop("user:alice", "edited", base + 3, supersedes=b)
    [record] = vault.conflicts()
    assert {record.fact_a.fact.id, record.fact_b.fact.id} == {a, amendment}
    assert not first_note.exists()
    assert (vault.root / conflict_note_relpath(record.id, "user:bob", "memory:role",
                                               "team")).exists()
    vault.flush()
    head = git_head(vault)
    vault.reindex()
    vault.flush()
    assert [c.id for c in vault.conflicts()] == [record.id]
    assert git_head(vault) == head  # nothing for a reindex to write


def test_the_watcher_says_when_a_conflict_opens(vault: Vault) -> None:
    with watching(vault) as seen:
        record, note, _elapsed = _open_conflict(vault, seen)
        [line] = wait_for(lambda: seen.kinds("conflict"), what="a line for the opened conflict")
        wait_quiet(vault, seen)
    assert (line.path, line.fact_id) == (note, record.id)
    assert len(seen.kinds("conflict")) == 1
