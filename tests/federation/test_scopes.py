"""Scope projection: a remote receives only the facts of its scopes; local facts never leave.

A syncs team to R1 and company to R2; B reads R1 only. B gets A's team facts, never its
company or local ones, and a scan of every object in R1 and R2 finds no local fact.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .support import (
    Nodes,
    all_objects,
    bare_repo,
    git,
    parse_or_none,
    remote_branches,
    tree_entry_names,
    tree_paths,
)


def test_each_remote_carries_only_its_scopes(nodes: Nodes, tmp_path: Path) -> None:
    r1 = bare_repo(tmp_path / "r1.git")
    r2 = bare_repo(tmp_path / "r2.git")
    a = nodes("a", "user:alice", "agent:codex")
    b = nodes("b", "user:bob")
    team = [a.say("codex:state", f"team-{i}", scope="team", source="agent:codex") for i in range(3)]
    company = [a.say("codex:budget", f"company-{i}", scope="company") for i in range(2)]
    secret_values = [f"local-secret-{i}-do-not-share" for i in range(2)]
    local = [a.say("codex:secret", value, scope="local") for value in secret_values]
    public = a.say("codex:motto", "public-hello", scope="public")

    a.vault.add_remote("r1", str(r1), ["team"])  # a plain path
    a.vault.add_remote("r2", f"file://{r2}", ["company"])  # a file:// URL
    reports = a.sync()
    assert {r.remote: r.pushed for r in reports} == {"r1": ["team"], "r2": ["company"]}
    assert remote_branches(r1).keys() == {f"stigmem/team/{a.node_id}"}
    assert remote_branches(r2).keys() == {f"stigmem/company/{a.node_id}"}

    # What each branch holds: its scope's facts and the signed peer declaration, nothing else.
    r1_paths = tree_paths(r1, f"stigmem/team/{a.node_id}")
    assert sorted(p for p in r1_paths if p.startswith("facts/")) == sorted(
        a.vault.path_of(f) for f in team)
    assert [p for p in r1_paths if not p.startswith("facts/")] == [
        f".stigmem/peers/{a.node_id}.json"]
    r2_paths = tree_paths(r2, f"stigmem/company/{a.node_id}")
    assert sorted(p for p in r2_paths if p.startswith("facts/")) == sorted(
        a.vault.path_of(f) for f in company)

    # B reads R1 only: it learns of A, admits it, and gets exactly A's team facts.
    b.vault.add_remote("r1", str(r1), ["team", "company", "public"])
    first = b.sync()
    assert first[0].new_peers == [a.node_id]
    assert first[0].imported == 0  # A is not trusted yet: its facts wait in quarantine
    b.trust(a)
    assert b.fact_ids() == sorted(f.id for f in team)
    b.sync()
    assert b.fact_ids() == sorted(f.id for f in team)
    for fact in team:
        assert b.vault.lookup(fact.id).status == "valid"
    report = b.vault.verify()
    assert report.ok and len(report.files) == len(team), report.problems()

    # Every object in R1 and R2 (reachable or not): no local fact, in any form.
    local_ids = {f.id for f in local}
    local_blobs = {a.vault.git.repo.revparse_single(f"HEAD:{a.vault.path_of(f)}").id for f in local}
    for repo in (r1, r2):
        seen = 0
        for kind, oid, data in all_objects(repo):
            seen += 1
            assert oid not in {str(blob) for blob in local_blobs}, (repo, oid)
            for marker in (*local_ids, *(i[:12] for i in local_ids), *secret_values):
                assert marker.encode() not in data, (repo, kind, oid, marker)
            assert b"facts/local" not in data and b"scope: local" not in data
            if kind == "blob":
                fact = parse_or_none(data, oid)
                assert fact is None or fact.scope.value != "local"
        assert seen > 0
        assert "local" not in tree_entry_names(repo)  # no facts/local folder, even empty
    # Neither does the public fact travel: no remote carries the public scope.
    for repo in (r1, r2):
        assert not any(public.id.encode() in data for _k, _o, data in all_objects(repo))


def test_a_local_fact_moved_under_a_shared_folder_never_leaves(nodes: Nodes, tmp_path: Path) -> None:
    """A human copies a local fact file into facts/team/ (the watcher commits what it finds):
    the projection still leaves it out, because its scope says local."""
    remote = bare_repo(tmp_path / "r.git")
    a = nodes("a", "user:alice")
    secret = a.say("codex:secret", "moved-local-secret", scope="local")
    shared = a.say("codex:state", "shared", scope="team")
    rel = a.vault.path_of(secret).replace("facts/local/", "facts/team/", 1)
    (a.root / rel).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(a.root / a.vault.path_of(secret), a.root / rel)
    a.vault.apply_changes([rel])  # what the watcher does with a new file
    a.vault.flush()
    assert rel in git(a.root, "ls-files", "facts/team").split()  # it is in HEAD's facts/team

    a.vault.add_remote("r", str(remote), ["team"])
    a.sync()
    paths = tree_paths(remote, f"stigmem/team/{a.node_id}")
    assert a.vault.path_of(shared) in paths
    assert rel not in paths
    for _kind, _oid, data in all_objects(remote):
        assert b"moved-local-secret" not in data and secret.id[:12].encode() not in data
