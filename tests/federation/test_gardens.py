"""Gardens between vaults, over a bare remote: a garden and its facts travel with their scope,
each vault computes the same garden from the same signed records, membership holds on the
receiver too, and a peer's garden records or garden facts without the authority to make them
are quarantined (``garden-unauthorized``) and change nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from stigmem_vault.errors import NotFound
from stigmem_vault.federation.state import QUARANTINE_DIR
from stigmem_vault.mcp.server import principal_for
from stigmem_vault.model import gardens as g
from stigmem_vault.model.fact import make_claim
from stigmem_vault.model.values import make_value

from .support import Node, Nodes, bare_repo


def _admit_each_other(*nodes: Node) -> None:
    for node in nodes:
        node.sync()
    for node in nodes:
        node.sync()
        for other in nodes:
            if other is not node:
                node.trust(other)


def _plan(node: Node, value: str, garden: str | None, source: str) -> str:
    view = node.vault.as_principal(node.vault.operator())
    claim = make_claim(entity="project:atlas", relation="memory:plan", scope="team",
                       value=make_value("string", value), source=source)
    item, _ = view.write(view.in_garden(claim, garden))
    node.vault.flush()
    return item.fact.id


@pytest.fixture
def pair(nodes: Nodes, tmp_path: Path) -> tuple[Node, Node]:
    remote = bare_repo(tmp_path / "r.git")
    alice = nodes("alice", "user:alice")
    bob = nodes("bob", "user:bob", "agent:carol")
    for node in (alice, bob):
        node.vault.add_remote("origin", str(remote), ["team"])
    _admit_each_other(alice, bob)
    return alice, bob


def test_a_garden_and_its_facts_travel_and_stay_fenced(pair: tuple[Node, Node]) -> None:
    alice, bob = pair
    owner = alice.vault.as_principal(alice.vault.operator())
    crew = owner.create_garden(slug="crew", name="Crew", scope="team")
    owner.add_garden_member("crew", "user:bob", "writer")
    secret = _plan(alice, "launch friday", "crew", "user:alice")
    alice.sync()
    bob.sync()

    # Bob's vault computes the same garden from the same records, and holds the fact.
    on_bob = bob.vault.as_principal(bob.vault.operator())
    mirrored = on_bob.garden(crew.garden_id)
    assert (mirrored.id, mirrored.scope, mirrored.created_by) == (crew.id, "team", "user:alice")
    assert {p: m.role for p, m in mirrored.members.items()} == {"user:alice": "admin",
                                                                 "user:bob": "writer"}
    assert bob.vault.lookup(secret).status == "valid"
    assert bob.vault.lookup(secret).fact.garden_id == crew.garden_id
    # On Bob's vault too, a principal outside the garden does not see it or its fact.
    carol = bob.vault.as_principal(principal_for(bob.vault, "agent:carol", ["team"]))
    with pytest.raises(NotFound):
        carol.get(secret)
    with pytest.raises(NotFound):
        carol.garden("crew")
    assert secret not in [i.fact.id for i in carol.query(carol.filters(include_superseded=True))]

    # Bob (a writer) writes into the garden; it travels back and is accepted.
    reply = _plan(bob, "friday is fine", "crew", "user:bob")
    bob.sync()
    alice.sync()
    assert alice.vault.lookup(reply).status == "valid"
    assert "garden-unauthorized" not in alice.audit_kinds()
    assert reply in [i.fact.id for i in owner.query(owner.filters(garden="crew"))]


def test_hostile_garden_records_from_a_peer_are_quarantined(pair: tuple[Node, Node],
                                                           nodes: Nodes, tmp_path: Path) -> None:
    alice, bob = pair
    owner = alice.vault.as_principal(alice.vault.operator())
    crew = owner.create_garden(slug="crew", name="Crew", scope="team")
    owner.add_garden_member("crew", "user:bob", "reader")
    alice.sync()
    bob.sync()
    # Bob is only a reader, and an admitted peer: his node signs what no honest node would
    # write (the view refuses it, so he writes below it): himself as admin, a rename, and a
    # fact in the garden.
    hostile = []
    for relation, value in ((g.member_relation("user:bob"), "admin user:bob"),
                            (g.NAME, "Bob's now")):
        claim = make_claim(entity=crew.garden_id, relation=relation, scope="team",
                           value=make_value("string", value), source="user:bob",
                           garden_id=crew.garden_id)
        hostile.append(bob.vault.write_claim(claim).id)
    hostile.append(bob.vault.write_claim(make_claim(
        entity="project:atlas", relation="memory:plan", scope="team", source="user:bob",
        value=make_value("string", "cancelled"), garden_id=crew.garden_id)).id)
    bob.vault.flush()
    bob.sync()
    alice.sync()

    for fid in hostile:
        with pytest.raises(NotFound):
            alice.vault.lookup(fid)
    entries = [e for e in alice.vault.audit_log() if e.kind == "garden-unauthorized"]
    assert len(entries) == 3 and all(e.quarantined for e in entries)
    assert all((alice.root / e.quarantined).is_file() for e in entries if e.quarantined)
    assert QUARANTINE_DIR in entries[0].quarantined
    unchanged = owner.garden("crew")
    assert unchanged.name == "Crew" and unchanged.role("user:bob") == "reader"
    # Even where the hostile records are (Bob's own vault), they do not apply: the fold
    # takes records from admins only.
    assert bob.vault.as_principal(bob.vault.operator()).garden("crew").role("user:bob") == "reader"


def test_gardens_survive_restart_and_reindex(nodes: Nodes) -> None:
    alice = nodes("alice", "user:alice", "agent:codex", "agent:carol")
    owner = alice.vault.as_principal(alice.vault.operator())
    owner.create_garden(slug="crew", name="Crew", scope="team", description="the crew")
    owner.add_garden_member("crew", "agent:codex", "writer")
    secret = _plan(alice, "launch friday", "crew", "user:alice")

    def check() -> None:
        view = alice.vault.as_principal(alice.vault.operator())
        crew = view.garden("crew")
        assert (crew.name, crew.description, crew.scope) == ("Crew", "the crew", "team")
        assert crew.role("agent:codex") == "writer"
        codex = alice.vault.as_principal(principal_for(alice.vault, "agent:codex", ["team"]))
        assert codex.get(secret).fact.garden_id == crew.garden_id
        carol = alice.vault.as_principal(principal_for(alice.vault, "agent:carol", ["team"]))
        with pytest.raises(NotFound):
            carol.get(secret)

    check()
    nodes.reopen(alice)
    check()
    alice.vault.reindex()
    check()
    # The records are committed: a fresh clone's index (rebuilt from git) has the garden.
    index = alice.root / ".stigmem" / "index"
    for path in index.iterdir():
        path.unlink()
    nodes.reopen(alice)
    check()
