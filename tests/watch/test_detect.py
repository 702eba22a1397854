"""Change detection through git (watch/detect.py): once the index is settled against HEAD, a
scan looks only at what git reports, what HEAD changed, and what is not settled; it finds
exactly what the full walk finds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from stigmem_vault.api.vault import Vault
from stigmem_vault.index.index import Index
from stigmem_vault.vault.git_state import GitState
from stigmem_vault.watch.detect import detect
from stigmem_vault.watch.scan import Changes, changes

from .support import signed_elsewhere, write_in_place, write_via_rename

N = 12


def _settled(vault: Vault) -> list[str]:
    """A vault of N committed facts whose index is settled; their paths."""
    facts = [vault.assert_fact(entity=f"user:u{i}", relation="memory:role", value=f"r{i:02d}")
             for i in range(N)]
    vault.flush()  # committed: git's index holds their stat data
    vault.refresh()  # settles every file state against HEAD
    vault.flush()  # entity notes the refresh wrote
    return [vault.path_of(f) for f in facts]


def _shape(found: Changes) -> tuple[object, ...]:
    return (sorted(rel for rel, _st in found.facts), sorted(found.notes), sorted(found.removed),
            found.scanned, found.unchanged)


def _same_as_full_walk(vault: Vault) -> tuple[Changes, list[str]]:
    """detect()'s changes (asserted equal to the full walk's) and the paths it looked at."""
    index = vault.index
    fast, watermark = detect(vault.root, index)
    assert watermark is not None and watermark.paths is not None  # the fast path was taken
    assert _shape(fast) == _shape(changes(vault.root, index))
    return fast, watermark.paths


def test_a_settled_unchanged_vault_looks_at_no_file(vault: Vault) -> None:
    _settled(vault)
    found, looked = _same_as_full_walk(vault)
    assert looked == []
    assert (found.scanned, found.unchanged) == (N, N)
    report = vault.refresh()
    assert (report.scanned, report.unchanged, report.indexed) == (N, N, 0)


def test_an_in_place_edit_in_the_same_second_same_size_is_found(vault: Vault) -> None:
    paths = _settled(vault)
    path = vault.root / paths[3]
    before = path.stat()
    text = path.read_text("utf-8")
    assert '"r03"' in text
    write_in_place(path, text.replace('"r03"', '"x03"'))  # same size, same inode
    # The same second as before (the racy case: only the nanoseconds differ, if at all).
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1))
    assert path.stat().st_size == before.st_size
    found, looked = _same_as_full_walk(vault)
    assert [rel for rel, _st in found.facts] == [paths[3]]
    assert looked == [paths[3]]


def test_a_rename_and_a_delete_are_found(vault: Vault) -> None:
    paths = _settled(vault)
    renamed = paths[1].replace(".md", "-moved.md")
    os.rename(vault.root / paths[1], vault.root / renamed)
    os.unlink(vault.root / paths[2])
    found, looked = _same_as_full_walk(vault)
    assert sorted(found.removed) == sorted([paths[1], paths[2]])
    assert [rel for rel, _st in found.facts] == [renamed]
    assert len(looked) == 3


def test_a_file_added_by_another_process_is_found(vault: Vault) -> None:
    _settled(vault)
    _fact, rel, text = signed_elsewhere(vault, "agent:codex", "new")
    script = ("import os, sys; os.makedirs(os.path.dirname(sys.argv[1]), exist_ok=True);"
              "open(sys.argv[1], 'w', encoding='utf-8').write(sys.argv[2])")
    subprocess.run([sys.executable, "-c", script, str(vault.root / rel), text], check=True)
    found, _looked = _same_as_full_walk(vault)
    assert [r for r, _st in found.facts] == [rel]
    report = vault.refresh()
    assert (report.scanned, report.unchanged, report.indexed) == (N + 1, N, 1)
    assert _fact.id in {i.fact.id for i in vault.query()}


def test_a_commit_made_by_another_process_is_found(vault: Vault) -> None:
    """A file that is clean for git but new to the index: HEAD moved past the settled tree."""
    _settled(vault)
    fact, rel, text = signed_elsewhere(vault, "agent:codex", "pulled")
    write_via_rename(vault.root / rel, text)
    git = ["git", "-C", str(vault.root), "-c", "user.name=t", "-c", "user.email=t@t",
           "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "add", rel], check=True, capture_output=True)
    subprocess.run([*git, "commit", "-q", "-m", "pulled"], check=True, capture_output=True)
    found, looked = _same_as_full_walk(vault)
    assert [r for r, _st in found.facts] == [rel]
    assert looked == [rel]
    vault.refresh()
    assert fact.id in {i.fact.id for i in vault.query()}
    assert _same_as_full_walk(vault)[1] == []  # settled against the new HEAD


def test_a_note_git_ignores_is_still_found(vault: Vault) -> None:
    _settled(vault)
    with open(vault.root / ".gitignore", "a", encoding="utf-8") as handle:
        handle.write("private/\nsecret.md\n")
    write_via_rename(vault.root / "private/deep/plan.md", "# plan\n")
    write_via_rename(vault.root / "notes/secret.md", "# secret\n")
    found, _looked = _same_as_full_walk(vault)
    assert sorted(found.notes) == ["notes/secret.md", "private/deep/plan.md"]


def test_writes_through_the_api_are_not_read_again(vault: Vault) -> None:
    """Files the API wrote and indexed are compared by stat only until committed, then settled:
    never read again, never looked at once settled."""
    _settled(vault)
    more = [vault.path_of(vault.assert_fact(entity=f"user:v{i}", relation="memory:role",
                                            value=f"s{i}")) for i in range(3)]
    report = vault.refresh()  # uncommitted: looked at (stat), not read
    assert (report.indexed, report.unchanged) == (0, N + 3)
    vault.flush()
    vault.refresh()
    vault.flush()
    found, looked = _same_as_full_walk(vault)
    assert not set(more) & set(looked)
    assert (found.scanned, found.unchanged) == (N + 3, N + 3)


def test_an_index_whose_tree_is_gone_falls_back_to_the_full_walk(vault: Vault) -> None:
    _settled(vault)
    index = vault.index
    index.settle("0" * 40, {}, [])
    found, watermark = detect(vault.root, index)
    assert watermark is not None and watermark.paths is None  # walked, then settles everything
    assert (found.scanned, found.unchanged) == (N, N)
    watermark.settle(index)
    assert detect(vault.root, index)[1].paths == []  # type: ignore[union-attr]


def test_pending_edits_and_status_counts_need_no_walk_and_match_one(vault: Vault, home: Path) -> None:
    """`pending` looks only at git's candidates; `status` counts fact files from the index;
    both give what looking at every file gives, for a read-only open too."""
    from stigmem_vault.api.gestures import find_pending
    from stigmem_vault.watch.detect import candidates

    from .support import set_property

    paths = _settled(vault)
    edited = vault.root / paths[4]
    write_in_place(edited, set_property(edited.read_text("utf-8"), "value_string", '"edited"'))
    os.unlink(vault.root / paths[5])
    vault.close()
    reader = Vault.open(vault.root, home=home, read_only=True)
    try:
        index = reader.index
        ctx = reader._ctx  # comparing the two ways of finding them
        fast = find_pending(ctx, index, candidates(reader.root, index))
        assert fast == find_pending(ctx, index)
        assert [(p.path, p.kind) for p in fast] == [(paths[4], "edit")]
        walked: dict[str, int] = {}
        for rel in reader.fact_paths():
            walked[rel.split("/", 2)[1]] = walked.get(rel.split("/", 2)[1], 0) + 1
        counted = {scope: n for scope, n in reader.status().facts_by_scope.items() if n}
        assert counted == walked and sum(walked.values()) == N - 1
    finally:
        reader.close()


def test_git_status_paths_with_spaces_and_accents_are_read_whole(vault: Vault) -> None:
    from stigmem_vault.vault.git_state import GitState

    _settled(vault)
    names = ["notes/my note é.md", "notes/? odd.md"]
    for name in names:
        write_via_rename(vault.root / name, "# first\n")
    git = ["git", "-C", str(vault.root), "-c", "user.name=t", "-c", "user.email=t@t",
           "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "add", *names], check=True, capture_output=True)
    subprocess.run([*git, "commit", "-q", "-m", "notes"], check=True, capture_output=True)
    assert not set(names) & set(GitState(vault.root).dirty())
    write_in_place(vault.root / names[0], "# second\n")
    write_via_rename(vault.root / "notes/new one.md", "# new\n")
    assert set(GitState(vault.root).dirty()) >= {names[0], "notes/new one.md"}
    found, _looked = _same_as_full_walk(vault)
    assert {names[0], "notes/new one.md"} <= set(found.notes)


def test_a_writer_finds_an_edit_made_just_after_its_last_scan(vault: Vault) -> None:
    # A node scans (a config change, a catch-up), then a person edits a signed fact, then a
    # client asks for pending edits within the second: the scan's paths predate the edit.
    paths = _settled(vault)
    vault.refresh()
    path = vault.root / paths[5]
    write_in_place(path, path.read_text("utf-8").replace('"r05"', '"edited r05"'))
    assert [(p.path, p.kind) for p in vault.pending()] == [(paths[5], "edit")]


def test_a_first_index_settles_as_it_inserts_exactly_what_a_settle_pass_would(
        vault: Vault) -> None:
    """A first index (a fresh clone, a reindex) settles each file state as it goes in,
    instead of a pass over every row after: the same rows end up settled."""
    paths = _settled(vault)
    os.utime(vault.root / paths[0], ns=(1, 1))  # another stat, the same bytes: HEAD's blob
    edited = vault.root / paths[1]
    write_in_place(edited, edited.read_bytes() + b"\nA line added below the fact.\n")
    _fact, rel, text = signed_elsewhere(vault, "agent:codex", "new")
    write_via_rename(vault.root / rel, text)  # not in HEAD
    vault.reindex()
    index = vault.index
    tree = index.git_tree()
    assert tree is not None
    first = _settled_column(index)
    index.settle(tree, GitState(vault.root).blobs(tree), None)  # the pass it no longer makes
    assert _settled_column(index) == first
    assert first[paths[0]] == 1 and first[paths[1]] == 0 and first[rel] == 0
    assert sum(first[p] for p in paths) == N - 1


def _settled_column(index: Index) -> dict[str, int]:
    with index.db.lock:
        return dict(index.db.conn.execute("SELECT path, settled FROM files"))
