"""Partial failure: the transport dies mid-pull and mid-push, a sync crashes mid-way; the next
sync converges with no duplicate facts and no loss.

The remote is served by a real ``git daemon``; the nodes reach it through a relay that
SIGKILLs the daemon (and the upload-pack / receive-pack serving the transfer) once part of the
pack went through, then drops the connection.
"""

from __future__ import annotations

import pytest

from stigmem_vault.federation import state as fed

from .support import GitDaemon, Node, Nodes, Relay, git, remote_branches

FACTS = 150  # a pack of about a hundred kilobytes: the cut lands well inside it
CUT_AFTER = 16 * 1024


def many(node: Node, prefix: str, scope: str = "team") -> set[str]:
    ids = {node.vault.assert_fact(entity=f"project:{prefix}-{i}", relation="codex:state",
                                  value=f"{prefix} {i} " + "x" * 200, scope=scope).id
           for i in range(FACTS)}
    node.vault.flush()
    return ids


@pytest.fixture
def relays():
    made: list[Relay] = []
    yield made
    for relay in made:
        relay.close()


@pytest.fixture
def pair(nodes: Nodes, daemon: GitDaemon, remote, relays: list[Relay]):
    """A and B reach the daemon through relays (B's may cut); they have admitted each other.

    The relays keep the nodes' remote URLs stable while the daemon is restarted elsewhere."""
    path = remote("r")
    relays += [Relay(daemon.port), Relay(daemon.port)]
    a = nodes("a", "user:alice")
    b = nodes("b", "user:bob")
    a.vault.add_remote("origin", relays[0].url("r.git"), ["team"])
    b.vault.add_remote("origin", relays[1].url("r.git"), ["team"])
    a.sync()
    b.sync()
    a.sync()
    a.trust(b)
    b.trust(a)
    return a, b, relays[1], path


def restart(daemon: GitDaemon, relays: list[Relay]) -> None:
    """The server comes back (on a fresh port: the killed one may still be held)."""
    for relay in relays:
        relay.settle()
    daemon.start()
    for relay in relays:
        relay.target, relay.cut_after = daemon.port, None


def test_transport_killed_mid_pull_then_converges(pair, daemon: GitDaemon,
                                                  relays: list[Relay]) -> None:
    a, b, relay, _path = pair
    sent = many(a, "pulled")
    a.sync()
    held = b.fact_ids()
    head = b.vault.git.repo.head.target

    relay.direction, relay.cut_after, relay.on_cut = "down", CUT_AFTER, daemon.kill
    [report] = b.sync(ok=False)
    assert relay.cut.is_set(), ("the transfer finished before the cut", relay.moved, report)
    relay.settle()
    assert report.error is not None and "fetch" in report.error
    assert report.imported == 0
    assert b.fact_ids() == held and b.vault.git.repo.head.target == head  # nothing half-imported
    [row] = b.vault.sync_status()
    assert row.last_error == report.error and row.failures == 1

    restart(daemon, relays)
    [report] = b.sync()
    assert report.imported == FACTS
    ids = b.fact_ids()
    assert len(ids) == len(set(ids))  # no duplicates
    assert sent <= set(ids)  # no loss
    assert b.vault.sync_status()[0].last_error is None
    assert b.vault.sync_status()[0].failures == 0
    assert b.vault.verify().ok


def test_transport_killed_mid_push_then_converges(pair, daemon: GitDaemon,
                                                  relays: list[Relay]) -> None:
    a, b, relay, path = pair
    sent = many(b, "pushed")
    branch = f"stigmem/team/{b.node_id}"
    before = remote_branches(path).get(branch)

    relay.direction, relay.cut_after, relay.on_cut = "up", CUT_AFTER, daemon.kill
    [report] = b.sync(ok=False)
    assert relay.cut.is_set(), ("the transfer finished before the cut", relay.moved, report)
    relay.settle()
    assert report.error is not None and "push" in report.error
    assert report.pushed == []
    assert remote_branches(path).get(branch) == before  # the remote did not take half a push
    assert b.vault.sync_status()[0].ahead == 1

    restart(daemon, relays)
    [report] = b.sync()
    assert report.pushed == ["team"]
    assert b.vault.sync_status()[0].ahead == 0
    git(path, "fsck", "--no-dangling")  # the remote repository is sound
    [pulled] = a.sync()
    assert pulled.imported == FACTS
    ids = a.fact_ids()
    assert len(ids) == len(set(ids)) and sent <= set(ids)
    assert a.fact_ids() == b.fact_ids()  # converged


def test_a_sync_that_crashes_after_importing_recovers(pair, nodes: Nodes,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The process dies after the import commit but before the sync state is saved: the
    next sync (a new process) judges the same commits again and imports nothing twice."""
    a, b, _relay, _path = pair
    sent = many(a, "crash")
    a.sync()

    def crash(*_args: object) -> None:
        raise SystemExit("killed")

    monkeypatch.setattr(fed, "save_state", crash)
    with pytest.raises(SystemExit):
        b.vault.sync()
    monkeypatch.undo()
    assert sent <= set(b.fact_ids())  # the import itself was durable
    nodes.reopen(b)
    [report] = b.sync()
    assert report.imported == 0
    ids = b.fact_ids()
    assert len(ids) == len(set(ids)) and sent <= set(ids)
    assert git(b.root, "status", "--porcelain") == ""
