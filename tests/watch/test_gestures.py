"""Gestures through the running watcher: what a human does in Obsidian (or an agent on disk)
becomes new signed facts by the right identity, and nothing anyone typed or signed is lost."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from stigmem_vault.api.vault import Vault
from stigmem_vault.model.fact import make_claim
from stigmem_vault.model.values import make_value
from stigmem_vault.vault import frontmatter
from stigmem_vault.vault.verify import verify_file
from stigmem_vault.watch.gestures import ERROR_PROPERTY

from .support import (
    WRITERS,
    append,
    draft_text,
    listing,
    set_property,
    signed_elsewhere,
    tick_sign,
    wait_for,
    wait_quiet,
    watching,
    write_in_place,
    write_via_rename,
)

REPO = Path(__file__).resolve().parents[2]


def props_of(path: Path) -> dict[str, object]:
    yaml_text, _body, _ = frontmatter.split(path.read_text("utf-8"))
    return frontmatter.load(yaml_text)


def props_of_text(text: str) -> dict[str, object]:
    return frontmatter.load(frontmatter.split(text)[0])


def facts_on_disk(vault: Vault) -> set[str]:
    return set(vault.fact_paths())


def live(vault: Vault, **filters: object) -> list:
    return vault.query(**filters)


# ------------------------------------------------------------------ drafts from the template


@pytest.mark.parametrize("style", sorted(WRITERS))
def test_a_note_made_from_the_template_is_signed_by_the_owner_and_filed(vault: Vault, style: str) -> None:
    template = (REPO / "templates/fact.md").read_text("utf-8")
    text = tick_sign(set_property(template, "value_string", '"ship it"'))  # source empty: the owner
    with watching(vault) as seen:
        draft = vault.root / "Projects" / "Atlas" / "Untitled.md"  # a folder made just now
        WRITERS[style](draft, text)
        [signed] = wait_for(lambda: seen.kinds("signed"), what="the draft to be signed")
        wait_quiet(vault, seen)
    item = vault.lookup(signed.fact_id)
    assert (item.fact.source, item.fact.value.v, item.fact.entity) == (
        "user:alice", "ship it", "stigmem://acme/project/atlas")
    assert item.live and item.status == "valid"
    assert item.path == vault.path_of(item.fact) == signed.path  # its canonical path
    assert verify_file(vault.root, item.path, vault.trust).ok
    assert vault.trust.is_bound("user:alice", item.fact.signer)
    assert not draft.exists()  # the draft became the fact


def test_a_draft_at_the_vault_root_with_defaults_is_signed(vault: Vault) -> None:
    text = draft_text("rooted", source=None)  # no source: the owner
    with watching(vault) as seen:
        write_in_place(vault.root / "Untitled 1.md", text)
        wait_for(lambda: seen.kinds("signed"))
        wait_quiet(vault, seen)
    [item] = live(vault, relation="memory:note")
    assert (item.fact.source, item.fact.value.v, item.fact.confidence) == ("user:alice", "rooted", 1.0)


def test_an_invalid_draft_is_left_in_place_with_the_error_and_nothing_else_changes(vault: Vault) -> None:
    template = (REPO / "templates/fact.md").read_text("utf-8")
    text = tick_sign(set_property(set_property(template, "value_string", '"idea"'), "source",
                                  '"user:you"'))
    draft = vault.root / "notes" / "idea.md"
    with watching(vault) as seen:
        wait_quiet(vault, seen, quiet=0.1)
        before = listing(vault.root)
        write_via_rename(draft, text)
        [rejected] = wait_for(lambda: seen.kinds("rejected"))
        wait_quiet(vault, seen)
    assert rejected.path == "notes/idea.md"
    props = props_of(draft)
    assert str(props[ERROR_PROPERTY]).startswith("source: ")
    assert "user:you" in str(props[ERROR_PROPERTY])
    body = frontmatter.split(draft.read_text("utf-8"))[1]
    assert body.startswith("> [!error] stigmem")
    assert "**source**" in body.split("\n\n")[0]
    assert frontmatter.split(template)[1] in body  # what the template (or the human) wrote is kept
    for key in ("entity", "relation", "value_string", "scope", "source"):
        assert props[key] == props_of_text(text)[key]
    after = listing(vault.root)
    assert set(after) - set(before) == {"notes/idea.md"}
    assert {p: m for p, m in after.items() if p != "notes/idea.md"} == before
    assert vault.query(include_superseded=True, include_unverified=True) == []


def test_the_template_as_shipped_is_an_invalid_draft_naming_the_empty_value(vault: Vault) -> None:
    draft = vault.root / "Untitled.md"
    with watching(vault) as seen:
        shutil.copy(REPO / "templates/fact.md", draft)
        wait_for(lambda: seen.kinds("pending"), what="the untouched template to be pending")
        wait_quiet(vault, seen)
        assert seen.kinds("rejected") == [] and ERROR_PROPERTY not in props_of(draft)
        write_in_place(draft, tick_sign(draft.read_text("utf-8")))
        wait_for(lambda: seen.kinds("rejected"))
        wait_quiet(vault, seen)
    assert str(props_of(draft)[ERROR_PROPERTY]).startswith("value_string: is empty")
    assert props_of(draft)["sign"] is False  # unticked, to be ticked again once fixed
    assert facts_on_disk(vault) == set()


def test_fixing_an_invalid_draft_signs_it(vault: Vault) -> None:
    draft = vault.root / "notes" / "idea.md"
    with watching(vault) as seen:
        write_in_place(draft, draft_text("v1", extra="confidence_typo: 1", source="user:nobody"))
        wait_for(lambda: seen.kinds("rejected"))
        wait_quiet(vault, seen)
        fixed = tick_sign(draft.read_text("utf-8").replace('source: "user:nobody"',
                                                           'source: "user:alice"'))
        write_in_place(draft, fixed)
        [signed] = wait_for(lambda: seen.kinds("signed"))
        wait_quiet(vault, seen)
    fact = vault.lookup(signed.fact_id).fact
    assert (fact.source, fact.value.v) == ("user:alice", "v1")
    assert ERROR_PROPERTY not in dict(fact.extra)


@pytest.mark.parametrize(("field", "line", "needle"), [
    ("confidence", "confidence: 7", "confidence"),
    ("scope", 'scope: "galaxy"', "scope"),
    ("value_type", 'value_type: "color"', "value"),
])
def test_each_invalid_field_is_named(vault: Vault, field: str, line: str, needle: str) -> None:
    text = draft_text("x").replace({"confidence": "confidence: 1", "scope": 'scope: "local"',
                                    "value_type": 'value_type: "string"'}[field], line)
    draft = vault.root / "drafts" / f"{field}.md"
    with watching(vault) as seen:
        write_in_place(draft, text)
        wait_for(lambda: seen.kinds("rejected"))
        wait_quiet(vault, seen)
    assert needle in str(props_of(draft)[ERROR_PROPERTY]).split(":")[0]
    assert facts_on_disk(vault) == set()


def test_a_plain_note_is_left_alone(vault: Vault) -> None:
    with watching(vault) as seen:
        note = vault.root / "Daily" / "2026-11-24.md"
        write_in_place(note, "---\ntags: [daily]\n---\nMet Bob about [[atlas]].\n")
        append(note, "More thoughts.\n")
        write_in_place(vault.root / "Scratch.md", "no frontmatter at all\n")
        wait_quiet(vault, seen)
    assert note.read_text("utf-8").endswith("More thoughts.\n")
    assert seen.kinds("signed") == [] and seen.kinds("rejected") == []
    assert facts_on_disk(vault) == set()


# ------------------------------------------------------------------ inbox drafts


def test_an_inbox_draft_is_signed_with_that_principals_key(vault: Vault) -> None:
    with watching(vault) as seen:
        write_via_rename(vault.root / "inbox/agent-codex/state.md",
                         draft_text("busy", entity="agent:codex", relation="codex:state", source=None))
        [signed] = wait_for(lambda: seen.kinds("signed"))
        wait_quiet(vault, seen)
    item = vault.lookup(signed.fact_id)
    assert item.fact.source == "agent:codex"
    assert vault.trust.is_bound("agent:codex", item.fact.signer)
    assert not vault.trust.is_bound("user:alice", item.fact.signer)
    assert not (vault.root / "inbox/agent-codex/state.md").exists()


def test_an_inbox_draft_cannot_speak_for_someone_else(vault: Vault) -> None:
    draft = vault.root / "inbox/agent-codex/state.md"
    with watching(vault) as seen:
        write_via_rename(draft, draft_text("busy", source="user:alice"))
        wait_for(lambda: seen.kinds("rejected"))
        wait_quiet(vault, seen)
    assert str(props_of(draft)[ERROR_PROPERTY]).startswith("source:")
    assert facts_on_disk(vault) == set()


def test_an_inbox_draft_whose_key_this_node_lacks_gets_an_error(vault: Vault, home: Path) -> None:
    identity = vault.create_identity("agent:remote")
    vault.keys.path_for(identity.key).unlink()  # the key lives on another machine
    draft = vault.root / "inbox/agent-remote/state.md"
    with watching(vault) as seen:
        write_via_rename(draft, draft_text("busy", source=None))
        wait_for(lambda: seen.kinds("rejected"))
        wait_quiet(vault, seen)
    error = str(props_of(draft)[ERROR_PROPERTY])
    assert error.startswith("source:") and "not held" in error
    assert facts_on_disk(vault) == set()


def test_an_inbox_draft_for_an_unknown_principal_gets_an_error(vault: Vault) -> None:
    draft = vault.root / "inbox/agent-nobody/state.md"
    with watching(vault) as seen:
        write_via_rename(draft, draft_text("busy", source=None))
        wait_for(lambda: seen.kinds("rejected"))
        wait_quiet(vault, seen)
    assert "agent-nobody" in str(props_of(draft)[ERROR_PROPERTY])
    assert "> [!error]" in draft.read_text("utf-8")
    assert facts_on_disk(vault) == set()


# ------------------------------------------------------------------ amending a signed fact


def test_editing_another_authors_fact_makes_an_owner_fact_that_supersedes_it(vault: Vault) -> None:
    original = vault.assert_fact(entity="user:bob", relation="memory:role", value="engineer",
                                 source="agent:codex")
    rel = vault.path_of(original)
    signed_bytes = (vault.root / rel).read_bytes()
    with watching(vault) as seen:
        edited = set_property(signed_bytes.decode(), "value_string", '"manager"')
        write_in_place(vault.root / rel, edited)  # Obsidian's property editor saves in place
        wait_for(lambda: seen.kinds("pending"), what="the edit to be pending")
        write_in_place(vault.root / rel, tick_sign(edited))
        [amended] = wait_for(lambda: seen.kinds("amended"))
        wait_quiet(vault, seen)
    new = vault.lookup(amended.fact_id)
    assert (new.fact.source, new.fact.value.v, new.fact.supersedes) == ("user:alice", "manager", original.id)
    assert new.live
    # The agent's fact is intact, byte for byte, and still verifies.
    assert (vault.root / rel).read_bytes() == signed_bytes
    assert verify_file(vault.root, rel, vault.trust).ok
    old = vault.lookup(original.id)
    assert (old.live, old.superseded_by, old.fact.source) == (False, new.fact.id, "agent:codex")
    assert [i.fact.value.v for i in vault.query(entity="user:bob")] == ["manager"]


@pytest.mark.parametrize("style", sorted(WRITERS))
def test_editing_the_owners_own_fact_amends_it(vault: Vault, style: str) -> None:
    original = vault.assert_fact(entity="user:bob", relation="memory:role", value="engineer")
    rel = vault.path_of(original)
    with watching(vault) as seen:
        WRITERS[style](vault.root / rel, tick_sign(set_property(
            (vault.root / rel).read_text("utf-8"), "confidence", "0.5")))
        [amended] = wait_for(lambda: seen.kinds("amended"))
        wait_quiet(vault, seen)
    [item] = vault.query(entity="user:bob")
    assert item.fact.id == amended.fact_id
    assert (item.fact.confidence, item.fact.value.v, item.fact.supersedes) == (0.5, "engineer", original.id)


def test_an_in_place_save_seen_between_truncate_and_write_loses_nothing(vault: Vault) -> None:
    original = vault.assert_fact(entity="user:bob", relation="memory:role", value="engineer",
                                 source="agent:codex")
    rel = vault.path_of(original)
    signed_bytes = (vault.root / rel).read_bytes()
    edited = tick_sign(set_property(signed_bytes.decode(), "value_string", '"manager"'))
    with watching(vault) as seen:
        fd = os.open(vault.root / rel, os.O_WRONLY | os.O_TRUNC)  # the editor truncated...
        try:
            # ...and the watcher looks at the empty file before the write: a later event in
            # the same or a later batch proves it has.
            write_via_rename(vault.root / "notes/marker.md", draft_text("marker", entity="user:m"))
            wait_for(lambda: seen.kinds("signed"), what="the marker draft")
            os.write(fd, edited.encode("utf-8"))  # ...then the write lands
        finally:
            os.close(fd)
        [amended] = wait_for(lambda: seen.kinds("amended"), what="the edit to be signed")
        wait_quiet(vault, seen)
    assert vault.lookup(amended.fact_id).fact.value.v == "manager"
    assert (vault.root / rel).read_bytes() == signed_bytes
    assert seen.kinds("rejected") == []
    assert not (vault.root / "inbox").exists()  # nothing parked


def test_an_edit_that_cannot_be_signed_is_parked_and_the_original_kept(vault: Vault) -> None:
    original = vault.assert_fact(entity="user:bob", relation="memory:role", value="engineer",
                                 source="agent:codex")
    rel = vault.path_of(original)
    signed_bytes = (vault.root / rel).read_bytes()
    with watching(vault) as seen:
        write_in_place(vault.root / rel,
                       tick_sign(set_property(signed_bytes.decode(), "confidence", "7")))
        [rejected] = wait_for(lambda: seen.kinds("rejected"))
        wait_quiet(vault, seen)
    assert (vault.root / rel).read_bytes() == signed_bytes
    parked = vault.root / rejected.path
    assert rejected.path.startswith("inbox/user-alice/")
    props = props_of(parked)
    assert props["confidence"] == 7  # what the human typed is kept
    assert str(props[ERROR_PROPERTY]).startswith("confidence")
    assert props["sign"] is False  # unticked: fix it, then tick it again
    assert [i.fact.id for i in vault.query(entity="user:bob")] == [original.id]


def test_appending_to_a_fact_body_keeps_the_fact_and_the_text(vault: Vault) -> None:
    original = vault.assert_fact(entity="user:bob", relation="memory:role", value="engineer")
    rel = vault.path_of(original)
    with watching(vault) as seen:
        append(vault.root / rel, "\nA note typed under the fact.\n")
        wait_for(lambda: seen.kinds("indexed"))
        wait_quiet(vault, seen)
    assert seen.kinds("amended") == [] and seen.kinds("restored") == []
    assert [i.fact.id for i in vault.query()] == [original.id]
    assert verify_file(vault.root, rel, vault.trust).ok  # the body is not signed
    assert (vault.root / rel).read_text("utf-8").endswith("A note typed under the fact.\n")


def test_adding_tags_to_a_fact_keeps_the_fact_and_the_tags(vault: Vault) -> None:
    original = vault.assert_fact(entity="user:bob", relation="memory:role", value="engineer",
                                 source="agent:codex")
    rel = vault.path_of(original)
    text = (vault.root / rel).read_text("utf-8")
    tagged = text.replace("---\nformat:", '---\ntags:\n  - "people"\nformat:', 1)
    assert tagged != text
    with watching(vault) as seen:
        write_in_place(vault.root / rel, tagged)
        wait_for(lambda: seen.kinds("indexed"))
        wait_quiet(vault, seen)
    assert seen.kinds("amended") == [] and seen.kinds("restored") == []
    assert (vault.root / rel).read_text("utf-8") == tagged
    [item] = vault.query()
    assert item.fact.id == original.id and item.status == "valid"


# ------------------------------------------------------------------ deleting a fact file


def test_deleting_a_fact_file_retracts_it_by_the_owner(vault: Vault) -> None:
    original = vault.assert_fact(entity="user:bob", relation="memory:role", value="engineer",
                                 source="agent:codex")
    rel = vault.path_of(original)
    with watching(vault) as seen:
        os.unlink(vault.root / rel)
        [retracted] = wait_for(lambda: seen.kinds("retracted"))
        wait_quiet(vault, seen)
    retraction = vault.lookup(retracted.fact_id)
    assert (retraction.fact.source, retraction.fact.confidence, retraction.fact.supersedes) == (
        "user:alice", 0.0, original.id)
    assert vault.query(entity="user:bob") == []
    assert verify_file(vault.root, rel, vault.trust).ok  # the agent's signed fact is kept
    assert vault.lookup(original.id).superseded_by == retraction.fact.id


def test_deleting_a_fact_that_is_no_longer_live_restores_it_with_a_notice(vault: Vault) -> None:
    original = vault.assert_fact(entity="user:bob", relation="memory:role", value="engineer")
    vault.amend(original.id, value="manager")
    rel = vault.path_of(original)
    signed_bytes = (vault.root / rel).read_bytes()
    with watching(vault) as seen:
        os.unlink(vault.root / rel)
        [restored] = wait_for(lambda: seen.kinds("restored"))
        wait_quiet(vault, seen)
    assert restored.path == rel
    assert (vault.root / rel).read_bytes() == signed_bytes
    assert seen.kinds("retracted") == []
    assert any(rel in line and "no longer live" in line for line in vault.notices())


def test_deleting_a_system_fact_restores_it_with_a_notice(vault: Vault) -> None:
    vault.create_identity("system:sync")
    original = vault.assert_fact(entity="user:bob", relation="memory:role", value="engineer",
                                 source="system:sync")
    rel = vault.path_of(original)
    with watching(vault) as seen:
        os.unlink(vault.root / rel)
        wait_for(lambda: seen.kinds("restored"))
        wait_quiet(vault, seen)
    assert verify_file(vault.root, rel, vault.trust).ok
    assert vault.lookup(original.id).live
    assert any("system facts cannot be retracted" in line for line in vault.notices())


def test_deleting_a_whole_folder_of_facts_retracts_each(vault: Vault) -> None:
    a = vault.assert_fact(entity="user:bob", relation="memory:role", value="engineer")
    b = vault.assert_fact(entity="user:bob", relation="memory:team", value="atlas",
                          source="agent:codex")
    folder = vault.root / vault.path_of(a).rsplit("/", 1)[0]
    with watching(vault) as seen:
        shutil.rmtree(folder)
        wait_for(lambda: vault.query(entity="user:bob") == [], what="both facts to be retracted")
        wait_quiet(vault, seen)
    # Carried out by the rescan a vanished folder triggers, and still reported one by one.
    assert len(seen.kinds("retracted")) == 2
    for original in (a, b):
        replacer = vault.lookup(vault.lookup(original.id).superseded_by)
        assert (replacer.fact.source, replacer.fact.confidence) == ("user:alice", 0.0)
        assert verify_file(vault.root, vault.path_of(original), vault.trust).ok


# ------------------------------------------------------------------ moving files


def test_moving_a_fact_file_does_not_retract_it(vault: Vault) -> None:
    original = vault.assert_fact(entity="user:bob", relation="memory:role", value="engineer",
                                 source="agent:codex")
    rel = vault.path_of(original)
    target = vault.root / "facts/local/people/bob-role.md"
    with watching(vault) as seen:
        target.parent.mkdir(parents=True)
        os.rename(vault.root / rel, target)
        wait_for(lambda: vault.lookup(original.id).path != rel, what="the move to be indexed")
        wait_quiet(vault, seen)
    assert seen.kinds("retracted") == []
    [item] = vault.query(entity="user:bob")
    assert item.fact.id == original.id and item.live


def test_a_draft_moved_into_the_vault_is_signed(vault: Vault, tmp_path: Path) -> None:
    outside = tmp_path / "download.md"
    outside.write_text(draft_text("moved in"), encoding="utf-8")
    with watching(vault) as seen:
        (vault.root / "notes").mkdir()
        os.rename(outside, vault.root / "notes" / "download.md")
        wait_for(lambda: seen.kinds("signed"))
        wait_quiet(vault, seen)
    assert [i.fact.value.v for i in vault.query()] == ["moved in"]


def test_a_note_renamed_into_a_draft_name_is_signed(vault: Vault) -> None:
    scratch = vault.root / "notes" / "draft.md.tmp"
    scratch.parent.mkdir()
    scratch.write_text(draft_text("renamed"), encoding="utf-8")
    with watching(vault) as seen:
        os.rename(scratch, vault.root / "notes" / "Renamed.md")
        wait_for(lambda: seen.kinds("signed"))
        wait_quiet(vault, seen)
    assert [i.fact.value.v for i in vault.query()] == ["renamed"]


# ------------------------------------------------------------------ agents writing signed files


def test_a_signed_fact_written_by_another_process_is_indexed(vault: Vault) -> None:
    fact, rel, text = signed_elsewhere(vault, "agent:codex", "reviewer")
    with watching(vault) as seen:
        write_via_rename(vault.root / rel, text)
        wait_for(lambda: [i for i in vault.query() if i.fact.id == fact.id])
        wait_quiet(vault, seen)
    assert seen.kinds("signed") == [] and seen.kinds("amended") == []
    assert (vault.root / rel).read_text("utf-8") == text
    vault.flush()  # and, like every change, it is committed
    assert vault.git.blob_at_head(rel) == text.encode("utf-8")
    assert vault.git.dirty_paths() == ([], [])


def test_a_fact_a_node_vouched_for_is_signed_like_any_other(vault: Vault) -> None:
    # What an `--auth none` node writes for a client: vouched for by the owner (spec §9.5).
    claim = make_claim(entity="user:bob", relation="memory:role",
                       value=make_value("string", "engineer"), source="agent:client")
    written, _ = vault.as_principal(vault.operator()).write(claim, attestation="off")
    assert written.status == "vouched"
    rel = written.path
    assert rel is not None
    with watching(vault) as seen:
        os.unlink(vault.root / rel)  # deleted in Obsidian: retracted, the file kept
        [retracted] = wait_for(lambda: seen.kinds("retracted"))
        wait_quiet(vault, seen)
    assert vault.lookup(retracted.fact_id).fact.supersedes == written.fact.id
    assert vault.query(entity="user:bob") == []
    assert verify_file(vault.root, rel, vault.trust).verdict.value == "vouched"
