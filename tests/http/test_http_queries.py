"""GET /v1/facts: every filter, winner selection, cursor paging, limits and as_of (contract §3.3)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from http_support import Node, wait_for

from stigmem_vault.client import ClientError, Fact, StigmemClient


def ids(facts: tuple[Fact, ...] | list[Fact]) -> list[str]:
    return [f.id for f in facts]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_equality_filters(node: Node, client: StigmemClient) -> None:
    alice = node.client("alice")
    role = client.assert_fact("user:alice", "memory:role", "engineer", source="agent:codex",
                              scope="team")
    team = client.assert_fact("user:bob", "memory:role", "designer", source="agent:codex",
                              scope="team")
    company = client.assert_fact("user:bob", "memory:team", "atlas", source="agent:codex",
                                 scope="company")
    own = alice.assert_fact("user:carol", "memory:role", "lead", source="user:alice", scope="team")

    assert ids(client.list_facts(entity="user:alice").facts) == [role.id]
    assert ids(client.list_facts(entity="  USER:Bob ").facts) == [company.id, team.id]  # normalized
    assert ids(client.list_facts(relation="memory:team").facts) == [company.id]
    assert ids(client.list_facts(source="user:alice").facts) == [own.id]
    assert ids(client.list_facts(scope="company").facts) == [company.id]
    assert ids(client.list_facts(entity="user:bob", scope="team").facts) == [team.id]
    assert ids(client.list_facts(trust="observed", relation="memory:role").facts) == \
        [own.id, team.id, role.id]
    assert client.list_facts(entity="user:nobody").facts == ()


def test_min_confidence(client: StigmemClient) -> None:
    low = client.assert_fact("user:alice", "memory:hobby", "chess", source="agent:codex",
                             confidence=0.3)
    high = client.assert_fact("user:alice", "memory:city", "paris", source="agent:codex",
                              confidence=0.9)

    assert ids(client.list_facts(min_confidence=0.5).facts) == [high.id]
    assert ids(client.list_facts(min_confidence=0.3).facts) == [high.id, low.id]
    assert client.list_facts(min_confidence=1.0).facts == ()


def test_include_expired(client: StigmemClient) -> None:
    gone = client.assert_fact("user:alice", "memory:session", "old", source="agent:codex",
                              valid_until="2000-01-01T00:00:00Z")
    live = client.assert_fact("user:alice", "memory:status", "busy", source="agent:codex",
                              valid_until="2999-01-01T00:00:00Z")

    assert gone.valid_until == "2000-01-01T00:00:00Z"  # echoed verbatim
    assert ids(client.list_facts().facts) == [live.id]
    assert ids(client.list_facts(include_expired=True).facts) == [live.id, gone.id]
    read = client.get_fact(gone.id)  # a direct lookup still answers
    assert read.expired is True and read.live is False


def test_include_superseded_and_retractions(client: StigmemClient) -> None:
    first = client.assert_fact("user:alice", "memory:role", "engineer", source="agent:codex")
    second = client.assert_fact("user:alice", "memory:role", "manager", source="agent:codex",
                                supersedes=first.id)
    retracted = client.assert_fact("user:alice", "memory:city", "paris", source="agent:codex")
    retraction = client.assert_fact("user:alice", "memory:city", "paris", source="agent:codex",
                                    confidence=0.0, supersedes=retracted.id)

    assert ids(client.list_facts().facts) == [second.id]
    everything = client.list_facts(include_superseded=True)
    assert ids(everything.facts) == [retraction.id, retracted.id, second.id, first.id]
    replaced = {f.id: f.superseded_by for f in everything.facts}
    assert replaced[first.id] == second.id and replaced[retracted.id] == retraction.id


def test_contradiction_shows_the_winner_by_default_and_both_on_request(node: Node) -> None:
    codex, alice = node.client("codex"), node.client("alice")
    strong = codex.assert_fact("user:alice", "memory:role", "engineer", source="agent:codex",
                               confidence=0.9)
    weak = alice.assert_fact("user:alice", "memory:role", "manager", source="user:alice",
                             confidence=0.8)

    default = codex.list_facts(entity="user:alice")
    assert ids(default.facts) == [strong.id]  # higher confidence wins, though older
    assert default.facts[0].contradicted is True
    both = codex.list_facts(entity="user:alice", include_contradicted=True)
    assert set(ids(both.facts)) == {strong.id, weak.id}
    assert all(f.contradicted for f in both.facts)
    assert codex.get_fact(weak.id).contradicted is True


def test_equal_confidence_the_later_fact_wins(node: Node) -> None:
    codex, alice = node.client("codex"), node.client("alice")
    codex.assert_fact("user:alice", "memory:role", "engineer", source="agent:codex")
    later = alice.assert_fact("user:alice", "memory:role", "manager", source="user:alice")

    assert ids(codex.list_facts(entity="user:alice").facts) == [later.id]


def test_after_is_strictly_later(client: StigmemClient) -> None:
    first = client.assert_fact("user:alice", "memory:hobby", "chess", source="agent:codex")
    wait_for(lambda: now_iso() > first.timestamp, what="the next millisecond")
    second = client.assert_fact("user:alice", "memory:city", "paris", source="agent:codex")

    assert ids(client.list_facts(after=first.timestamp).facts) == [second.id]
    assert client.list_facts(after=second.timestamp).facts == ()


def test_cursor_paging_is_stable_across_pages(client: StigmemClient) -> None:
    written = [client.assert_fact("user:alice", f"memory:item{i}", f"v{i}", source="agent:codex")
               for i in range(7)]
    newest_first = ids(written)[::-1]
    assert ids(client.list_facts().facts) == newest_first

    pages, cursor = [], None
    while True:
        page = client.list_facts(limit=3, cursor=cursor)
        assert page.total == 7 + (1 if pages else 0)  # one more written after the first page
        assert client.last_response is not None
        assert client.last_response.headers["X-Total-Count"] == str(page.total)
        pages.append(ids(page.facts))
        if not pages[1:]:
            # A write between pages must neither shift nor repeat what follows.
            client.assert_fact("user:alice", "memory:late", "x", source="agent:codex")
        cursor = page.cursor
        if cursor is None:
            break
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [i for p in pages for i in p] == newest_first
    assert ids(list(client.iter_facts(limit=2))) == ids(client.list_facts().facts)


@pytest.mark.parametrize("limit", [0, -1, 501])
def test_limit_out_of_bounds_is_422(client: StigmemClient, limit: int) -> None:
    with pytest.raises(ClientError) as caught:
        client.list_facts(limit=limit)
    assert caught.value.status == 422 and caught.value.fields == ["limit"]


def test_limit_bounds_accepted(client: StigmemClient) -> None:
    fact = client.assert_fact("user:alice", "memory:role", "engineer", source="agent:codex")
    assert ids(client.list_facts(limit=1).facts) == [fact.id]
    assert ids(client.list_facts(limit=500).facts) == [fact.id]


def test_as_of_shows_the_vault_as_it_was(client: StigmemClient) -> None:
    old = client.assert_fact("user:alice", "memory:role", "engineer", source="agent:codex")
    new = client.assert_fact("user:alice", "memory:role", "manager", source="agent:codex",
                             supersedes=old.id)
    later = client.assert_fact("user:alice", "memory:city", "paris", source="agent:codex")

    assert ids(client.list_facts(as_of=old.hlc).facts) == [old.id]
    assert ids(client.list_facts(as_of=new.hlc).facts) == [new.id]
    assert ids(client.list_facts(as_of=later.hlc).facts) == [later.id, new.id]
    assert client.list_facts(as_of="2000-01-01T00:00:00Z").facts == ()
    assert ids(client.list_facts(as_of=now_iso()).facts) == [later.id, new.id]


@pytest.mark.parametrize(("params", "field"), [
    ({"scope": "universe"}, "scope"), ({"as_of": "yesterday"}, "as_of"),
    ({"as_of": "2999-01-01T00:00:00Z"}, "as_of"),  # the future: no index knows it
    ({"entity": "no scheme here"}, "entity"), ({"trust": "gossip"}, "trust"),
])
def test_bad_query_parameters_are_400_naming_the_field(client: StigmemClient,
                                                       params: dict[str, str], field: str) -> None:
    with pytest.raises(ClientError) as caught:
        client.list_facts(**params)
    assert caught.value.status == 400 and caught.value.fields == [field]


def test_garbage_cursor_is_400(client: StigmemClient) -> None:
    with pytest.raises(ClientError) as caught:
        client.list_facts(cursor="not-a-cursor")
    assert (caught.value.status, caught.value.code) == (400, "invalid_cursor")
