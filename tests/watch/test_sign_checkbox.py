"""Files written exactly as Obsidian writes them (in-place saves every couple of seconds while
typing, the Properties editor unquoting and reordering, drag-to-folder, `.trash/`): nothing is
signed before the `sign` checkbox is ticked, and a move is never a retraction (spec §14)."""

from __future__ import annotations

import os
from pathlib import Path

from stigmem_vault.api.vault import Vault
from stigmem_vault.vault import frontmatter
from stigmem_vault.vault.verify import verify_file

from .support import listing, set_property, tick_sign, wait_for, wait_quiet, watching, write_in_place

REPO = Path(__file__).resolve().parents[2]


def _porcelain(root: Path) -> str:
    import subprocess
    return subprocess.run(["git", "-C", str(root), "status", "--porcelain"], capture_output=True,
                          text=True, check=True).stdout


def test_autosaves_while_typing_sign_nothing_and_never_rewrite_the_file(vault: Vault) -> None:
    template = (REPO / "templates/fact.md").read_text("utf-8")
    draft = vault.root / "Meeting.md"
    with watching(vault) as seen:
        write_in_place(draft, template)  # Templates plugin inserts the template
        typed = template
        for partial in ("Fri", "Friday 14", "Friday 14:00 with Dana"):  # an autosave each ~2 s
            typed = set_property(typed, "value_string", partial)  # Obsidian unquotes
            write_in_place(draft, typed)
            wait_for(lambda t=typed: draft.read_text("utf-8") == t and seen.kinds("pending"))
        wait_quiet(vault, seen)
        assert seen.kinds("signed") == [] and seen.kinds("rejected") == []
        assert draft.read_text("utf-8") == typed  # never annotated while typing
        assert vault.query(include_superseded=True, include_unverified=True) == []
        # The Properties editor: ticking `sign` rewrites the block (keys reordered, unquoted).
        yaml_text, body, _ = frontmatter.split(typed)
        props = frontmatter.load(yaml_text)
        props["tags"] = ["meeting"]
        reordered = {"sign": True, **{k: v for k, v in sorted(props.items()) if k != "sign"}}
        lines = ["---"]
        for key, value in reordered.items():
            if isinstance(value, list):
                lines += [f"{key}:", *[f"  - {v}" for v in value]]
            elif isinstance(value, bool):
                lines.append(f"{key}: {'true' if value else 'false'}")
            else:
                lines.append(f"{key}: {value}")
        write_in_place(draft, "\n".join([*lines, "---", ""]) + body)
        [signed] = wait_for(lambda: seen.kinds("signed"), what="the ticked draft to be signed")
        wait_quiet(vault, seen)
    assert len(seen.kinds("signed")) == 1
    [item] = vault.query()
    assert item.fact.id == signed.fact_id
    assert (item.fact.value.v, item.fact.source) == ("Friday 14:00 with Dana", "user:alice")
    signed_text = (vault.root / item.path).read_text("utf-8")
    assert "A new stigmem fact" in signed_text  # the text is kept
    assert frontmatter.load(frontmatter.split(signed_text)[0])["tags"] == ["meeting"]
    assert "sign" not in frontmatter.load(frontmatter.split(signed_text)[0])
    assert verify_file(vault.root, item.path, vault.trust).ok
    assert not draft.exists()


def test_an_edit_of_a_signed_fact_is_pending_until_sign_then_one_amendment(vault: Vault) -> None:
    original = vault.assert_fact(entity="user:bob", relation="memory:role", value="engineer",
                                 source="agent:codex")
    vault.flush()
    rel = vault.path_of(original)
    path = vault.root / rel
    signed_text = path.read_text("utf-8")
    with watching(vault) as seen:
        text = signed_text
        for partial in ("man", "manag", "manager"):
            text = set_property(text, "value_string", partial)
            write_in_place(path, text)
            wait_for(lambda t=text: path.read_text("utf-8") == t and seen.kinds("pending"))
        wait_quiet(vault, seen)
        assert seen.kinds("amended") == [] and seen.kinds("restored") == []
        assert path.read_text("utf-8") == text  # the person's file is not touched
        [item] = vault.query(entity="user:bob")  # every reader still sees the signed original
        assert item.fact.id == original.id and item.fact.value.v == "engineer"
        assert any(p.path == rel for p in vault.pending())
        text = tick_sign(text).replace("---\nformat:", "---\ntags:\n  - people\nformat:", 1)
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
    assert frontmatter.load(frontmatter.split(amended_text)[0])["tags"] == ["people"]
    assert verify_file(vault.root, item.path, vault.trust).ok
    assert path.read_text("utf-8") == signed_text  # the original kept as signed
    assert vault.pending() == []


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


def test_dragging_a_fact_note_to_another_folder_is_not_a_retraction(vault: Vault) -> None:
    original = vault.assert_fact(entity="user:bob", relation="memory:role", value="engineer",
                                 source="agent:codex")
    vault.flush()
    rel = vault.path_of(original)
    with watching(vault) as seen:
        (vault.root / "Projects").mkdir()
        os.rename(vault.root / rel, vault.root / "Projects" / "bob.md")  # drag-to-folder
        wait_for(lambda: seen.kinds("moved"), what="the move to be seen")
        wait_quiet(vault, seen)
    assert seen.kinds("retracted") == []
    [item] = vault.query(entity="user:bob")
    assert item.fact.id == original.id and item.live
    assert item.path == rel and verify_file(vault.root, rel, vault.trust).ok  # one signed copy
    assert not (vault.root / "Projects" / "bob.md").exists()
    vault.flush()
    assert _porcelain(vault.root) == ""


def test_renaming_a_fact_note_inside_facts_is_committed(vault: Vault) -> None:
    original = vault.assert_fact(entity="user:bob", relation="memory:role", value="engineer",
                                 source="agent:codex")
    vault.flush()
    rel = vault.path_of(original)
    new = str(Path(rel).with_name("Bob's role.md"))
    with watching(vault) as seen:
        os.rename(vault.root / rel, vault.root / new)
        wait_for(lambda: vault.lookup(original.id).path == new, what="the rename to be indexed")
        wait_quiet(vault, seen)
    assert seen.kinds("retracted") == []
    [item] = vault.query(entity="user:bob")
    assert item.fact.id == original.id and item.live
    vault.flush()
    assert _porcelain(vault.root) == ""
    assert [p for p in listing(vault.root) if p.startswith("facts/") and p.endswith(".md")] == [new]


def test_moving_a_fact_note_into_the_trash_retracts_it(vault: Vault) -> None:
    original = vault.assert_fact(entity="user:bob", relation="memory:role", value="engineer",
                                 source="agent:codex")
    vault.flush()
    rel = vault.path_of(original)
    with watching(vault) as seen:
        (vault.root / ".trash").mkdir()
        os.rename(vault.root / rel, vault.root / ".trash" / "bob.md")
        wait_for(lambda: seen.kinds("retracted"))
        wait_quiet(vault, seen)
    assert vault.query(entity="user:bob") == []
