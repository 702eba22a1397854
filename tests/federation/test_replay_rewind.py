"""Replays are idempotent; a remote branch rewound or rewritten into the past is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from stigmem_vault.federation import pull
from stigmem_vault.federation.state import LOCAL

from .support import Node, Nodes, Workspace, bare_repo, tree_paths


def setup_pair(nodes: Nodes, tmp_path: Path) -> tuple[Node, Node, Workspace, list[str]]:
    """A publishes two rounds of facts; B has admitted A and holds both rounds."""
    url = f"file://{bare_repo(tmp_path / 'r.git')}"
    a = nodes("a", "user:alice", "agent:codex")
    b = nodes("b", "user:bob")
    a.vault.add_remote("origin", url, ["team"])
    b.vault.add_remote("origin", url, ["team"])
    a.say("codex:state", "one", source="agent:codex")
    a.sync()
    workspace = Workspace.create(tmp_path / "w.git", url)
    first_tip = workspace.git("rev-parse", f"stigmem/team/{a.node_id}").strip()
    a.say("codex:state", "two", source="agent:codex", entity="project:zeus")
    a.sync()
    workspace.fetch()
    second_tip = workspace.git("rev-parse", f"stigmem/team/{a.node_id}").strip()
    b.sync()
    b.trust(a)
    b.sync()
    assert len(b.fact_ids()) == 2
    return a, b, workspace, [first_tip, second_tip]


def test_rewound_and_rewritten_branches_are_refused(nodes: Nodes, tmp_path: Path) -> None:
    a, b, workspace, (first_tip, second_tip) = setup_pair(nodes, tmp_path)
    branch = f"stigmem/team/{a.node_id}"
    held = b.fact_ids()
    head = b.vault.git.repo.head.target

    # Force-push into the past: the branch goes back to its first commit.
    workspace.push(first_tip, branch, force=True)
    [report] = b.sync()
    assert report.error is None
    assert [br for br, _why in report.refused] == [branch]
    refused = [e for e in b.vault.audit_log() if e.kind == "refused-update"]
    assert len(refused) == 1 and refused[0].branch == branch
    assert "rewound or rewritten" in refused[0].reason
    assert b.fact_ids() == held  # nothing deleted, nothing changed
    assert b.vault.git.repo.head.target == head
    assert next(r for r in b.vault.sync_status() if r.remote == "origin").behind == 1

    # A rewritten history: same files, new root commit, not a descendant of what we accepted.
    rewritten = workspace.commit(workspace.git("rev-parse", f"{second_tip}^{{tree}}").strip(), None)
    workspace.push(rewritten, branch, force=True)
    [report] = b.sync()
    assert [br for br, _why in report.refused] == [branch]
    assert b.fact_ids() == held

    # Once the branch descends from what we accepted again, replication resumes.
    workspace.push(second_tip, branch, force=True)
    latest = a.say("codex:state", "three", source="agent:codex", entity="project:hermes")
    a.sync()
    [report] = b.sync()
    assert (report.error, report.refused, report.imported) == (None, [], 1)
    assert b.fact_ids() == sorted([*held, latest.id])


def test_replays_are_idempotent(nodes: Nodes, tmp_path: Path) -> None:
    a, b, workspace, (first_tip, second_tip) = setup_pair(nodes, tmp_path)
    held = b.fact_ids()
    commits_before = b.vault.git.repo.head.target

    # The same signed commits replayed under another node's name.
    workspace.push(first_tip, "stigmem/team/00000000deadbeef")
    workspace.push(second_tip, "stigmem/team/11111111deadbeef")
    [report] = b.sync()
    assert (report.error, report.imported, report.quarantined) == (None, 0, 0)
    assert b.fact_ids() == held
    # Syncing twice, or after this clone forgot what it had accepted, imports nothing twice.
    b.sync()
    (b.root / LOCAL / "sync" / "origin.json").unlink()
    [report] = b.sync()
    assert report.imported == 0
    assert b.fact_ids() == held
    assert b.vault.git.repo.head.target == commits_before  # no empty import commits
    # And A, fetching its own projection back (echoed by the remote), imports nothing either.
    [echo] = a.sync()
    assert echo.imported == 0
    assert len(a.fact_ids()) == len(set(a.fact_ids())) == 2


def test_a_relayed_copy_of_a_file_this_node_holds_is_not_judged_again(
        nodes: Nodes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b, _workspace, _tips = setup_pair(nodes, tmp_path)
    [relay] = b.sync()  # B's projection now carries A's two facts too, byte for byte
    assert not relay.error
    relayed = [p for p in tree_paths(tmp_path / "r.git", f"stigmem/team/{b.node_id}")
               if p.startswith("facts/")]
    assert sorted(relayed) == sorted(a.vault.path_of(i.fact) for i in a.vault.query()) != []
    judged: list[str] = []
    judge = pull.judge_new_fact

    def counting(parsed: object, path: str, *args: object) -> object:
        judged.append(path)
        return judge(parsed, path, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(pull, "judge_new_fact", counting)
    newer = b.say("codex:state", "from b", entity="project:b")
    b.sync()
    [report] = a.sync()
    a.trust(b)
    a.sync()
    # A judged B's own new fact, never the copies of its own two facts B relays.
    assert judged == [b.vault.path_of(newer)] * judged.count(b.vault.path_of(newer)) != []
    assert report.error is None and newer.id in a.fact_ids()
