"""Someone else moves a node's own projection branch on the remote.

A node is the only writer of ``stigmem/<scope>/<its node id>``. Whoever else has push access
(a peer, or anyone with the stock git CLI) can still move it: a commit on top, a force-push
into the past, unrelated history, a deletion. The node keeps publishing: it puts its own
projection back (force-pushing over foreign commits, leased on what it just fetched), audits
what it found, and receivers never import a foreign commit's facts that do not verify on their
own signatures. The foreign commits may carry hostile bytes; the owner's push never fails on
them and nothing of them reaches its working tree.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from nacl.signing import SigningKey

from stigmem_vault.errors import RemoteError
from stigmem_vault.federation.projection import PROJECTION_REF
from stigmem_vault.federation.state import Remote
from stigmem_vault.federation.transport import push

from .support import (
    GitDaemon,
    Node,
    Nodes,
    Workspace,
    bare_repo,
    canonical_path,
    fact_bytes,
    git,
    signed_fact,
    sparse_zero_file,
)
from .test_cli import Cli

BIG = 64 * 1024 * 1024


def projection_tip(node: Node, scope: str = "team") -> str:
    return str(node.vault.git.repo.references[PROJECTION_REF.format(scope=scope)].target)


def tampered(node: Node) -> list:
    return [e for e in node.vault.audit_log() if e.kind == "projection-tampered"]


@pytest.fixture(params=["file", "git-daemon"])
def url(request, tmp_path: Path) -> str:
    """A bare remote, reached over file:// or over git:// from a git daemon on 127.0.0.1."""
    if request.param == "file":
        return f"file://{bare_repo(tmp_path / 'r.git')}"
    served = tmp_path / "served"
    bare_repo(served / "r.git")
    daemon = GitDaemon(served).start()
    request.addfinalizer(daemon.kill)
    return daemon.url("r.git")


@pytest.fixture
def world(nodes: Nodes, url: str, tmp_path: Path):
    """A published one fact; B admitted A and holds it; an attacker's git workspace."""
    a = nodes("a", "user:alice", "agent:codex")
    b = nodes("b", "user:bob", "agent:bob")
    for node in (a, b):
        node.vault.add_remote("origin", url, ["team"])
    a.say("codex:state", "one", source="agent:codex")
    a.sync()
    b.sync()
    b.trust(a)
    b.sync()
    assert len(b.fact_ids()) == 1
    return a, b, Workspace.create(tmp_path / "attacker.git", url)


def hostile_commit(attacker: Workspace, tmp_path: Path, parent: str | None,
                   base: str | None) -> tuple[str, object]:
    """A commit (on ``parent``, with ``base``'s tree plus hostile entries): a forged fact
    claiming agent:codex, a 64 MB blob, a symlink, a '..' entry and an executable.
    Returns the commit and the forged fact."""
    forged = signed_fact(SigningKey.generate(), source="agent:codex", relation="codex:state",
                         value="forged by mallory", entity="project:zeus")
    entries = [
        ("100644", attacker.blob(fact_bytes(forged)), canonical_path(forged)),
        ("100644", attacker.blob_from_file(sparse_zero_file(tmp_path / "zeros", BIG)),
         "facts/team/project/zz/huge.md"),
        ("120000", attacker.blob(b"../../../../.stigmem/vault.json"), "facts/team/link.md"),
        ("100644", attacker.blob(fact_bytes(forged)), "facts/team/../escape.md"),
        ("100755", attacker.blob(b"#!/bin/sh\necho pwned\n"), "facts/team/run.md"),
    ]
    tree = attacker.tree_with(base, entries)
    return attacker.commit(tree, parent, "helpful edit"), forged


def remote_tip(attacker: Workspace, branch: str) -> str | None:
    """The remote's branch as it is now (ls-remote: a deleted branch shows as None)."""
    attacker.fetch()
    listed = attacker.git("ls-remote", attacker.remote_url, f"refs/heads/{branch}").split()
    return listed[0] if listed else None


# ------------------------------------------------------------------ the owner keeps publishing


@pytest.mark.parametrize("how", ["on-top", "rewound", "unrelated", "deleted", "peer"])
def test_the_owner_puts_its_projection_back_and_audits_what_it_found(
        world, tmp_path: Path, how: str) -> None:
    a, b, attacker = world
    branch = f"stigmem/team/{a.node_id}"
    first = projection_tip(a)
    second_fact = a.say("codex:state", "two", source="agent:codex", entity="project:hermes")
    a.sync()
    ours = projection_tip(a)
    assert remote_tip(attacker, branch) == ours

    found: str | None
    if how == "on-top":  # a fast-forward by anyone with push access
        found, _forged = hostile_commit(attacker, tmp_path, ours, ours)
        attacker.push(found, branch)
    elif how == "rewound":  # a force-push back to our own older commit
        found = first
        attacker.push(first, branch, force=True)
    elif how == "unrelated":  # history that never was ours
        found, _forged = hostile_commit(attacker, tmp_path, None, None)
        attacker.push(found, branch, force=True)
    elif how == "deleted":
        found = None
        attacker.git("push", "-q", attacker.remote_url, f":refs/heads/{branch}")
    else:  # B pushes its own signed projection onto A's branch
        found = projection_tip(b)
        git(b.root, "push", "-q", "--force", attacker.remote_url,
            f"{PROJECTION_REF.format(scope='team')}:refs/heads/{branch}")
    assert remote_tip(attacker, branch) == found

    # A has nothing new to say, and still puts its projection back.
    [report] = a.sync()
    assert report.error is None
    assert remote_tip(attacker, branch) == ours
    [notice] = report.tampered
    assert (notice.branch, notice.found, notice.pushed) == (branch, found, ours)
    [entry] = tampered(a)
    assert (entry.remote, entry.branch, entry.commit) == ("origin", branch, found)
    if how == "rewound":
        assert notice.foreign == [] and notice.action == "fast-forwarded"
        assert f"our own earlier commit {first}" in entry.reason
    elif how == "deleted":
        assert notice.foreign == [] and notice.action == "recreated"
        assert "deleted" in entry.reason
    else:
        foreign = ([found] if how != "peer" else  # B's projection history: all foreign to A
                   git(b.root, "rev-list", PROJECTION_REF.format(scope="team")).split())
        assert notice.foreign == foreign and notice.action == "overwrote"
        assert f"overwrote foreign commit(s) {', '.join(foreign)} on our projection" in entry.reason
    # Nothing of the foreign commit reached A's files, and the next sync is quiet again.
    assert not [p for p in (a.root / "facts").rglob("*")
                if p.name in ("huge.md", "link.md", "escape.md", "run.md")]
    assert len(a.fact_ids()) == 2
    assert git(a.root, "status", "--porcelain") == ""
    [again] = a.sync()
    assert (again.error, again.tampered) == (None, [])
    assert len(tampered(a)) == 1

    # B receives what A published, and nothing A did not sign.
    [report] = b.sync()
    assert report.error is None and report.refused == []
    assert second_fact.id in b.fact_ids()
    assert len(b.fact_ids()) == 2


def test_a_peer_that_accepted_the_foreign_commit_follows_the_overwrite(
        world, nodes: Nodes, url: str, tmp_path: Path) -> None:
    """B syncs while the foreign commit is on A's branch: its forged fact is refused, a fact in
    it that verifies on its own (Carol's, whom B trusts) is accepted; after A overwrites the
    commit, B advances to A's projection instead of refusing it as rewritten."""
    a, b, attacker = world
    carol = nodes("carol", "user:carol", "agent:carol")
    carol.vault.add_remote("origin", url, ["team"])
    carol.sync()
    b.sync()
    b.trust(carol)
    branch = f"stigmem/team/{a.node_id}"
    ours = projection_tip(a)
    honest = signed_fact(carol.vault.signing_key_for("agent:carol"), source="agent:carol",
                         relation="codex:hint", value="relayed", entity="project:hermes")
    found, forged = hostile_commit(attacker, tmp_path, ours, ours)
    tree = attacker.tree_with(found, [("100644", attacker.blob(fact_bytes(honest)),
                                       canonical_path(honest))])
    found = attacker.commit(tree, found, "and one more")
    attacker.push(found, branch)

    [report] = b.sync()
    assert report.error is None and report.refused == []
    assert report.forged_commits == 2  # neither commit is signed by A's node key
    assert honest.id in b.fact_ids()  # it verifies on its own signature
    assert forged.id not in b.fact_ids()
    kinds = {(e.path, e.kind) for e in b.vault.audit_log() if e.branch == branch}
    assert (canonical_path(forged), "untrusted-signer") in kinds

    later = a.say("codex:state", "after the overwrite", source="agent:codex",
                  entity="project:apollo")
    [pushed] = a.sync()
    assert pushed.error is None and [t.foreign for t in pushed.tampered] == [
        [found, attacker.git("rev-parse", f"{found}^").strip()]]
    [report] = b.sync()
    assert report.error is None and report.refused == [], report.refused
    assert later.id in b.fact_ids()
    assert forged.id not in b.fact_ids()
    overwritten = [e for e in b.vault.audit_log() if e.kind == "overwritten-by-owner"]
    assert [(e.branch, e.commit) for e in overwritten] == [(branch, found)]
    # B never got a deletion or rewrite audit for the files the overwrite dropped.
    assert not [e for e in b.vault.audit_log() if e.kind in ("deletion", "rewrite")]

    # Anyone else rewinding the branch is still refused.
    attacker.fetch()
    attacker.push(attacker.git("rev-parse", f"{ours}").strip(), branch, force=True)
    [report] = b.sync()
    assert [br for br, _why in report.refused] == [branch]


# ------------------------------------------------------------------ the lease


def test_push_is_leased_on_what_was_fetched(nodes: Nodes, url: str, tmp_path: Path) -> None:
    """A lease that does not match the remote's branch (it moved after our fetch) refuses
    the push and leaves the branch alone."""
    a = nodes("a", "user:alice")
    a.vault.add_remote("origin", url, ["team"])
    a.say("project:status", "green")
    a.sync()
    branch = f"refs/heads/stigmem/team/{a.node_id}"
    ours = projection_tip(a)
    attacker = Workspace.create(tmp_path / "attacker.git", url)
    moved = attacker.commit(attacker.tree_with(None, [
        ("100644", attacker.blob(b"x"), "facts/team/x.md")]), ours)
    attacker.push(moved, branch.removeprefix("refs/heads/"))
    remote = Remote("origin", url, ("team",))
    spec = f"+{PROJECTION_REF.format(scope='team')}:{branch}"
    with pytest.raises(RemoteError, match="the lease is broken, nothing was pushed"):
        push(a.vault.git.repo, remote, [spec], {branch: ours})
    assert remote_tip(attacker, branch.removeprefix("refs/heads/")) == moved
    push(a.vault.git.repo, remote, [spec], {branch: moved})
    assert remote_tip(attacker, branch.removeprefix("refs/heads/")) == ours


# ------------------------------------------------------------------ the command line


def test_cli_sync_shows_the_notice_and_exits_0(world, tmp_path: Path) -> None:
    a, _b, attacker = world
    branch = f"stigmem/team/{a.node_id}"
    ours = projection_tip(a)
    found, _forged = hostile_commit(attacker, tmp_path, ours, ours)
    attacker.push(found, branch)
    a.say("codex:state", "two", source="agent:codex", entity="project:hermes")
    a.vault.close()
    cli = Cli(a.root, a.home)
    result = cli("sync", "--json")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    [report] = json.loads(result.stdout)
    assert report["error"] is None and report["pushed"] == ["team"]
    published = remote_tip(attacker, branch)
    assert published not in (ours, found)
    assert report["tampered"] == [{"branch": branch, "found": found, "foreign": [found],
                                   "action": "overwrote", "pushed": published}]
    attacker.push(found, branch, force=True)
    text = cli.ok("sync").stdout
    assert f"overwrote foreign commit(s) {found} on our projection branch {branch}" in text
    assert "projection-tampered" in cli.ok("audit").stdout
