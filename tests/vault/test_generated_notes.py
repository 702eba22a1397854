"""Generated notes (entity notes, conflict notes, views) as a person sees them in Obsidian:
every wikilink resolves, in the vault and in a fresh clone after its first command; each
`.base` view parses and names only properties the notes it selects carry; `init` installs
the views, the template and the Templates plugin's setting; entity notes follow writes
incrementally; a read-only open writes nothing; the example vault shows all of it."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from stigmem_vault.api.vault import Vault
from stigmem_vault.canonical.signing import format_timestamp, sign_claim
from stigmem_vault.model.fact import Fact, make_claim
from stigmem_vault.model.values import make_value
from stigmem_vault.vault import markdown
from stigmem_vault.vault.layout import entity_note_relpath, fact_relpath
from stigmem_vault.vault.notes import HISTORY_LIMIT
from stigmem_vault.vault.obsidian import obsidian_files
from stigmem_vault.watch.gestures import ERROR_PROPERTY

from .obsidian_support import link_problems, note_properties, read_base, required_folders

REPO = Path(__file__).resolve().parents[2]
STIGMEM = Path(sys.executable).parent / "stigmem"
VIEWS = {"live-facts", "open-conflicts", "recent-changes", "low-confidence", "pending"}
ATLAS = "stigmem://acme/project/atlas"
LONG = "stigmem://acme/project/" + "ü" * 90  # a segment shortened with a hash (§8.2)


def run_cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STIGMEM_HOME": str(home)}
    env.pop("STIGMEM_VAULT", None)
    return subprocess.run([str(STIGMEM), *args], capture_output=True, text=True, timeout=120,
                          env=env)


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                          check=True).stdout


def _populate(vault: Vault) -> None:
    """Several entities and sources, every value type, amendments, a retraction, an expired
    fact, an open and a resolved conflict, facts that arrived as files (another process, an
    agent's inbox draft), refs to an entity that has no facts of its own."""
    for source in ("agent:scout", "user:bob"):
        vault.create_identity(source)
    say = vault.assert_fact
    say(entity=ATLAS, relation="project:owner", value="user:bob", value_type="ref",
        scope="company")
    say(entity=ATLAS, relation="project:reviewer", value="user:carol", value_type="ref",
        source="agent:codex", scope="team")
    say(entity=ATLAS, relation="project:tag", value="red", scope="team")
    say(entity=ATLAS, relation="project:tag", value="blue", source="agent:codex", scope="team")
    say(entity=ATLAS, relation="project:deadline", value="2027-03-31", value_type="datetime",
        scope="team")
    say(entity=ATLAS, relation="project:deadline", value="2027-04-15", value_type="datetime",
        source="agent:codex", confidence=0.6, trust="inferred", scope="team")
    [deadline] = [c for c in vault.conflicts("open") if c.relation == "project:deadline"]
    vault.resolve(deadline.id, winner="a")
    first = say(entity="user:bob", relation="person:city", value="Berlin", source="agent:scout",
                confidence=0.5, trust="reported")
    vault.amend(first.id, value="Paris")
    say(entity="user:alice", relation="person:role", value="lead | ops [west]")
    say(entity="user:alice", relation="memory:notes", value_type="text",
        value="Prefers async | in writing.\nUses `code` spans.")
    latency = say(entity="stigmem://acme/service/billing", relation="service:latency_p99_ms",
                  value=182.5, source="agent:scout", confidence=0.95, scope="team",
                  valid_until="2027-12-31T00:00:00Z")
    say(entity="stigmem://acme/service/billing", relation="service:health", value="degraded",
        source="agent:codex", confidence=0.7, trust="stale-risk", derived_from=[latency.id],
        scope="team")
    say(entity="stigmem://acme/service/billing", relation="service:open_incident", value=None,
        source="agent:scout", scope="team")
    say(entity="stigmem://acme/service/billing", relation="service:public", value=False,
        scope="public")
    say(entity="user:zoë-müller", relation="person:city", value="Zürich",
        valid_until="2020-01-01T00:00:00Z")  # expired
    gone = say(entity=LONG, relation="project:status", value="draft", source="agent:scout")
    vault.retract(gone.id, source="agent:scout")
    say(entity=LONG, relation="project:status", value="final", source="agent:scout")
    # An agent's draft in its inbox, signed when the vault sees it.
    draft = vault.root / "inbox/agent-scout/oncall.md"
    draft.parent.mkdir(parents=True)
    draft.write_text('---\nentity: "stigmem://acme/service/billing"\nrelation: '
                     '"service:oncall"\nvalue_type: "ref"\nvalue_ref: "user:dave"\n---\n')
    vault.refresh()
    assert not draft.exists()


def _other_process_writes(root: Path, home: Path, vault: Vault) -> None:
    """A fact file written by another process (an agent, a pull), then ingested."""
    other = Vault.open(root, home=home, commit_delay=None)
    try:
        fact = other.assert_fact(entity="user:erin", relation="person:city", value="Oslo",
                                 source="agent:scout")
        other.flush()
    finally:
        other.close()
    for note in (root / "entities").rglob("*.md"):  # as if only the fact file had arrived
        if note.name in ("erin.md", "scout.md"):
            note.unlink()
    rel = str(next(p.relative_to(root) for p in (root / "facts").rglob(f"*{fact.id[:12]}.md")))
    vault.index_paths([rel])


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(vault root, home) of a vault built through the API, closed and committed."""
    base = tmp_path_factory.mktemp("notes")
    root, home = base / "vault", base / "home"
    vault = Vault.init(root, owner="user:alice", home=home, commit_delay=None)
    try:
        vault.create_identity("agent:codex")
        _populate(vault)
        _other_process_writes(root, home, vault)
    finally:
        vault.close()
    yield root, home


def _facts(root: Path, home: Path) -> list[Fact]:
    reader = Vault.open(root, home=home, read_only=True)
    try:
        return [item.fact for item in reader.list_facts()]
    finally:
        reader.close()


# ------------------------------------------------------------------------------- links

def test_every_wikilink_resolves_in_the_vault_and_in_a_fresh_clone(
        built: tuple[Path, Path], tmp_path: Path) -> None:
    root, home = built
    assert git(root, "status", "--porcelain") == ""  # every generated note is committed
    facts = _facts(root, home)
    named = {name for f in facts for name in (f.entity, f.source)}
    named |= {str(f.value.v) for f in facts if f.value.type.value == "ref"}
    assert {"user:carol", "user:dave", "user:erin", "agent:scout", LONG} <= named
    for name in named:
        assert (root / entity_note_relpath(name)).is_file(), name
    conflicts = [note_properties(p) for p in (root / "conflicts").rglob("*.md")]
    assert {c["status"] for c in conflicts} == {"open", "resolved"}
    assert link_problems(root) == []

    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(root), str(clone)], check=True)
    first = run_cli("--vault", str(clone), "list", home=tmp_path / "empty-home")
    assert first.returncode == 0, first.stderr
    assert link_problems(clone) == []
    assert git(clone, "status", "--porcelain") == ""
    for name in named:
        assert (clone / entity_note_relpath(name)).is_file(), name


def test_table_cells_escape_the_alias_bar(built: tuple[Path, Path]) -> None:
    root, _home = built
    [note] = [p for p in (root / "conflicts").rglob("*.md")
              if note_properties(p)["status"] == "open"]
    for row in note.read_text().splitlines():
        if row.startswith(("| source", "| fact")):
            assert row.count("[[") == 2 and row.count("\\|") == 2
            assert len(row.replace("\\|", "").split("|")) == 5  # still four cells
    atlas = (root / entity_note_relpath(ATLAS)).read_text()
    rows = [r for r in atlas.splitlines() if r.startswith("| project:")]
    assert rows and all("\\|" in r for r in rows)
    alice = (root / entity_note_relpath("user:alice")).read_text()
    assert "`lead \\| ops [west]`" in alice  # a value's bar is escaped too


def test_the_link_check_finds_what_obsidian_would_not_resolve(tmp_path: Path) -> None:
    """The checker itself: it must fail on each kind of broken link."""
    (tmp_path / "a/b").mkdir(parents=True)
    (tmp_path / "c").mkdir()
    (tmp_path / "a/b/note.md").write_text("# Top\n## Live values\ntext ^blk1\n")
    (tmp_path / "c/note.md").write_text("# Other\n")
    (tmp_path / "a/one.v2.md").write_text("x\n")
    (tmp_path / "views.base").write_text("views: []\n")
    good = ("[[a/b/note]] [[a/b/note.md]] [[a/b/note|alias]] [[a/b/note#Live values|x]] "
            "[[a/b/note#^blk1]] [[b/note]] [[one.v2]] [[views.base]] [[#Here]] [[./b/note]]\n"
            "# Here\n| x | [[a/b/note\\|alias]] |\n`[[nowhere]]` %%[[nowhere]]%%\n")
    (tmp_path / "a/good.md").write_text(good)
    assert link_problems(tmp_path, [tmp_path / "a/good.md"]) == []
    bad = ("[[a/b/nothere]]\n[[note]]\n[[a/b/note#No such heading]]\n[[a/b/note#^nope]]\n"
           "| x | [[a/b/note|alias]] |\n[[A/B/Note]]\n")
    (tmp_path / "bad.md").write_text(bad)
    problems = link_problems(tmp_path, [tmp_path / "bad.md"])
    assert [p.split(":")[1] for p in problems] == ["1", "2", "3", "4", "5", "6"], problems
    assert "ambiguous" in problems[1] and "bare |" in problems[4]


# ------------------------------------------------------------------------------- views

def _written_properties(root: Path, folder: str) -> set[str]:
    """Every property the code wrote on the notes of ``folder``: derived from the notes the
    writers produced, not from a list kept by hand."""
    names: set[str] = set()
    for note in (root / folder).rglob("*.md"):
        names |= set(note_properties(note))
    return names


def _draft_properties() -> set[str]:
    """What a pending draft carries: the template's properties and the watcher's error."""
    return set(note_properties(REPO / "templates/fact.md")) | {ERROR_PROPERTY}


def base_problems(views: Path, built_root: Path) -> list[str]:
    """Problems of every `.base` in ``views``, each property checked against what the notes
    its global filter selects carry (fact notes, conflict notes, else drafts)."""
    fact_props = _written_properties(built_root, "facts")
    carried = {"facts": fact_props,
               "conflicts": _written_properties(built_root, "conflicts"),
               "entities": _written_properties(built_root, "entities")}
    problems = []
    for path in sorted(views.glob("*.base")):
        data, named = read_base(path)
        problems += [f"{path.name}: {p}" for p in named.problems]
        folders = required_folders(data)
        # A base over every folder (pending) selects drafts, edits of fact notes and conflict
        # notes waiting for their tick.
        real = set().union(*(carried[f] for f in folders)) if folders else \
            fact_props | _draft_properties() | carried["conflicts"]
        problems += [f"{path.name}: no such property {p!r}"
                     for p in sorted(named.properties - real)]
    return problems


def test_each_view_parses_and_names_real_properties(built: tuple[Path, Path]) -> None:
    root, _home = built
    written = _written_properties(root, "facts")
    assert {"value_string", "value_text", "value_number", "value_boolean", "value_datetime",
            "value_ref", "valid_until", "supersedes", "derived_from"} <= written
    assert {p.stem for p in (root / "views").glob("*.base")} == VIEWS
    assert base_problems(root / "views", root) == []


def test_the_view_check_finds_bad_views(built: tuple[Path, Path], tmp_path: Path) -> None:
    root, _home = built
    (tmp_path / "a.base").write_text(
        'filters:\n  and:\n    - file.inFolder("facts")\n    - "confidance > 0.5"\n'
        "views:\n  - type: table\n    name: A\n    order: [file.nam, formula.x, status]\n")
    (tmp_path / "b.base").write_text(
        'filters:\n  or:\n    - "confidence > (0.5"\n  and: []\nviews:\n  - type: grid\n')
    (tmp_path / "c.base").write_text(
        'filters: file.inFolder("conflicts")\nviews:\n  - type: table\n    name: C\n'
        "    sort:\n      - property: confidence\n        direction: UP\n"
        "    order: [status, confidence]\n")
    problems = base_problems(tmp_path, root)
    for expected in ("a.base: no such property 'confidance'", "a.base: no such property "
                     "'status'", "a.base: formula.x is not defined", "a.base: file.nam is not",
                     "b.base: filters: a filter is", "b.base: views[0]: needs a type",
                     "c.base: no such property 'confidence'", "c.base: views[0]: sort/groupBy"):
        assert any(p.startswith(expected) for p in problems), (expected, problems)


def test_init_installs_views_template_and_templates_setting(vault: Vault) -> None:
    root = vault.root
    installed = obsidian_files()
    assert {f"views/{name}.base" for name in VIEWS} | {"templates/fact.md",
                                                       ".obsidian/templates.json"} == set(installed)
    for rel, data in installed.items():
        assert (root / rel).read_bytes() == data, rel
    assert (root / "templates/fact.md").read_bytes() == (REPO / "templates/fact.md").read_bytes()
    assert json.loads((root / ".obsidian/templates.json").read_text()) == {"folder": "templates"}
    committed = set(git(root, "ls-tree", "-r", "--name-only", "HEAD").split())
    assert set(installed) <= committed
    assert git(root, "status", "--porcelain") == ""
    # The template is never taken for a draft, however often the vault is scanned.
    vault.refresh()
    assert vault.list_facts() == [] and git(root, "status", "--porcelain") == ""
    assert (root / "templates/fact.md").read_bytes() == installed["templates/fact.md"]


# ------------------------------------------------------------------- entity notes over time

def test_entity_notes_update_incrementally_on_write(vault: Vault) -> None:
    vault.assert_fact(entity="user:bob", relation="person:city", value="Berlin")
    vault.assert_fact(entity=ATLAS, relation="project:owner", value="user:bob",
                      value_type="ref")
    vault.flush()
    root = vault.root
    bob = root / entity_note_relpath("user:bob")
    atlas = root / entity_note_relpath(ATLAS)
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


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and ".git" not in p.parts
            and ".stigmem" not in p.parts}


def test_read_only_open_writes_nothing(vault: Vault, home: Path) -> None:
    vault.assert_fact(entity="user:bob", relation="person:city", value="Berlin")
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
    assert _tree(root) == before


# ------------------------------------------------------------------------- example vault

def test_example_vault_shows_it_all(built: tuple[Path, Path]) -> None:
    """Item 7: an open conflict, entity notes for every entity and source, the views, the
    template and its setting, an inbox draft; every link resolves; every view checks."""
    example = REPO / "example-vault"
    root, _home = built
    assert link_problems(example) == []
    assert base_problems(example / "views", root) == []
    assert {p.stem for p in (example / "views").glob("*.base")} == VIEWS
    for rel, data in obsidian_files().items():
        assert (example / rel).read_bytes() == data, rel
    conflicts = [note_properties(p) for p in (example / "conflicts").rglob("*.md")]
    assert "open" in [c["status"] for c in conflicts]
    assert all(c["sign"] is False for c in conflicts if c["status"] == "open")  # §14.1
    for fact_note in (example / "facts").rglob("*.md"):
        props = note_properties(fact_note)
        for name in (props["entity"], props["source"], props.get("value_ref")):
            assert name is None or (example / entity_note_relpath(name)).is_file(), name
    drafts = [note_properties(p) for p in (example / "inbox").rglob("*.md")]
    assert drafts and all("entity" in d and "signature" not in d for d in drafts)


def test_example_vault_notes_are_what_the_code_writes_today(tmp_path: Path) -> None:
    """Fact notes and conflict notes as the current code renders them (regenerate with
    scripts/make_example_vault.py when the rendering changes)."""
    copy = tmp_path / "example"
    shutil.copytree(REPO / "example-vault", copy)
    reader = Vault.open(copy, home=tmp_path / "empty-home", read_only=True)
    try:
        views = reader.list_facts()
        conflicts = reader.conflicts()
    finally:
        reader.close()
    assert views
    for view in views:
        assert (copy / view.path).read_text("utf-8") == markdown.render(view.fact), view.path
    notes = list((copy / "conflicts").rglob("*.md"))
    assert len(notes) == len(conflicts) >= 1
    for note in notes:
        if note_properties(note)["status"] == "open":
            assert "then tick `sign`" in note.read_text("utf-8")


@pytest.mark.skipif(not STIGMEM.exists(), reason="run `pip install -e '.[test]'`")
def test_init_from_the_example_links_resolve_at_once(tmp_path: Path) -> None:
    """`stigmem init --from example-vault`: the vault a person opens next has its entity and
    conflict notes committed, before any other command."""
    made = tmp_path / "mine"
    done = run_cli("init", str(made), "--owner", "user:me", "--from",
                   str(REPO / "example-vault"), home=tmp_path / "home")
    assert done.returncode == 0, done.stderr
    assert list((made / "entities").rglob("*.md")) and list((made / "conflicts").rglob("*.md"))
    assert link_problems(made) == []
    assert git(made, "status", "--porcelain") == ""


def test_links_follow_a_fact_file_moved_inside_facts(vault: Vault) -> None:
    """A fact file renamed inside facts/ is indexed at its new path: the conflict note and
    the entity note link there, not to the canonical path."""
    red = vault.assert_fact(entity=ATLAS, relation="project:tag", value="red", scope="team")
    vault.assert_fact(entity=ATLAS, relation="project:tag", value="blue", source="agent:codex",
                      scope="team")
    vault.flush()
    root = vault.root
    old = root / vault.path_of(red)
    new = root / "facts/team/moved" / old.name
    new.parent.mkdir(parents=True)
    old.rename(new)
    vault.refresh()
    vault.flush()
    moved = str(new.relative_to(root).with_suffix(""))
    [note] = list((root / "conflicts").rglob("*.md"))
    assert moved in note.read_text()
    assert moved in (root / entity_note_relpath(ATLAS)).read_text()
    assert link_problems(root) == []


def test_every_source_gets_a_note_even_beyond_the_recent_history(vault: Vault) -> None:
    """A source whose only fact on an entity is replaced and older than the 20 history rows
    still gets its note (its fact note links to it) when the notes are rebuilt at once."""
    vault.create_identity("agent:old")
    old = vault.assert_fact(entity=ATLAS, relation="project:phase", value="alpha",
                            source="agent:old")
    vault.retract(old.id)  # by the owner: no longer live
    for number in range(HISTORY_LIMIT + 1):
        vault.assert_fact(entity=ATLAS, relation=f"project:step{number}", value="done")
    vault.flush()
    root = vault.root
    for note in (root / "entities").rglob("*.md"):
        note.unlink()
    vault.reindex()
    vault.flush()
    assert (root / entity_note_relpath("agent:old")).is_file()
    assert link_problems(root) == []


def _wait(predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_the_watcher_keeps_entity_notes_current(vault: Vault) -> None:
    """Files that arrive while `watch` runs (a fact another process signed, an agent's inbox
    draft) show in their entity's note at once, and every link resolves."""
    root = vault.root
    bob = root / entity_note_relpath("user:bob")
    errors: list[BaseException] = []
    watcher = vault.watch(on_change=lambda changes: None, on_error=errors.append)
    try:
        # A fact file signed elsewhere arrives (a copy, a pull): new to the index.
        claim = make_claim(entity="user:bob", relation="person:city",
                           value=make_value("string", "Oslo"), source="agent:codex")
        assert vault.clock is not None
        fact = sign_claim(claim, vault.clock.now(), format_timestamp(datetime.now(UTC)),
                          vault.signing_key_for("agent:codex"))
        arrived = root / fact_relpath(fact)
        arrived.parent.mkdir(parents=True, exist_ok=True)
        arrived.write_text(markdown.render(fact), encoding="utf-8")
        _wait(lambda: bob.is_file() and "Oslo" in bob.read_text(), "bob's note")
        draft = root / "inbox/agent-codex/team.md"
        draft.parent.mkdir(parents=True)
        draft.write_text('---\nentity: "user:bob"\nrelation: "person:team"\n'
                         'value_string: "billing"\n---\n')
        _wait(lambda: "billing" in bob.read_text(), "the draft's value in bob's note")
    finally:
        watcher.stop()
    assert errors == []
    vault.flush()
    assert link_problems(root) == []
    assert git(root, "status", "--porcelain") == ""
