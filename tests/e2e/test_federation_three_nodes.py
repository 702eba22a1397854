"""Three nodes, two remotes: A → R1 (git://) → B → R2 (file://) → C.

A shares team and company through R1. B reads both from R1 and relays them to R2. C reads
only team from R2. C admits A through the declaration B relays, and ends up with exactly the
team facts of A and B; its own team fact travels back to A through B. No local fact is in any
object of R1 or R2, and every commit on every node verifies with stock git.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from federation.support import GitDaemon, Node, Nodes, all_objects, bare_repo, git

pytestmark = pytest.mark.skipif(
    subprocess.run(["which", "ssh-keygen"], capture_output=True).returncode != 0,
    reason="git verify-commit of SSH signatures needs ssh-keygen")


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[Nodes]:
    made = Nodes(tmp_path)
    yield made
    made.close()


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[GitDaemon]:
    served = tmp_path / "served"
    served.mkdir()
    running = GitDaemon(served).start()
    yield running
    running.kill()


def ids_in_scope(node: Node, scope: str) -> set[str]:
    return {f.id for f in node.fact_files().values() if f.scope.value == scope}


def test_three_nodes_converge_within_their_scopes(nodes: Nodes, daemon: GitDaemon,
                                                  tmp_path: Path) -> None:
    bare_repo(daemon.base / "r1.git")
    r2 = bare_repo(tmp_path / "r2.git")
    a = nodes("a", "user:alice", "agent:codex")
    b = nodes("b", "user:bob")
    c = nodes("c", "user:carol")
    a.vault.add_remote("r1", daemon.url("r1.git"), ["team", "company"])
    b.vault.add_remote("r1", daemon.url("r1.git"), ["team", "company"])
    b.vault.add_remote("r2", f"file://{r2}", ["team", "company"])
    c.vault.add_remote("r2", f"file://{r2}", ["team"])

    a_team = {a.say("codex:state", "draft", source="agent:codex").id,
              a.say("codex:owner", "alice", entity="project:zeus").id}
    a_company = {a.say("codex:budget", "1M", scope="company").id}
    a_local = a.say("codex:secret", "a-local-secret", scope="local")
    a.sync()

    [report] = b.sync("r1")
    assert report.new_peers == [a.node_id]
    b.trust(a)
    assert ids_in_scope(b, "team") == a_team and ids_in_scope(b, "company") == a_company
    b_team = {b.say("codex:review", "looks good").id}
    b_company = {b.say("codex:budget", "2M", scope="company", entity="project:zeus").id}
    b_local = b.say("codex:secret", "b-local-secret", scope="local")
    b.sync()

    # C sees B's projection; A's declaration travels in it, so C can admit A as well.
    [report] = c.sync()
    assert sorted(report.new_peers) == sorted([a.node_id, b.node_id])
    assert c.fact_ids() == []  # nobody is trusted yet: everything waits in quarantine
    c.trust(b)
    c.trust(a)
    c.sync()
    assert ids_in_scope(c, "team") == a_team | b_team
    assert ids_in_scope(c, "company") == set()  # R2 carries company, C's remote does not
    assert not (c.root / "facts" / "company").exists()

    # C's own fact travels back: C → R2 → B → R1 → A.
    c_team = {c.say("codex:review", "agreed", entity="project:zeus").id}
    c.sync()
    [report] = b.sync("r2")
    assert report.new_peers == [c.node_id]
    b.trust(c)
    b.sync()
    [report] = a.sync()
    assert set(report.new_peers) == {b.node_id, c.node_id}
    a.trust(b)
    a.trust(c)
    a.sync()
    b.sync()
    c.sync()

    team = a_team | b_team | c_team
    for node in (a, b, c):
        assert ids_in_scope(node, "team") == team, node.name
        ids = node.fact_ids()
        assert len(ids) == len(set(ids)), node.name
        assert node.vault.verify().ok, node.name
        assert git(node.root, "status", "--porcelain") == ""
        head = subprocess.run(["git", "-c", "gpg.ssh.allowedSignersFile=.stigmem/allowed_signers",
                               "verify-commit", "HEAD"], cwd=node.root, capture_output=True,
                              text=True)
        assert head.returncode == 0 and "Good" in head.stderr, (node.name, head.stderr)
    assert ids_in_scope(a, "company") == ids_in_scope(b, "company") == a_company | b_company
    assert ids_in_scope(c, "company") == set()
    assert ids_in_scope(b, "local") == {b_local.id} and ids_in_scope(c, "local") == set()

    for repo in (daemon.base / "r1.git", r2):
        for _kind, _oid, data in all_objects(repo):
            for local in (a_local, b_local):
                assert local.id[:12].encode() not in data
                assert local.value.v.encode() not in data
