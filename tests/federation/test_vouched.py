"""Facts a node vouched for travel, and each receiver judges them by its own trust store
(docs/spec.md §9.5, §16.6): a peer's endorsement carries no vouch grant, so they wait in
quarantine until the receiver's owner lets that key vouch."""

from __future__ import annotations

from pathlib import Path

from stigmem_vault.model.fact import make_claim
from stigmem_vault.model.values import make_value

from .support import Nodes, bare_repo


def test_a_peers_vouched_facts_wait_for_the_receivers_grant(nodes: Nodes, tmp_path: Path) -> None:
    remote = bare_repo(tmp_path / "r.git")
    a = nodes("a", "user:alice")
    b = nodes("b", "user:bob")
    # What a's `--auth none` node writes for a client: signed by a's owner in agent:client's name.
    claim = make_claim(entity="project:atlas", relation="codex:state",
                       value=make_value("string", "from a client"), source="agent:client",
                       scope="team")
    written, _ = a.vault.as_principal(a.vault.operator()).write(claim, attestation="off")
    assert (written.status, written.vouched_by) == ("vouched", "user:alice")
    signed = a.say("codex:owner", "alice herself")
    a.vault.flush()
    for node in (a, b):
        node.vault.add_remote("r", str(remote), ["team"])
    a.sync()  # the projection carries the vouched fact: the receiver decides
    b.sync()
    b.trust(a)

    # b endorsed a's keys, but not as vouchers: alice's own fact comes in, the client's waits.
    assert b.fact_ids() == [signed.id]
    assert "untrusted-signer" in b.audit_kinds()

    b.vault.grant_vouch("user:alice")  # b's owner lets a's owner key vouch, here
    assert sorted(b.fact_ids()) == sorted([signed.id, written.fact.id])
    imported = b.vault.lookup(written.fact.id)
    assert (imported.status, imported.vouched_by, imported.live) == ("vouched", "user:alice", True)
