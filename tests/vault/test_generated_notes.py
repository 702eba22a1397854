"""Generated notes (entity notes, conflict notes, views): every wikilink resolves, each
`.base` view names real properties, entity notes follow writes incrementally, and a
read-only open writes nothing."""

from __future__ import annotations

import hashlib
import json
import re
import time
from pathlib import Path

import yaml

from stigmem_vault.api.vault import Vault
from stigmem_vault.vault import frontmatter
from stigmem_vault.vault.layout import entity_note_relpath
from stigmem_vault.vault.markdown import OBSIDIAN_TYPES

REPO = Path(__file__).resolve().parents[2]
_LINK = re.compile(r"\[\[([^\]]+)\]\]")
GENERATED = ("entities", "conflicts")


def unresolved_links(root: Path) -> list[tuple[str, str]]:
    """(note, link target) of every wikilink in a generated or fact note that names no file."""
    bad = []
    notes = [p for top in (*GENERATED, "facts") for p in sorted((root / top).rglob("*.md"))]
    for note in notes:
        for inner in _LINK.findall(note.read_text(encoding="utf-8")):
            target = re.split(r"\\?\|", inner, maxsplit=1)[0]
            if not (root / f"{target}.md").is_file() and not (root / target).is_file():
                bad.append((str(note.relative_to(root)), target))
    return bad


def _populate(vault: Vault) -> None:
    vault.create_identity("agent:scout")
    vault.assert_fact(entity="stigmem://acme/project/atlas", relation="project:owner",
                      value="user:bob", value_type="ref", scope="company")
    vault.assert_fact(entity="stigmem://acme/project/atlas", relation="project:tag",
                      value="red", scope="team")
    vault.assert_fact(entity="stigmem://acme/project/atlas", relation="project:tag",
                      value="blue", source="agent:codex", scope="team")
    first = vault.assert_fact(entity="user:bob", relation="person:city", value="Berlin",
                              source="agent:scout", confidence=0.5, trust="reported")
    vault.amend(first.id, value="Paris")
    vault.assert_fact(entity="user:alice", relation="person:role", value="lead | ops")


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and ".git" not in p.parts}


def test_every_wikilink_in_generated_notes_resolves(vault: Vault) -> None:
    _populate(vault)
    vault.flush()
    root = vault.root
    assert vault.conflicts("open")
    assert list((root / "conflicts").rglob("*.md"))
    entity_notes = list((root / "entities").rglob("*.md"))
    for name in ("stigmem://acme/project/atlas", "user:bob", "user:alice", "agent:codex",
                 "agent:scout"):
        assert (root / entity_note_relpath(name)).is_file(), name
    assert len(entity_notes) >= 5
    assert unresolved_links(root) == []
    atlas = (root / entity_note_relpath("stigmem://acme/project/atlas")).read_text()
    assert "project:tag" in atlas and "## Open conflicts" in atlas and "conflicts/" in atlas
    assert "\\|" in atlas  # links inside table cells escape the alias bar


def test_conflict_note_table_links_escape_the_bar(vault: Vault) -> None:
    _populate(vault)
    vault.flush()
    [note] = list((vault.root / "conflicts").rglob("*.md"))
    for row in note.read_text().splitlines():
        if row.startswith("| source") or row.startswith("| fact"):
            assert row.count("[[") == 2 and row.count("\\|") == 2
            assert len(row.replace("\\|", "").split("|")) == 5  # still four cells


def test_entity_notes_are_generated_and_committed(vault: Vault) -> None:
    _populate(vault)
    vault.flush()
    status = vault._ctx.git.repo.status()  # type: ignore[union-attr]
    assert not [p for p in status if p.startswith(("entities/", "conflicts/"))]


def test_entity_notes_update_incrementally_on_write(vault: Vault) -> None:
    _populate(vault)
    vault.flush()
    root = vault.root
    bob = root / entity_note_relpath("user:bob")
    atlas = root / entity_note_relpath("stigmem://acme/project/atlas")
    atlas_before = atlas.read_bytes()
    vault.assert_fact(entity="user:bob", relation="person:team", value="billing")
    vault.flush()  # a write's entity notes are rendered off the write path: at latest here
    assert "billing" in bob.read_text()
    assert atlas.read_bytes() == atlas_before  # untouched entity: not rewritten


def test_entity_notes_follow_writes_without_a_flush(vault: Vault) -> None:
    vault.assert_fact(entity="user:dora", relation="person:city", value="Lima")
    note = vault.root / entity_note_relpath("user:dora")
    deadline = time.monotonic() + 10
    while not note.exists() and time.monotonic() < deadline:  # the timer renders it
        time.sleep(0.05)
    assert "Lima" in note.read_text()


def test_entity_notes_follow_watcher_ingest(vault: Vault, home: Path) -> None:
    _populate(vault)
    vault.flush()
    root = vault.root
    # A signed fact file written by another process (an agent, a pull) is ingested.
    other = Vault.open(root, home=home, commit_delay=None)
    try:
        fact = other.assert_fact(entity="user:carol", relation="person:city", value="Oslo")
        other.flush()
    finally:
        other.close()
    note = root / entity_note_relpath("user:carol")
    note.unlink()  # as if only the fact file had arrived
    vault.index_paths([str(p.relative_to(root)) for p in (root / "facts").rglob("*.md")
                       if fact.id[:12] in p.name])
    assert "Oslo" in note.read_text()
    assert unresolved_links(root) == []


def test_read_only_open_writes_nothing(vault: Vault, home: Path) -> None:
    _populate(vault)
    vault.flush()
    root = vault.root
    for note in (root / "entities").rglob("*.md"):
        note.unlink()
    before = _tree(root)
    reader = Vault.open(root, home=home, read_only=True)
    try:
        assert reader.query(entity="user:bob")
        reader.list_facts()
    finally:
        reader.close()
    after = {k: v for k, v in _tree(root).items() if not k.startswith(".stigmem/")}
    assert after == {k: v for k, v in before.items() if not k.startswith(".stigmem/")}


# Properties notes carry: signed facts (§7.4), drafts and pending edits (`sign`, the
# watcher's `stigmem_error`), conflict notes (§14.1).
CONFLICT_PROPERTIES = {"stigmem_note", "conflict", "status", "entity", "relation", "scope",
                       "fact_a", "fact_b", "winner", "value", "resolution"}


def _fact_properties() -> set[str]:
    return set(OBSIDIAN_TYPES) | {"sign", "stigmem_error"} | CONFLICT_PROPERTIES


_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'")
_NAME = re.compile(r"(?<![\w.])(?:note\.)?([A-Za-z_]\w*)(?![\w(])(?!\.)")
_NOT_PROPERTIES = {"true", "false", "null", "file", "formula", "note", "this"}


def _names(expr: object) -> set[str]:
    """Property names a Bases filter/formula expression refers to (note.X or bare X)."""
    found: set[str] = set()
    if isinstance(expr, dict):
        for value in expr.values():
            found |= _names(value)
    elif isinstance(expr, list):
        for value in expr:
            found |= _names(value)
    elif isinstance(expr, str):
        bare = _QUOTED.sub('""', expr)
        bare = re.sub(r"\b(?:file|formula)\.\w+", "", bare)
        found |= {m for m in _NAME.findall(bare) if m not in _NOT_PROPERTIES}
    return found


def check_bases(root: Path) -> list[Path]:
    bases = sorted((root / "views").glob("*.base"))
    real = _fact_properties()
    for path in bases:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert isinstance(data, dict) and data.get("views"), path
        named = _names(data.get("filters")) | _names(data.get("formulas"))
        for view in data["views"]:
            assert view["type"] in ("table", "cards", "list"), path
            named |= _names(view.get("filters"))
            named |= {s["property"].removeprefix("note.") for s in view.get("sort", [])
                      if not s["property"].startswith(("file.", "formula."))}
            if "groupBy" in view:
                named.add(view["groupBy"]["property"].removeprefix("note."))
            for prop in view.get("order", []):
                if not prop.startswith(("file.", "formula.")):
                    named.add(prop.removeprefix("note."))
        assert named <= real, (path, named - real)
    return bases


def test_init_installs_views_and_templates(vault: Vault) -> None:
    root = vault.root
    bases = check_bases(root)
    assert {p.stem for p in bases} >= {"live-facts", "open-conflicts", "recent-changes",
                                        "low-confidence", "pending"}
    assert (root / "templates/fact.md").read_text() == (REPO / "templates/fact.md").read_text()
    assert json.loads((root / ".obsidian/templates.json").read_text()) == {"folder": "templates"}
    tracked = {e.path for e in vault._ctx.git.repo.index}  # type: ignore[union-attr]
    assert {"templates/fact.md", ".obsidian/templates.json", *(
        f"views/{p.name}" for p in bases)} <= tracked


def test_example_vault_links_resolve_and_views_parse() -> None:
    root = REPO / "example-vault"
    assert unresolved_links(root) == []
    assert check_bases(root)
    assert list((root / "conflicts").rglob("*.md"))
    assert list((root / "entities").rglob("*.md"))
    assert list((root / "inbox").rglob("*.md"))
    assert (root / "templates/fact.md").is_file()
    for note in (root / "conflicts").rglob("*.md"):
        head = frontmatter.split(note.read_text(encoding="utf-8"))[0]
        assert frontmatter.load(head)["stigmem_note"] == "conflict"
