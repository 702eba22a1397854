"""The real upstream Python SDK (stigmem-py, pinned in pyproject) against our live node: what
issue 11 item 4 and 5 fixed, as an upstream client sees it (conflicts it can parse, 404 for an
id of upstream's shape, errors whose detail is text, recall with weights and as_of)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest
from http_support import Node
from stigmem import StigmemClient as UpstreamClient
from stigmem import string_value, verify_fact_cid
from stigmem.exceptions import StigmemHTTPError, StigmemNotFoundError
from stigmem.models import RecallRequest, RecallResponse, RecallWeights


@pytest.fixture
def sdk(node: Node) -> Iterator[Callable[[str], UpstreamClient]]:
    """``sdk(who)``: an upstream client with that principal's token."""
    made: list[UpstreamClient] = []

    def client(who: str) -> UpstreamClient:
        made.append(UpstreamClient(node.url, api_key=node.tokens[who]))
        return made[-1]

    yield client
    for one in made:
        one.close()


def disagree(sdk: Callable[[str], UpstreamClient], relation: str) -> tuple[str, str]:
    a = sdk("codex").assert_fact("user:alice", relation, string_value("engineer"), "agent:codex",
                                 scope="team")
    b = sdk("alice").assert_fact("user:alice", relation, string_value("manager"), "user:alice",
                                 scope="team")
    return a.id, b.id


def test_list_conflicts_parses_every_status(sdk: Callable[[str], UpstreamClient]) -> None:
    codex, alice = sdk("codex"), sdk("alice")
    disagree(sdk, "memory:role")  # stays open
    disagree(sdk, "memory:city")
    disagree(sdk, "memory:team")
    [to_resolve] = [c for c in codex.list_conflicts().conflicts
                    if c.fact_a.relation == "memory:city"]
    assert alice.resolve_conflict(to_resolve.conflict_id, winning_fact_id="a").conflict_status \
        == "resolved"
    codex.retract("user:alice", "memory:team", "team", "agent:codex",
                  value=string_value("engineer"))  # codex takes its word back: obsolete

    every = codex.list_conflicts(status=None).conflicts  # upstream's model refused "obsolete"
    by_relation = {c.fact_a.relation: c for c in every}
    assert {r: (c.status, (c.model_extra or {})["vault_status"])
            for r, c in by_relation.items()} == {
        "memory:role": ("unresolved", "open"), "memory:city": ("resolved", "resolved"),
        "memory:team": ("resolved", "obsolete")}
    assert by_relation["memory:city"].resolved_by is not None
    assert by_relation["memory:team"].resolved_by is None
    assert [c.fact_a.relation for c in codex.list_conflicts().conflicts] == ["memory:role"]


def test_get_by_id_and_cid_and_an_unknown_uuid(sdk: Callable[[str], UpstreamClient]) -> None:
    codex = sdk("codex")
    fact = codex.assert_fact("user:alice", "memory:role", string_value("engineer"),
                             "agent:codex", scope="team")
    assert codex.get(fact.id).id == fact.id
    assert fact.cid is not None and codex.get(fact.cid).id == fact.id
    assert verify_fact_cid(codex.get(fact.id)) == fact.cid

    for ref in (str(uuid.uuid4()), "00000000-0000-0000-0000-000000000000"):
        with pytest.raises(StigmemNotFoundError) as caught:
            codex.get(ref)
        assert caught.value.detail == "fact not found"


def test_error_details_are_text(sdk: Callable[[str], UpstreamClient]) -> None:
    codex = sdk("codex")
    with pytest.raises(StigmemHTTPError) as caught:
        codex.assert_fact("user:alice", "memory:role", string_value("x"), "agent:codex",
                          confidence=1.5)
    assert caught.value.status_code == 422
    assert isinstance(caught.value.detail, str) and "confidence" in caught.value.detail
    with pytest.raises(StigmemHTTPError) as caught:  # someone else's source, enforced
        codex.assert_fact("user:alice", "memory:role", string_value("x"), "user:alice")
    assert caught.value.status_code == 403 and isinstance(caught.value.detail, str)
    assert "object" not in str(caught.value)


def test_recall_with_weights_and_as_of(node: Node, sdk: Callable[[str], UpstreamClient]) -> None:
    codex = sdk("codex")
    first = codex.assert_fact("service:checkout", "service:latency_p99_ms",
                              string_value("250 ms"), "agent:codex", scope="local")
    second = codex.assert_fact("service:checkout", "service:latency_p99_ms",
                               string_value("900 ms"), "agent:codex", scope="local")

    found = codex.recall("latency", weights=RecallWeights(lexical=1.0, semantic=0.0, graph=0.0,
                                                          source_trust=0.0, recency=0.0))
    assert [hit.fact.id for hit in found.facts] == [second.id]
    hit = found.facts[0]
    assert hit.score == pytest.approx(hit.score_breakdown.lexical * hit.fact.confidence)

    # The SDK's recall() has no as_of parameter; its request model takes one (extra keys are
    # allowed), so the request it would build is sent as is.
    def as_of(point: str) -> RecallResponse:
        body = RecallRequest(query="latency p99", as_of=point).model_dump()
        response = httpx.post(f"{node.url}/v1/recall", json=body,
                              headers={"Authorization": f"Bearer {node.tokens['codex']}"})
        assert response.status_code == 200, response.text
        return RecallResponse.model_validate(response.json())

    assert [h.fact.id for h in as_of(str(first.hlc)).facts] == [first.id]
    assert [h.fact.id for h in as_of(str(second.hlc)).facts] == [second.id]
    assert as_of("2020-01-01T00:00:00Z").facts == []
