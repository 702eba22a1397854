"""Files written exactly as Obsidian writes them (in-place saves every couple of seconds while
typing, the Properties editor unquoting and reordering, drag-to-folder, rename, `.trash/`):
nothing is signed before the `sign` checkbox is ticked, ticking it signs exactly one fact (or
one amendment), and a move is never a retraction (spec §14)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from stigmem_vault.api.vault import Vault
from stigmem_vault.model.fact import Fact
from stigmem_vault.vault import frontmatter
from stigmem_vault.vault.verify import verify_file

from .support import (
    Recorder,
    listing,
    properties_edit,
    save_seen,
    set_property,
    tick_sign,
    wait_for,
    wait_quiet,
    watching,
    write_in_place,
)

REPO = Path(__file__).resolve().parents[2]


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                          check=True).stdout


def _props(path: Path) -> dict[str, frontmatter.Flat]:
    return frontmatter.load(frontmatter.split(path.read_text("utf-8"))[0])


def _autosave(path: Path, text: str, seen: Recorder, rel: str) -> None:
    """One of Obsidian's saves while the person types (every ~2 s): in place, then wait until
    the watcher has looked at it."""
    save_seen(path, text, seen, rel)


def _signed_fact_files(root: Path) -> list[str]:
    return sorted(p for p in listing(root) if p.startswith("facts/") and p.endswith(".md"))


def _clone_fact_files(vault: Vault, tmp_path: Path) -> list[str]:
    """The fact files a fresh clone of the vault gets."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(vault.root), str(clone)], check=True)
    return _signed_fact_files(clone)


def _by_codex(vault: Vault) -> tuple[Fact, str]:
    original = vault.assert_fact(entity="user:bob", relation="memory:role", value="engineer",
                                 source="agent:codex")
    vault.flush()
    return original, vault.path_of(original)


# ------------------------------------------------------------------ a new note from the template


def test_autosaves_while_typing_sign_nothing_and_never_rewrite_the_file(vault: Vault) -> None:
    template = (REPO / "templates/fact.md").read_text("utf-8")
    draft = vault.root / "Meeting.md"
    with watching(vault) as seen:
        _autosave(draft, template, seen, "Meeting.md")  # the Templates plugin inserts it
        typed = template
        for partial in ("Fri", "Friday 14", "Friday 14:00 with Dana"):  # an autosave each ~2 s
            typed = properties_edit(typed, changes={"value_string": partial})
            _autosave(draft, typed, seen, "Meeting.md")
            assert draft.read_text("utf-8") == typed  # never annotated or restored while typing
        typed += "Agenda: the launch.\n"  # typed under the properties
        _autosave(draft, typed, seen, "Meeting.md")
        wait_quiet(vault, seen)
        assert seen.kinds("signed") == [] and seen.kinds("rejected") == []
        assert draft.read_text("utf-8") == typed
        assert vault.query(include_superseded=True, include_unverified=True) == []
        assert [(p.path, p.kind) for p in vault.pending()] == [("Meeting.md", "draft")]
        assert seen.about("pending", "Meeting.md") == 1  # said once, not on every autosave
        # Ticking `sign` in the Properties editor rewrites the block: `sign` dragged first,
        # values unquoted, a tag added.
        write_in_place(draft, properties_edit(typed, changes={"sign": True, "tags": ["meeting"]},
                                              first=("sign", "value_string")))
        [signed] = wait_for(lambda: seen.kinds("signed"), what="the ticked draft to be signed")
        wait_quiet(vault, seen)
    assert len(seen.kinds("signed")) == 1
    [item] = vault.query(include_superseded=True, include_unverified=True)
    assert item.fact.id == signed.fact_id
    assert (item.fact.value.v, item.fact.source) == ("Friday 14:00 with Dana", "user:alice")
    signed_text = (vault.root / item.path).read_text("utf-8")
    assert "Agenda: the launch." in signed_text and "A new stigmem fact" in signed_text
    assert _props(vault.root / item.path)["tags"] == ["meeting"]
    assert "sign" not in _props(vault.root / item.path)
    assert verify_file(vault.root, item.path, vault.trust).ok
    assert not draft.exists()
    assert vault.pending() == []
    vault.flush()
    assert _git(vault.root, "status", "--porcelain") == ""


def test_a_draft_ticked_while_nobody_watched_is_signed_and_said_when_watching_starts(
        vault: Vault) -> None:
    text = (REPO / "templates/fact.md").read_text("utf-8")
    write_in_place(vault.root / "Later.md", properties_edit(
        text, changes={"value_string": "ready", "sign": True}))
    with watching(vault) as seen:  # the catch-up scan signs it, and the watcher says so
        [signed] = wait_for(lambda: seen.kinds("signed"))
        wait_quiet(vault, seen)
    assert signed.detail == "from Later.md"
    assert vault.lookup(signed.fact_id).fact.value.v == "ready"


def test_an_invalid_draft_shows_its_error_only_once_sign_is_ticked(vault: Vault) -> None:
    template = (REPO / "templates/fact.md").read_text("utf-8")
    draft = vault.root / "Idea.md"
    with watching(vault) as seen:
        _autosave(draft, template, seen, "Idea.md")  # the shipped template has no value yet
        typed = properties_edit(template, changes={"confidence": 7})
        _autosave(draft, typed, seen, "Idea.md")
        wait_quiet(vault, seen)
        assert draft.read_text("utf-8") == typed and seen.kinds("rejected") == []
        write_in_place(draft, properties_edit(typed, changes={"sign": True}))
        [rejected] = wait_for(lambda: seen.kinds("rejected"))
        wait_quiet(vault, seen)
    assert rejected.path == "Idea.md" and seen.kinds("signed") == []
    props = _props(draft)
    assert props["sign"] is False and "stigmem_error" in props  # unticked, the field named
    assert vault.query(include_superseded=True, include_unverified=True) == []
    assert seen.about("pending", "Idea.md") == 1


def test_pending_is_said_once_per_path_and_again_after_something_else_happened(
        vault: Vault) -> None:
    """`stigmem watch` and the node's log say `pending` when a note becomes pending, not on
    each of the autosaves that follow; after a refused `sign` it is news again."""
    template = (REPO / "templates/fact.md").read_text("utf-8")
    draft = vault.root / "Idea.md"
    original, rel = _by_codex(vault)
    edit = vault.root / rel
    with watching(vault) as seen:
        typed = template
        for confidence in (0.1, 0.2, 7):  # autosaves while typing, each a pending draft
            typed = properties_edit(typed, changes={"confidence": confidence})
            _autosave(draft, typed, seen, "Idea.md")
        text = edit.read_text("utf-8")
        for partial in ("man", "manager"):
            text = properties_edit(text, changes={"value_string": partial})
            _autosave(edit, text, seen, rel)
        wait_quiet(vault, seen)
        assert seen.about("pending", "Idea.md") == 1 and seen.about("pending", rel) == 1
        write_in_place(draft, properties_edit(typed, changes={"sign": True}))
        wait_for(lambda: seen.about("rejected", "Idea.md"), what="the refused sign")
        typed = properties_edit(draft.read_text("utf-8"), changes={"confidence": 0.5})
        _autosave(draft, typed, seen, "Idea.md")
        _autosave(draft, typed + "More.\n", seen, "Idea.md")
        wait_quiet(vault, seen)
    assert seen.about("pending", "Idea.md") == 2
    assert [c.detail for c in seen.kinds("pending") if c.path == rel] == [
        "edit of a signed fact; tick `sign` to sign it"]
    assert vault.lookup(original.id).live


# ------------------------------------------------------------------ editing a signed fact


def test_a_properties_editor_rewrite_that_changes_no_value_is_no_edit(vault: Vault) -> None:
    original, rel = _by_codex(vault)
    path = vault.root / rel
    with watching(vault) as seen:
        # Values unquoted, `tags` added and dragged to the top, `signature` moved up.
        write_in_place(path, properties_edit(path.read_text("utf-8"),
                                             changes={"tags": ["people"]},
                                             first=("tags", "signature")))
        wait_for(lambda: vault.index.file_stat(rel) == (path.stat().st_size,
                                                         path.stat().st_mtime_ns),
                 what="the reformatted file to be indexed")
        wait_quiet(vault, seen)
    assert seen.kinds("pending") == [] and seen.kinds("amended") == []
    assert verify_file(vault.root, rel, vault.trust).ok
    [item] = vault.query(entity="user:bob")
    assert item.fact.id == original.id and item.path == rel
    assert vault.pending() == []
    vault.flush()
    assert _git(vault.root, "status", "--porcelain") == ""  # the tag is committed


def test_ticking_sign_with_only_unsigned_changes_signs_nothing_and_is_not_left_ticked(
        vault: Vault) -> None:
    original, rel = _by_codex(vault)
    path = vault.root / rel
    with watching(vault) as seen:
        write_in_place(path, properties_edit(path.read_text("utf-8"),
                                             changes={"tags": ["people"], "sign": True}))
        wait_for(lambda: "sign" not in _props(path), what="`sign` to be taken off")
        wait_quiet(vault, seen)
        assert seen.kinds("amended") == [] and _props(path)["tags"] == ["people"]
        vault.flush()
        assert _git(vault.root, "status", "--porcelain") == ""
        # A later edit of the value is pending again: the committed file has no `sign` left.
        _autosave(path, properties_edit(path.read_text("utf-8"),
                                        changes={"value_string": "manager"}), seen, rel)
        wait_quiet(vault, seen)
    assert seen.kinds("amended") == []
    [item] = vault.query(entity="user:bob")
    assert item.fact.id == original.id and verify_file(vault.root, rel, vault.trust).ok is False


def test_an_edit_of_a_signed_fact_is_pending_until_sign_then_one_amendment(vault: Vault) -> None:
    original, rel = _by_codex(vault)
    path = vault.root / rel
    signed_bytes = path.read_bytes()
    with watching(vault) as seen:
        text = signed_bytes.decode()
        for partial in ("man", "manag", "manager"):  # the Properties editor, every ~2 s
            text = properties_edit(text, changes={"value_string": partial})
            _autosave(path, text, seen, rel)
            assert path.read_text("utf-8") == text  # the person's file is not touched
            [item] = vault.query(entity="user:bob")  # every reader still sees the original
            assert item.fact.id == original.id and item.fact.value.v == "engineer"
            assert [hit.item.fact.id for hit in vault.recall("engineer")] == [original.id]
        wait_quiet(vault, seen)
        assert seen.kinds("amended") == [] and seen.kinds("restored") == []
        assert [(p.path, p.kind, p.fact_id) for p in vault.pending()] == [
            (rel, "edit", original.id)]
        assert _git(vault.root, "show", f"HEAD:{rel}").encode() == signed_bytes  # peers too
        text = properties_edit(text, changes={"tags": ["people"], "sign": True},
                               first=("tags",))
        text += "\nSpoke with Bob.\n"  # typed under the properties
        write_in_place(path, text)
        [amended] = wait_for(lambda: seen.kinds("amended"))
        wait_quiet(vault, seen)
    assert len(seen.kinds("amended")) == 1
    [item] = vault.query(entity="user:bob")
    assert item.fact.id == amended.fact_id
    assert (item.fact.value.v, item.fact.source, item.fact.supersedes) == (
        "manager", "user:alice", original.id)
    amended_text = (vault.root / item.path).read_text("utf-8")
    assert "Spoke with Bob." in amended_text
    assert "engineer" not in amended_text  # the original's summary is not carried over
    assert amended_text.count("## Notes") == 1
    assert _props(vault.root / item.path)["tags"] == ["people"]
    assert "sign" not in _props(vault.root / item.path)
    assert verify_file(vault.root, item.path, vault.trust).ok
    assert path.read_bytes() == signed_bytes  # the original kept as signed
    assert vault.pending() == []
    vault.flush()
    assert _git(vault.root, "status", "--porcelain") == ""


def test_an_amendment_leaves_out_the_summary_the_file_has_whatever_wrote_it(vault: Vault) -> None:
    _original, rel = _by_codex(vault)
    path = vault.root / rel
    # A file written by an older stigmem: another summary (unsigned) and earlier notes.
    older = path.read_text("utf-8").replace("the original is kept", "nothing is lost")
    path.write_text(older + "\n## Notes\n\nMet at the offsite.\n")
    vault.refresh()
    vault.flush()
    assert _git(vault.root, "status", "--porcelain") == ""
    with watching(vault) as seen:
        edited = properties_edit(path.read_text("utf-8"),
                                 changes={"value_string": "manager", "sign": True})
        write_in_place(path, edited + "Promoted in May.\n")
        [amended] = wait_for(lambda: seen.kinds("amended"))
        wait_quiet(vault, seen)
    text = (vault.root / vault.lookup(amended.fact_id).path).read_text("utf-8")
    assert "nothing is lost" not in text and "engineer" not in text
    assert text.endswith("## Notes\n\nMet at the offsite.\nPromoted in May.\n")


def test_a_pending_edit_keeps_its_original_through_a_reindex_and_is_signed_on_tick(
        vault: Vault) -> None:
    original, rel = _by_codex(vault)
    path = vault.root / rel
    edited = properties_edit(path.read_text("utf-8"), changes={"value_string": "manager"})
    write_in_place(path, edited)
    vault.reindex()  # an index built from scratch (a rebuild, a new trust store)
    [item] = vault.query(entity="user:bob")
    assert item.fact.id == original.id and item.path == rel
    assert [(p.path, p.kind) for p in vault.pending()] == [(rel, "edit")]
    assert path.read_text("utf-8") == edited
    with watching(vault) as seen:
        write_in_place(path, properties_edit(edited, changes={"sign": True}))
        [amended] = wait_for(lambda: seen.kinds("amended"))
        wait_quiet(vault, seen)
    [item] = vault.query(entity="user:bob")
    assert item.fact.id == amended.fact_id and item.fact.supersedes == original.id


def test_a_pending_edit_can_be_reverted(vault: Vault) -> None:
    original = vault.assert_fact(entity="user:bob", relation="memory:role", value="engineer")
    vault.flush()
    rel = vault.path_of(original)
    path = vault.root / rel
    signed_bytes = path.read_bytes()
    write_in_place(path, set_property(signed_bytes.decode(), "value_string", "oops"))
    assert [p.path for p in vault.pending()] == [rel]
    assert vault.revert(rel) == rel
    assert path.read_bytes() == signed_bytes
    assert vault.pending() == []
    assert [i.fact.id for i in vault.query()] == [original.id]


def test_ticking_sign_on_an_edit_with_a_bad_value_parks_it_as_a_draft(vault: Vault) -> None:
    original, rel = _by_codex(vault)
    path = vault.root / rel
    with watching(vault) as seen:
        text = tick_sign(properties_edit(path.read_text("utf-8"), changes={"trust": "hearsay"}))
        write_in_place(path, text + "\nWho said so?\n")
        [rejected] = wait_for(lambda: seen.kinds("rejected"))
        wait_quiet(vault, seen)
    parked = vault.root / rejected.path
    assert rejected.path.startswith("inbox/user-alice/")
    props = _props(parked)
    assert props["sign"] is False and props["supersedes"] == original.id
    assert "trust" in str(props["stigmem_error"])
    parked_text = parked.read_text("utf-8")
    assert "Who said so?" in parked_text and "engineer" not in parked_text.split("---", 2)[2]
    [item] = vault.query(entity="user:bob")
    assert item.fact.id == original.id and verify_file(vault.root, rel, vault.trust).ok


# ------------------------------------------------------------------ moves, renames, the trash


def test_dragging_a_fact_note_to_another_folder_is_not_a_retraction(vault: Vault,
                                                                   tmp_path: Path) -> None:
    original, rel = _by_codex(vault)
    with watching(vault) as seen:
        (vault.root / "Projects").mkdir()
        os.rename(vault.root / rel, vault.root / "Projects" / "bob.md")  # drag-to-folder
        wait_for(lambda: seen.kinds("moved"), what="the move to be seen")
        wait_quiet(vault, seen)
    assert seen.kinds("retracted") == []
    [item] = vault.query(entity="user:bob", include_superseded=True)
    assert item.fact.id == original.id and item.live
    assert item.path == rel and verify_file(vault.root, rel, vault.trust).ok  # one signed copy
    assert not (vault.root / "Projects" / "bob.md").exists()
    assert _signed_fact_files(vault.root) == [rel]
    vault.flush()
    assert _git(vault.root, "status", "--porcelain") == ""
    assert _clone_fact_files(vault, tmp_path) == [rel]


@pytest.mark.parametrize("target", ["Bob's role.md", "../../../../archive/bob.md"])
def test_renaming_or_moving_a_fact_note_inside_facts_is_committed(vault: Vault, tmp_path: Path,
                                                                  target: str) -> None:
    original, rel = _by_codex(vault)
    new = os.path.normpath(str(Path(rel).parent / target))
    assert new.startswith("facts/")
    with watching(vault) as seen:
        (vault.root / new).parent.mkdir(parents=True, exist_ok=True)
        os.rename(vault.root / rel, vault.root / new)  # Obsidian's rename, or a drag in facts/
        wait_for(lambda: vault.lookup(original.id).path == new, what="the rename to be indexed")
        # Into a folder just made, inotify reports the old path's end of the move late, as a
        # deletion (watchdog waits ~0.5 s for a matching half): wait for it, not for a time.
        wait_for(lambda: seen.about("removed", rel), what="the old path to be seen gone")
        wait_quiet(vault, seen)
    assert seen.kinds("retracted") == [] and seen.kinds("restored") == []
    [item] = vault.query(entity="user:bob", include_superseded=True)
    assert item.fact.id == original.id and item.live and item.path == new
    assert _signed_fact_files(vault.root) == [new]
    vault.flush()
    assert _git(vault.root, "status", "--porcelain") == ""
    assert _clone_fact_files(vault, tmp_path) == [new]  # one file per fact, not two


def test_a_rename_made_while_nobody_watched_is_committed_by_the_next_writer(
        vault: Vault, tmp_path: Path) -> None:
    original, rel = _by_codex(vault)
    new = str(Path(rel).with_name("Bob's role.md"))
    os.rename(vault.root / rel, vault.root / new)
    report = vault.refresh()
    assert [c.kind for c in report.changes if c.kind in ("retracted", "restored")] == []
    [item] = vault.query(entity="user:bob", include_superseded=True)
    assert item.fact.id == original.id and item.live and item.path == new
    vault.flush()
    assert _git(vault.root, "status", "--porcelain") == ""
    assert _clone_fact_files(vault, tmp_path) == [new]


def test_moving_a_fact_note_into_the_trash_retracts_it(vault: Vault) -> None:
    original, rel = _by_codex(vault)
    with watching(vault) as seen:
        (vault.root / ".trash").mkdir()
        os.rename(vault.root / rel, vault.root / ".trash" / "bob.md")  # Obsidian's delete
        [retracted] = wait_for(lambda: seen.kinds("retracted"))
        wait_quiet(vault, seen)
    assert vault.query(entity="user:bob") == []
    retraction = vault.lookup(retracted.fact_id).fact
    assert (retraction.supersedes, retraction.confidence, retraction.source) == (
        original.id, 0.0, "user:alice")
    assert verify_file(vault.root, rel, vault.trust).ok  # the original's file is kept
    vault.flush()
    assert _git(vault.root, "status", "--porcelain") == ""


# ------------------------------------------------------------------ properties that do not read


def test_a_draft_whose_properties_do_not_read_is_left_alone_until_ticked(vault: Vault) -> None:
    draft = vault.root / "Broken.md"
    typing = ("---\nentity: project:atlas\nrelation: project:status\nvalue: [gre\n"
              "sign: false\n---\nHalf typed.\n")
    with watching(vault) as seen:
        write_in_place(draft, typing)
        wait_quiet(vault, seen)
        assert draft.read_text("utf-8") == typing and seen.kinds("rejected") == []
        write_in_place(draft, typing.replace("sign: false", "sign: true"))
        [rejected] = wait_for(lambda: seen.kinds("rejected"))
        wait_quiet(vault, seen)
        annotated = draft.read_text("utf-8")
        assert rejected.path == "Broken.md" and rejected.detail.startswith("frontmatter: ")
        # unticked, the reason under the properties, the rest as typed
        assert annotated.startswith(typing.split("---\nHalf")[0])
        assert "\nsign: false\n---\n> [!error] stigmem could not read this note\n" in annotated
        assert annotated.endswith("Half typed.\n")
        fixed = annotated.replace("value: [gre", "value: green").replace("sign: false",
                                                                         "sign: true")
        write_in_place(draft, fixed)
        [signed] = wait_for(lambda: seen.kinds("signed"))
        wait_quiet(vault, seen)
    fact = vault.lookup(signed.fact_id).fact
    assert fact.value.v == "green"
    text = (vault.root / vault.lookup(signed.fact_id).path).read_text("utf-8")
    assert "Half typed." in text and "could not read" not in text


def test_an_edit_whose_properties_do_not_read_stays_pending_and_says_why_on_tick(
        vault: Vault) -> None:
    original, rel = _by_codex(vault)
    path = vault.root / rel
    broken = path.read_text("utf-8").replace('value_string: "engineer"', "value_string: [man")
    with watching(vault) as seen:
        _autosave(path, broken, seen, rel)
        assert path.read_text("utf-8") == broken and seen.kinds("rejected") == []
        write_in_place(path, tick_sign(broken))
        [rejected] = wait_for(lambda: seen.kinds("rejected"))
        wait_for(lambda: seen.about("pending", rel) >= 2, what="the annotated file seen pending")
        wait_quiet(vault, seen)
        annotated = path.read_text("utf-8")
        assert rejected.path == rel and "\nsign: false\n---\n> [!error] stigmem" in annotated
        [item] = vault.query(entity="user:bob")  # still the original, for everyone
        assert item.fact.id == original.id
        assert [(p.path, p.kind) for p in vault.pending()] == [(rel, "edit")]
        vault.flush()
        assert _git(vault.root, "status", "--porcelain") == f" M {rel}\n"  # never committed
        write_in_place(path, annotated.replace("value_string: [man", "value_string: manager")
                       .replace("sign: false", "sign: true"))
        [amended] = wait_for(lambda: seen.kinds("amended"))
        wait_quiet(vault, seen)
    [item] = vault.query(entity="user:bob")
    assert item.fact.id == amended.fact_id and item.fact.value.v == "manager"
    text = (vault.root / item.path).read_text("utf-8")
    assert "could not read" not in text and "engineer" not in text
    vault.flush()
    assert _git(vault.root, "status", "--porcelain") == ""
