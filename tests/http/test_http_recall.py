"""POST /v1/recall and GET /v1/graph/neighbors (contract §3.6)."""

from __future__ import annotations

import hashlib
import uuid

import pytest
from http_support import Node

from stigmem_vault.client import ClientError, StigmemClient

BREAKDOWN = {"lexical", "semantic", "graph", "source_trust", "recency", "weighted_total"}


def test_recall_response_shape(client: StigmemClient) -> None:
    fact = client.assert_fact("user:alice", "memory:role", "staff engineer", source="agent:codex")
    client.assert_fact("user:alice", "memory:city", "paris", source="agent:codex")

    result = client.recall("engineer")

    raw = result.raw
    assert set(raw) >= {"recall_id", "query_hash", "facts", "content", "instructions",
                        "total_scored", "token_budget", "tokens_used", "truncated",
                        "tombstone_notices", "chain_proof"}
    assert len(result.recall_id) == 36 and str(uuid.UUID(result.recall_id)) == result.recall_id
    assert result.query_hash == hashlib.sha256(b"engineer").hexdigest()
    assert len(result.query_hash) == 64
    assert result.instructions == () and raw["instructions"] == []
    assert [hit.fact.id for hit in result.facts] == [fact.id]
    assert result.content == result.facts
    hit = raw["facts"][0]
    assert set(hit) >= {"fact", "score", "score_breakdown", "hop_distance", "token_estimate",
                        "from_card"}
    assert set(hit["score_breakdown"]) >= BREAKDOWN
    assert hit["fact"]["id"] == fact.id and "attested" in hit["fact"]
    assert result.facts[0].score > 0
    assert result.token_budget == 4000 and 0 < result.tokens_used <= 4000
    assert result.truncated is False
    assert client.last_response is not None
    assert client.last_response.headers["X-Total-Count"] == str(result.total_scored)


def test_recall_packs_into_the_token_budget(client: StigmemClient) -> None:
    for i in range(3):
        client.assert_fact("user:alice", f"memory:note{i}", f"engineer note number {i} " * 5,
                           source="agent:codex")
    full = client.recall("engineer")
    assert len(full.facts) == 3

    tight = client.recall("engineer", token_budget=full.facts[0].token_estimate)

    assert tight.truncated is True and len(tight.facts) == 1
    assert tight.tokens_used <= tight.token_budget


def test_recall_ranks_higher_confidence_first(client: StigmemClient) -> None:
    sure = client.assert_fact("user:alice", "memory:role", "engineer", source="agent:codex")
    unsure = client.assert_fact("user:bob", "memory:role", "engineer", source="agent:codex",
                                confidence=0.4)

    assert [h.fact.id for h in client.recall("engineer").facts] == [sure.id, unsure.id]
    assert [h.fact.id for h in client.recall("engineer", min_confidence=0.5).facts] == [sure.id]


@pytest.mark.parametrize(("body", "status"), [
    ({"query": ""}, 422), ({}, 422), ({"query": "x", "depth": 4}, 422),
    ({"query": "x", "token_budget": 0}, 422), ({"query": "x", "limit": 501}, 422),
    ({"query": "x", "scope": "universe"}, 400), ({"query": 5}, 422),
])
def test_bad_recall_requests(client: StigmemClient, body: dict[str, object], status: int) -> None:
    assert client.request("POST", "/v1/recall", json=body).status_code == status


def test_neighbors_walk_ref_facts(client: StigmemClient) -> None:
    client.assert_fact("project:atlas", "rel:owner", "user:alice", value_type="ref",
                       source="agent:codex", scope="team")
    client.assert_fact("user:alice", "memory:manager", "user:bob", value_type="ref",
                       source="agent:codex", scope="team")
    client.assert_fact("user:bob", "memory:mentor", "user:carol", value_type="ref",
                       source="agent:codex", scope="team")

    one = client.neighbors("project:atlas", "team")
    assert (one.entity, one.depth) == ("project:atlas", 1)
    assert [(n.entity, n.relation, n.hops) for n in one.neighbors] == [("user:alice", "rel:owner", 1)]
    assert set(one.neighbors[0].__dataclass_fields__) >= {"entity", "relation", "hops",
                                                          "confidence", "source_trust", "path"}

    two = client.neighbors("Project:Atlas", "team", depth=2)
    assert two.entity == "project:atlas"
    assert [(n.entity, n.hops, n.path) for n in two.neighbors] == [
        ("user:alice", 1, ("project:atlas", "user:alice")),
        ("user:bob", 2, ("project:atlas", "user:alice", "user:bob"))]
    three = client.neighbors("project:atlas", "team", depth=3)
    assert three.total_hint == 3
    assert client.neighbors("project:atlas", "team", depth=3, relation_filter="rel:*").total_hint == 1
    assert client.neighbors("project:atlas", "company").neighbors == ()

    first = client.neighbors("project:atlas", "team", depth=3, page_size=2)
    assert len(first.neighbors) == 2 and first.next_cursor is not None
    rest = client.neighbors("project:atlas", "team", depth=3, page_size=2, cursor=first.next_cursor)
    assert [n.entity for n in first.neighbors + rest.neighbors] == \
        [n.entity for n in three.neighbors]
    assert rest.next_cursor is None


@pytest.mark.parametrize("depth", [0, 4, 10])
def test_neighbors_depth_out_of_range_is_400(client: StigmemClient, depth: int) -> None:
    with pytest.raises(ClientError) as caught:
        client.neighbors("project:atlas", "team", depth=depth)
    assert (caught.value.status, caught.value.code) == (400, "graph_depth_exceeded")


def test_neighbors_bad_parameters(client: StigmemClient) -> None:
    for params, status in [({"entity": "project:atlas"}, 422), ({"scope": "team"}, 422),
                           ({"entity": "project:atlas", "scope": "universe"}, 400),
                           ({"entity": "project:atlas", "scope": "team", "cursor": "!!"}, 400)]:
        assert client.request("GET", "/v1/graph/neighbors", params=params).status_code == status


def test_neighbors_stay_in_the_token_scopes(node: Node) -> None:
    node.client("codex").assert_fact("project:atlas", "rel:owner", "user:alice", value_type="ref",
                                     source="agent:codex", scope="company")
    team = node.client("team")
    with pytest.raises(ClientError) as caught:
        team.neighbors("project:atlas", "company")
    assert (caught.value.status, caught.value.code) == (403, "scope_not_permitted")
    assert team.neighbors("project:atlas", "team").neighbors == ()


def test_recall_as_of_reads_the_vault_as_it_was(client: StigmemClient) -> None:
    first = client.assert_fact("service:checkout", "service:owner", "team-a", source="agent:codex")
    before_second = first.hlc
    second = client.assert_fact("service:checkout", "service:owner", "team-b", source="agent:codex")

    assert [h.fact.id for h in client.recall("owner").facts] == [second.id]
    assert [h.fact.id for h in client.recall("owner", as_of=before_second).facts] == [first.id]
    assert client.recall("owner", as_of="2020-01-01T00:00:00Z").facts == ()
    assert client.recall("owner", as_of=second.timestamp).facts[0].fact.id == second.id


@pytest.mark.parametrize(("body", "field"), [
    ({"as_of": "not-a-date"}, "as_of"),
    ({"as_of": "2100-01-01T00:00:00Z"}, "as_of"),
    ({"as_of": "2999-01-01T00:00:00Z"}, "as_of"),
    ({"weights": {"lexcial": 1.0}}, "weights.lexcial"),
    ({"weights": {"lexical": 2}}, "weights.lexical"),
    ({"weights": {"lexical": "high"}}, "weights.lexical"),
    ({"weights": {"lexical": 0, "graph": 0, "source_trust": 0, "recency": 0}}, "weights"),
    ({"depth": 0}, "depth"),
    ({"include_neighbors": "yes"}, "include_neighbors"),
])
def test_recall_refuses_what_it_cannot_honour_with_422(client: StigmemClient,
                                                       body: dict[str, object],
                                                       field: str) -> None:
    response = client.request("POST", "/v1/recall", json={"query": "owner", **body})
    assert response.status_code == 422, response.text
    error = ClientError(422, response.json()["detail"], error=response.json()["error"])
    assert field in error.fields, error.fields
    assert isinstance(response.json()["detail"], str)


def test_recall_walks_to_neighbours_and_scores_them_by_hops(client: StigmemClient) -> None:
    owner = client.assert_fact("project:atlas", "rel:owner", "user:alice", value_type="ref",
                               source="agent:codex")
    city = client.assert_fact("user:alice", "memory:city", "paris", source="agent:codex")

    alone = client.recall("atlas", include_neighbors=False)
    assert [(h.fact.id, h.hop_distance, h.score_breakdown.graph) for h in alone.facts] == \
        [(owner.id, 0, 1.0)]
    walked = {h.fact.id: h for h in client.recall("atlas", depth=1).facts}
    assert set(walked) == {owner.id, city.id}
    assert (walked[city.id].hop_distance, walked[city.id].score_breakdown.graph) == (1, 0.5)
    assert walked[owner.id].score > walked[city.id].score


def test_recall_applies_weights(client: StigmemClient) -> None:
    sure = client.assert_fact("user:alice", "memory:role", "engineer", source="agent:codex")
    client.assert_fact("user:bob", "memory:role", "engineer engineer", source="agent:codex",
                       trust="stale-risk")
    trust_only = {"lexical": 0, "semantic": 0, "graph": 0, "source_trust": 1, "recency": 0}
    hits = client.recall("engineer", weights=trust_only, include_neighbors=False).facts
    assert hits[0].fact.id == sure.id
    assert hits[0].score == pytest.approx(hits[0].score_breakdown.source_trust)
    assert hits[1].score == pytest.approx(0.3)  # stale-risk counts 0.3


def test_recall_finds_words_inside_identifiers(client: StigmemClient) -> None:
    latency = client.assert_fact("service:checkout", "service:latency_p99_ms", 250,
                                 value_type="number", source="agent:codex")
    incident = client.assert_fact("service:checkout", "service:open_incident", True,
                                  value_type="boolean", source="agent:codex")
    for text, wanted in [("recall latency", latency.id), ("p99", latency.id),
                         ("incident", incident.id)]:
        assert [h.fact.id for h in client.recall(text, include_neighbors=False).facts] == \
            [wanted], text
