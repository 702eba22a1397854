"""Key rotation: a new key signed by the old one; facts signed by the old key stay verifiable.

B admitted A before A rotated an agent key and its owner key. After a sync B follows the
rotation through A's new declaration: A's old facts still verify, new ones are accepted. A
new owner key that the pinned one did not sign is not followed.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from nacl.signing import SigningKey

from stigmem_vault.canonical.signing import key_id
from stigmem_vault.federation.declaration import fingerprint, make_declaration

from .support import Node, Nodes, Workspace, bare_repo


def admitted_pair(nodes: Nodes, tmp_path: Path) -> tuple[Node, Node, str]:
    url = str(bare_repo(tmp_path / "r.git"))
    a = nodes("a", "user:alice", "agent:codex")
    b = nodes("b", "user:bob")
    for node in (a, b):
        node.vault.add_remote("origin", url, ["team"])
    a.sync()
    b.sync()
    b.trust(a)
    return a, b, url


def test_rotated_keys_keep_old_facts_valid_and_new_facts_flowing(nodes: Nodes,
                                                                 tmp_path: Path) -> None:
    a, b, _url = admitted_pair(nodes, tmp_path)
    old_agent = a.say("codex:state", "before rotation", source="agent:codex")
    old_owner = a.say("codex:owner", "alice", entity="project:zeus")
    a.sync()
    b.sync()
    assert {old_agent.id, old_owner.id} <= set(b.fact_ids())
    pinned = b.vault.peers()[0].fingerprint

    agent = a.vault.rotate_identity("agent:codex")
    owner = a.vault.rotate_identity("user:alice")
    assert agent.key != old_agent.signer and owner.key != old_owner.signer
    new_agent = a.say("codex:state", "after rotation", source="agent:codex",
                      entity="project:hermes")
    new_owner = a.say("codex:owner", "alice again", entity="project:hermes")
    assert (new_agent.signer, new_owner.signer) == (agent.key, owner.key)
    assert a.vault.verify().ok  # A itself still verifies its old facts

    a.sync()
    [report] = b.sync()
    assert report.error is None and report.quarantined == 0, (report, b.vault.audit_log())
    assert {old_agent.id, old_owner.id, new_agent.id, new_owner.id} <= set(b.fact_ids())
    for fact in (old_agent, old_owner, new_agent, new_owner):
        assert b.vault.lookup(fact.id).status == "valid"
    verified = b.vault.verify()
    assert verified.ok, verified.problems()
    [peer] = b.vault.peers()
    assert peer.status == "trusted"
    assert peer.fingerprint == fingerprint(owner.key) != pinned  # the pin followed the chain
    assert ("agent:codex", agent.key) in peer.identities
    assert not any(e.kind == "peer-declaration" for e in b.vault.audit_log())
    head = subprocess.run(["git", "-c", "gpg.ssh.allowedSignersFile=.stigmem/allowed_signers",
                           "verify-commit", "HEAD"], cwd=b.root, capture_output=True, text=True)
    assert head.returncode == 0 and "Good" in head.stderr, head.stderr

    # Reopening B (trust store reloaded from disk) changes nothing.
    nodes.reopen(b)
    assert b.vault.verify().ok


def test_a_new_owner_key_not_signed_by_the_pinned_one_is_not_followed(nodes: Nodes,
                                                                      tmp_path: Path) -> None:
    a, b, url = admitted_pair(nodes, tmp_path)
    pinned = b.vault.peers()[0]
    # Mallory publishes a declaration for A's node id under her own owner key.
    impostor = SigningKey.generate()
    stolen_agent = SigningKey.generate()
    declaration = make_declaration(
        owner="user:alice", owner_key=impostor, node_key=a.vault.node.key, scopes=["team"],
        identities=[(f"system:node-{a.node_id}", a.vault.node.key),
                    ("agent:codex", key_id(stolen_agent.verify_key))],
        signed_at="2026-11-24T10:00:00.000Z")
    workspace = Workspace.create(tmp_path / "w.git", url)
    tree = workspace.tree_with(None, [("100644", workspace.blob(declaration.to_json().encode()),
                                       declaration.relpath)])
    workspace.push(workspace.commit(tree, None), "stigmem/team/00000000deadbeef")

    [report] = b.sync()
    assert report.error is None
    [peer] = b.vault.peers()
    assert (peer.fingerprint, peer.status) == (pinned.fingerprint, "trusted")
    assert ("agent:codex", key_id(stolen_agent.verify_key)) not in peer.identities
    assert not b.vault.trust.knows_key(key_id(stolen_agent.verify_key))
    assert any(e.kind == "peer-declaration" and a.node_id in e.reason
               for e in b.vault.audit_log())
