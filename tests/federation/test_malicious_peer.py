"""A malicious peer pushes by hand, over git://, what no honest node would send.

Mallory is a peer the victim admitted (its agent:mallory key is pinned and endorsed). Its
hand-made pushes carry, next to honest facts: a forged signature, out-of-scope facts, a fact
whose source its key does not own, a far-future HLC, a ``..`` path, a symlink, a 100 MB blob,
then rewrites and a deletion of facts already accepted (on its own branch and on Alice's).
Each is rejected and audited with its kind; the honest facts in the same push are accepted
and verify; nothing bad reaches the working tree; replication is not wedged.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from stigmem_vault.federation.state import AUDIT_FILE, QUARANTINE_DIR

from .support import (
    GitDaemon,
    Node,
    Nodes,
    Workspace,
    canonical_path,
    fact_bytes,
    git,
    signed_fact,
    sparse_zero_file,
)

HOUR_MS = 3600 * 1000
BIG = 100 * 1024 * 1024


def audited(node: Node) -> dict[str, set[str]]:
    """path -> the kinds of audit entries recorded for it."""
    found: dict[str, set[str]] = {}
    for entry in node.vault.audit_log():
        found.setdefault(entry.path or "", set()).add(entry.kind)
    return found


@pytest.fixture
def world(nodes: Nodes, daemon: GitDaemon, remote, tmp_path: Path):
    """Alice and Mallory publish on a git:// remote; Bob (the victim) admitted both."""
    remote("r")
    url = daemon.url("r.git")
    alice = nodes("alice", "user:alice", "agent:codex")
    mallory = nodes("mallory", "user:mallory", "agent:mallory")
    bob = nodes("bob", "user:bob")
    for node in (alice, mallory, bob):
        node.vault.add_remote("origin", url, ["team"])
    alice.say("codex:state", "draft", source="agent:codex")
    alice.say("codex:owner", "alice", source="agent:codex", entity="project:zeus")
    mallory.say("codex:hint", "first", source="agent:mallory")
    mallory.say("codex:hint", "second", source="agent:mallory", entity="project:zeus")
    alice.sync()
    mallory.sync()
    bob.sync()
    bob.trust(alice)
    bob.trust(mallory)
    bob.sync()
    assert len(bob.fact_ids()) == 4
    attacker = Workspace.create(tmp_path / "attacker.git", url)
    return alice, mallory, bob, attacker


def test_every_kind_of_bad_push_is_rejected_and_audited(world, tmp_path: Path) -> None:
    alice, mallory, bob, attacker = world
    key = mallory.vault.signing_key_for("agent:mallory")
    branch = f"stigmem/team/{mallory.node_id}"
    tip = attacker.git("rev-parse", branch).strip()
    before_audit = len(bob.vault.audit_log())

    def fact(relation: str, value: str, **kw):
        return signed_fact(key, source=kw.pop("source", "agent:mallory"), relation=relation,
                           value=value, **kw)

    honest = [fact("codex:honest", "one"), fact("codex:honest", "two", entity="project:zeus")]
    good_sig = fact("codex:other", "x")
    forged = dataclasses.replace(fact("codex:forged", "looks fine"), signature=good_sig.signature)
    company = fact("codex:budget", "1M", scope="company")
    company_too = fact("codex:budget", "2M", scope="company", entity="project:zeus")
    impostor = fact("codex:approved", "yes", source="user:bob")
    future = fact("codex:later", "from the future",
                  wall_ms=int(time.time() * 1000) + HOUR_MS)
    traversal = fact("codex:escape", "dotdot")
    big_file = sparse_zero_file(tmp_path / "zeros", BIG)

    bad: dict[str, tuple[str, bytes | str]] = {  # path -> (expected kind, content or blob id)
        canonical_path(forged): ("invalid", fact_bytes(forged)),
        # A company fact dressed up under facts/team/, and one at its own company path.
        canonical_path(company).replace("facts/company/", "facts/team/"): ("out-of-scope",
                                                                           fact_bytes(company)),
        canonical_path(company_too): ("out-of-scope", fact_bytes(company_too)),
        canonical_path(impostor): ("untrusted-signer", fact_bytes(impostor)),
        canonical_path(future): ("skew", fact_bytes(future)),
        "facts/team/../" + canonical_path(traversal).rsplit("/", 1)[1]: (
            "unsafe-path", fact_bytes(traversal)),
        "facts/team/project/zz/link.md": ("symlink", "symlink"),
        "facts/team/project/zz/huge.md": ("too-large", attacker.blob_from_file(big_file)),
    }
    entries = [("100644", attacker.blob(fact_bytes(f)), canonical_path(f)) for f in honest]
    for path, (_kind, content) in bad.items():
        if content == "symlink":
            entries.append(("120000", attacker.blob(b"../../../../.stigmem/vault.json"), path))
        elif isinstance(content, bytes):
            entries.append(("100644", attacker.blob(content), path))
        else:
            entries.append(("100644", content, path))
    crafted = attacker.commit(attacker.tree_with(tip, entries), tip, "honest work, promise")
    # The transport itself lets a '..' tree entry through: the check must be ours.
    assert ".." in attacker.git("ls-tree", "--name-only", f"{crafted}:facts/team").split()
    attacker.push(crafted, branch)

    [report] = bob.sync()
    assert report.error is None
    assert report.imported == len(honest)
    assert report.forged_commits == 1  # an unsigned commit on Mallory's branch: reported
    found = audited(bob)
    for path, (kind, _content) in bad.items():
        assert kind in found.get(path, set()), (path, kind, found.get(path))
    rejected = [e for e in bob.vault.audit_log()[before_audit:] if e.kind != "forged-commit"]
    assert len(rejected) == len(bad), [(e.kind, e.path) for e in rejected]
    assert report.quarantined == sum(1 for e in rejected if e.quarantined)
    for entry in rejected:
        assert entry.branch == branch and entry.commit == crafted and entry.reason
        if entry.quarantined:  # kept for inspection, outside the fact tree
            assert entry.quarantined.startswith(QUARANTINE_DIR + "/")
            assert (bob.root / entry.quarantined).is_file()
    too_large = next(e for e in rejected if e.kind == "too-large")
    assert too_large.quarantined is None  # 100 MB are not copied into quarantine

    # The honest facts are in, valid; nothing of the rest reached the fact tree.
    ids = bob.fact_ids()
    for good in honest:
        assert good.id in ids
        assert bob.vault.lookup(good.id).status == "valid"
    for sneaky in (forged, company, company_too, impostor, future, traversal):
        assert sneaky.id not in ids
    assert not any(p.is_symlink() for p in (bob.root / "facts").rglob("*"))
    assert not (bob.root / "facts" / "team" / "project" / "zz").exists()
    assert not (bob.root / "facts" / "company").exists()
    report_ok = bob.vault.verify()
    assert report_ok.ok, report_ok.problems()
    assert git(bob.root, "status", "--porcelain") == ""
    assert "Good" in subprocess.run(
        ["git", "-c", "gpg.ssh.allowedSignersFile=.stigmem/allowed_signers", "verify-commit",
         "HEAD"], cwd=bob.root, capture_output=True, text=True, check=True).stderr
    # The audit log is a persistent file of JSON lines.
    lines = (bob.root / AUDIT_FILE).read_text("utf-8").splitlines()
    assert {json.loads(line)["kind"] for line in lines} >= {k for k, _c in bad.values()}

    # Syncing again changes nothing and audits nothing new: the push was judged once.
    audit_len = len(bob.vault.audit_log())
    [again] = bob.sync()
    assert (again.imported, again.quarantined, again.forged_commits) == (0, 0, 0)
    assert len(bob.vault.audit_log()) == audit_len
    assert bob.fact_ids() == ids

    # Replication is not wedged: Alice's next honest fact still arrives.
    later = alice.say("codex:state", "after the attack", source="agent:codex")
    alice.sync()
    bob.sync()
    assert later.id in bob.fact_ids()


def test_rewrites_and_deletions_of_accepted_facts_are_refused(world) -> None:
    alice, mallory, bob, attacker = world
    key = mallory.vault.signing_key_for("agent:mallory")
    accepted = bob.fact_ids()
    before_audit = len(bob.vault.audit_log())

    # On Mallory's own branch: one of its facts replaced by another, one deleted, one new.
    m_branch = f"stigmem/team/{mallory.node_id}"
    m_tip = attacker.git("rev-parse", m_branch).strip()
    m_paths = [p for p in attacker.git("ls-tree", "-r", "--name-only", m_tip).split()
               if p.startswith("facts/")]
    replacement = signed_fact(key, source="agent:mallory", relation="codex:hint",
                              value="changed my mind")
    newcomer = signed_fact(key, source="agent:mallory", relation="codex:hint", value="new",
                           entity="project:hermes")
    tree = attacker.tree_with(m_tip, [
        ("100644", attacker.blob(fact_bytes(replacement)), m_paths[0]),
        ("delete", "", m_paths[1]),
        ("100644", attacker.blob(fact_bytes(newcomer)), canonical_path(newcomer)),
    ])
    attacker.push(attacker.commit(tree, m_tip), m_branch)

    # On Alice's branch (Mallory cannot sign as Alice's node): a tampered copy of one of her
    # facts, next to an honest new fact of Alice's that Mallory relays.
    a_branch = f"stigmem/team/{alice.node_id}"
    a_tip = attacker.git("rev-parse", a_branch).strip()
    a_path = next(p for p in attacker.git("ls-tree", "-r", "--name-only", a_tip).split()
                  if p.startswith("facts/") and "codex.state" in p)
    original = attacker.git("cat-file", "-p", f"{a_tip}:{a_path}").encode()
    tampered = original.replace(b'value_string: "draft"', b'value_string: "shipped"')
    assert tampered != original
    relayed = alice.say("codex:state", "relayed honestly", source="agent:codex",
                        entity="project:hermes")
    relayed_bytes = (alice.root / alice.vault.path_of(relayed)).read_bytes()
    tree = attacker.tree_with(a_tip, [
        ("100644", attacker.blob(tampered), a_path),
        ("100644", attacker.blob(relayed_bytes), alice.vault.path_of(relayed)),
    ])
    attacker.push(attacker.commit(tree, a_tip), a_branch)

    [report] = bob.sync()
    assert report.error is None
    assert report.imported == 2  # the newcomer and Alice's relayed fact
    assert report.forged_commits == 2  # neither commit is signed by its branch's node key
    kinds = {(e.path, e.kind) for e in bob.vault.audit_log()[before_audit:]}
    assert (m_paths[0], "rewrite") in kinds
    assert (m_paths[1], "deletion") in kinds
    assert (a_path, "rewrite") in kinds
    forged = [e for e in bob.vault.audit_log()[before_audit:] if e.kind == "forged-commit"]
    assert {e.branch for e in forged} == {m_branch, a_branch}

    # Nothing accepted before was changed or removed.
    now = bob.fact_ids()
    assert set(accepted) <= set(now)
    assert set(now) - set(accepted) == {newcomer.id, relayed.id}
    assert replacement.id not in now
    assert bob.vault.verify().ok
    assert b'value_string: "draft"' in (bob.root / a_path).read_bytes()


def test_branches_of_made_up_nodes_with_broken_declarations(world) -> None:
    """Branches named after nodes that do not exist, with junk where declarations belong:
    audited, never a crash; a replayed fact is a no-op, a new honest fact still gets in."""
    alice, mallory, bob, attacker = world
    key = mallory.vault.signing_key_for("agent:mallory")
    accepted = bob.fact_ids()
    a_tip = attacker.git("rev-parse", f"stigmem/team/{alice.node_id}").strip()
    replayed = [p for p in attacker.git("ls-tree", "-r", "--name-only", a_tip).split()
                if p.startswith("facts/")]
    fresh = signed_fact(key, source="agent:mallory", relation="codex:hint", value="via a ghost")
    alice_declaration = attacker.git("cat-file", "-p",
                                     f"{a_tip}:.stigmem/peers/{alice.node_id}.json").encode()

    # Ghost 1: '.stigmem/peers' is a file, not a folder; Alice's facts replayed; one new fact.
    ghost1 = "0123456789abcdef"
    entries = [("100644", attacker.git("rev-parse", f"{a_tip}:{p}").strip(), p) for p in replayed]
    entries += [("100644", attacker.blob(b"not a folder"), ".stigmem/peers"),
                ("100644", attacker.blob(fact_bytes(fresh)), canonical_path(fresh))]
    attacker.push(attacker.commit(attacker.tree_with(None, entries), None), f"stigmem/team/{ghost1}")
    # Ghost 2: a declaration that is not JSON and a real one filed under the wrong name.
    ghost2 = "fedcba9876543210"
    entries = [("100644", attacker.blob(b"{not json"), f".stigmem/peers/{ghost2}.json"),
               ("100644", attacker.blob(alice_declaration), f".stigmem/peers/{ghost1}.json"),
               ("120000", attacker.blob(b"/etc/passwd"), ".stigmem/peers/link.json")]
    attacker.push(attacker.commit(attacker.tree_with(None, entries), None), f"stigmem/team/{ghost2}")

    before = len(bob.vault.audit_log())
    [report] = bob.sync()
    assert report.error is None
    assert report.imported == 1 and fresh.id in bob.fact_ids()
    assert sorted(set(bob.fact_ids()) - set(accepted)) == [fresh.id]  # replays: no duplicates
    assert len(bob.fact_ids()) == len(set(bob.fact_ids()))
    assert report.new_peers == []
    kinds = {(e.branch, e.path, e.kind) for e in bob.vault.audit_log()[before:]}
    assert (f"stigmem/team/{ghost1}", ".stigmem/peers", "invalid-declaration") in kinds
    assert (f"stigmem/team/{ghost2}", f".stigmem/peers/{ghost2}.json", "invalid-declaration") in kinds
    assert (f"stigmem/team/{ghost2}", f".stigmem/peers/{ghost1}.json", "invalid-declaration") in kinds
    assert (f"stigmem/team/{ghost2}", ".stigmem/peers/link.json", "invalid") in kinds  # a symlink
    assert {e.branch for e in bob.vault.audit_log()[before:] if e.kind == "forged-commit"} == {
        f"stigmem/team/{ghost1}", f"stigmem/team/{ghost2}"}
    assert {p.node_id for p in bob.vault.peers()} == {alice.node_id, mallory.node_id}


def test_a_pushed_key_look_alike_never_bricks_the_receiver(world, nodes: Nodes) -> None:
    """Issue 9, item 1: a forged fact whose bytes hold PEM key armor is quarantined as data;
    the receiver opens again afterwards (the key-material guard never reads quarantine)."""
    _alice, mallory, bob, attacker = world
    key = mallory.vault.signing_key_for("agent:mallory")
    branch = f"stigmem/team/{mallory.node_id}"
    tip = attacker.git("rev-parse", branch).strip()
    armor = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE=\n-----END OPENSSH PRIVATE KEY-----"
    honest = signed_fact(key, source="agent:mallory", relation="codex:other", value="x")
    forged = dataclasses.replace(
        signed_fact(key, source="agent:mallory", relation="codex:paste", value=armor),
        signature=honest.signature)
    tree = attacker.tree_with(tip, [
        ("100644", attacker.blob(fact_bytes(forged)), canonical_path(forged))])
    attacker.push(attacker.commit(tree, tip, "nothing to see"), branch)

    [report] = bob.sync()
    assert report.quarantined == 1
    [entry] = [e for e in bob.vault.audit_log() if e.path == canonical_path(forged)]
    assert entry.quarantined and b"PRIVATE KEY" in (bob.root / entry.quarantined).read_bytes()
    reopened = nodes.reopen(bob)
    assert reopened.vault.verify().ok


def test_a_branch_with_objects_git_refuses_does_not_stop_replication(world,
                                                                    served: Path) -> None:
    """Tree entries whose mode lies about their object (a 'file' naming a tree, a 'folder'
    naming a blob) written by hand into the hub: git refuses to send that branch, so it is
    refused and audited, and every other branch of the hub still replicates."""
    alice, mallory, bob, attacker = world
    key = mallory.vault.signing_key_for("agent:mallory")
    branch = f"stigmem/team/{mallory.node_id}"
    tip = attacker.git("rev-parse", branch).strip()
    honest = signed_fact(key, source="agent:mallory", relation="codex:honest", value="kept")
    some_tree = attacker.git("rev-parse", f"{tip}^{{tree}}").strip()
    zz = attacker.raw_tree([("100644", "lies.md", some_tree),
                            ("40000", "sub", attacker.blob(b"just bytes"))])
    base = attacker.tree_with(tip, [("100644", attacker.blob(fact_bytes(honest)),
                                     canonical_path(honest))])
    def replace(tree: str, name: str, sub: str) -> str:  # ``tree`` with folder ``name`` = sub
        kept = [line for line in attacker.git("ls-tree", tree).splitlines()
                if not line.endswith(f"\t{name}")]
        return attacker.git("mktree", "--missing", input="".join(
            f"{line}\n" for line in [*kept, f"040000 tree {sub}\t{name}"]).encode()).strip()

    project = replace(f"{base}:facts/team/project", "zz", zz)
    team = replace(f"{base}:facts/team", "project", project)
    root = replace(base, "facts", replace(f"{base}:facts", "team", team))
    crafted = attacker.commit(root, tip, "lying modes")
    # git's own pack-objects refuses to send such trees, so the attacker writes the objects
    # straight into the hub's folder (a shared drive, a server they can log in to).
    hub = served / "r.git"
    shutil.copytree(attacker.path / "objects", hub / "objects", dirs_exist_ok=True)
    git(hub, "update-ref", f"refs/heads/{branch}", crafted)
    later = alice.say("codex:state", "still replicating", source="agent:codex")
    alice.sync()

    [report] = bob.sync()
    assert report.error is None, report.error
    assert later.id in bob.fact_ids()  # Alice's branch still arrives
    assert honest.id not in bob.fact_ids()  # nothing of the refused branch does
    assert any(b == branch and "cannot be fetched" in why for b, why in report.refused), report
    assert any(e.kind == "refused-update" and e.branch == branch for e in bob.vault.audit_log())
    assert bob.vault.verify().ok
    assert git(bob.root, "status", "--porcelain") == ""
