"""Split brain: two nodes assert conflicting single-valued facts offline, then sync.

Merging is a union of immutable files, so both vaults keep both facts; conflicts are found on
ingest exactly as for local writes, so both vaults show the same open conflict.
"""

from __future__ import annotations

from pathlib import Path

from stigmem_vault.model.hlc import HLC

from .support import Node, Nodes, bare_repo


def introduce(a: Node, b: Node) -> None:
    """Both publish their declarations, see each other's and admit each other."""
    a.sync()
    b.sync()
    a.sync()
    a.trust(b)
    b.trust(a)


def test_conflicting_offline_writes_converge_to_one_open_conflict(nodes: Nodes,
                                                                  tmp_path: Path) -> None:
    remote = bare_repo(tmp_path / "r.git")
    a = nodes("a", "user:alice")
    b = nodes("b", "user:bob")
    for node in (a, b):
        node.vault.add_remote("origin", str(remote), ["team"])
    introduce(a, b)

    # Offline: each node asserts its own value for the same single-valued relation.
    mine = a.say("codex:owner", "alice", entity="project:atlas")
    theirs = b.say("codex:owner", "bob", entity="project:atlas")
    assert a.vault.conflicts("open") == [] and b.vault.conflicts("open") == []

    a.sync()
    b.sync()
    a.sync()

    assert a.fact_ids() == b.fact_ids() == sorted([mine.id, theirs.id])
    views = []
    for node in (a, b):
        [conflict] = node.vault.conflicts("open")
        assert (conflict.entity, conflict.relation, conflict.scope) == (
            "project:atlas", "codex:owner", "team")
        assert {conflict.fact_a.fact.id, conflict.fact_b.fact.id} == {mine.id, theirs.id}
        # Both stay queryable: a contradiction, not an overwrite.
        values = {f.fact.value.v for f in node.vault.query(entity="project:atlas")}
        assert values == {"alice", "bob"}
        views.append((conflict.id, conflict.fact_a.fact.id, conflict.fact_b.fact.id,
                      conflict.status))
    assert views[0] == views[1]

    # The clocks advanced past everything seen: a new write on either node orders after both.
    later = a.say("codex:note", "after the merge")
    assert HLC.parse(later.hlc) > max(HLC.parse(mine.hlc), HLC.parse(theirs.hlc))
    assert b.vault.clock.now() > max(HLC.parse(mine.hlc), HLC.parse(theirs.hlc))


def test_same_source_update_after_sync_is_not_a_conflict(nodes: Nodes, tmp_path: Path) -> None:
    """A later fact by the same source supersedes its earlier one, across nodes too."""
    remote = bare_repo(tmp_path / "r.git")
    a = nodes("a", "user:alice")
    b = nodes("b", "user:bob")
    for node in (a, b):
        node.vault.add_remote("origin", str(remote), ["team"])
    introduce(a, b)
    first = a.say("codex:state", "draft")
    a.sync()
    b.sync()
    second = a.vault.amend(first.id, value="review")
    a.vault.flush()
    a.sync()
    b.sync()
    assert b.fact_ids() == sorted([first.id, second.id])
    assert b.vault.conflicts() == []
    live = [f.fact.id for f in b.vault.query(entity="project:atlas") if f.live]
    assert live == [second.id]
