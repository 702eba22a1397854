"""Upstream's OpenClaw agent adapter (stigmem-openclaw, pinned in pyproject; built on stigmem-py)
against our live node, on an ``--auth none`` node and on a token node (attestation enforced):
its decision, handoff and escalation writes, as its own API makes them, then its boot handshake
and recall, and what it wrote read back live through our HTTP API (docs/spec.md §15.10)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import stigmem
from http_support import Node
from stigmem_openclaw import OpenClawStigmemAdapter, OpenClawTargetError

pytestmark = pytest.mark.network


def _records(node: Node, token: str | None, **params: Any) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answer = httpx.get(f"{node.url}/v1/facts", params=params, headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    facts: list[dict[str, Any]] = answer.json()["facts"]
    return facts


@pytest.fixture
def adapter() -> Iterator[Callable[..., OpenClawStigmemAdapter]]:
    """``adapter(...)``: an OpenClaw adapter, its SDK client closed after the test (the adapter
    has no close of its own)."""
    made: list[OpenClawStigmemAdapter] = []

    def make(*args: Any, **options: Any) -> OpenClawStigmemAdapter:
        made.append(OpenClawStigmemAdapter(*args, **options))
        return made[-1]

    yield make
    for one in made:
        one._client.close()


@pytest.mark.parametrize("kind", ["open", "token"])
def test_openclaw_writes_boot_and_reads_back_live(
        start_node: Callable[..., Node], adapter: Callable[..., OpenClawStigmemAdapter],
        kind: str) -> None:
    if kind == "open":
        node, token, me, verdict = start_node(auth="none"), None, "agent:openclaw", "vouched"
    else:  # the adapter's source is its token's principal: its writes are signed as it
        node = start_node()
        token, me, verdict = node.tokens["codex"], "agent:codex", "valid"

    # What the agent will find at boot: a preference and a project constraint.
    with stigmem.StigmemClient(node.url, api_key=token) as sdk:
        sdk.assert_fact("user:alice", "preference:editor", stigmem.string_value("vim"), me,
                        confidence=0.9)
        constraint = sdk.assert_fact("project:atlas", "roadmap:constraint",
                                     stigmem.text_value("No new services before Q3"), me)

    agent = adapter(node.url, token, me, allowed_handoff_targets=["agent:reviewer"])
    agent.emit_decision("project:atlas", "Keep SQLite for the index",
                        derived_from=[{"fact_id": constraint.id}])
    unknown = "00000000-0000-4000-8000-000000000000"  # dropped by the adapter: our 404
    handoff = agent.emit_handoff(me, "agent:reviewer", "Index rebuilt; please review",
                                 [constraint.id, unknown], continuation="Check the p99",
                                 idempotency_key="atlas-review-1")
    assert handoff.created and handoff.entity == "handoff:atlas-review-1"
    assert handoff.relations == ("intent:handoff_to", "intent:handoff_summary",
                                 "intent:context_ref", "intent:continuation")
    again = agent.emit_handoff(me, "agent:reviewer", "Index rebuilt; please review",
                               [constraint.id], idempotency_key="atlas-review-1")
    assert not again.created  # its idempotency read finds the complete write
    escalation = agent.emit_escalation("agent:reviewer", "Approve the schema change",
                                       priority="high", idempotency_key="atlas-esc-1")
    assert escalation.created
    with pytest.raises(OpenClawTargetError):
        agent.emit_handoff(me, "agent:stranger", "x", [])

    # The reviewer's boot handshake sees the preference, the constraint, its handoff and the
    # escalation.
    reviewer = adapter(node.url, token, "agent:reviewer")
    booted = reviewer.boot("user:alice", project_entities=["project:atlas"])
    seen = {(f.entity, f.relation) for f in booted.facts}
    assert {("user:alice", "preference:editor"), ("project:atlas", "roadmap:constraint"),
            ("handoff:atlas-review-1", "intent:handoff_summary"),
            ("handoff:atlas-review-1", "intent:context_ref"),
            ("handoff:atlas-review-1", "intent:continuation"),
            ("escalation:atlas-esc-1", "intent:escalation")} <= seen
    assert "Index rebuilt; please review" in booted.summary
    recalled = reviewer.recall_context("schema change", scope="company")
    assert ("escalation:atlas-esc-1", "intent:goal") in {
        (f.entity, f.relation) for f in recalled.content_facts}

    # Read back through our API: values as sent, the adapter's source, live, no conflict.
    handoff_facts = {f["relation"]: f for f in _records(node, token,
                                                        entity="handoff:atlas-review-1")}
    assert set(handoff_facts) == set(handoff.relations)
    assert handoff_facts["intent:handoff_to"]["value"]["v"] == "agent:reviewer"
    assert handoff_facts["intent:context_ref"]["value"]["v"] == constraint.id
    assert handoff_facts["intent:continuation"]["value"]["v"] == "Check the p99"
    # Provenance: the unknown UUID was never sent, the constraint is kept as the parent.
    assert handoff_facts["intent:handoff_to"]["derived_from"] == [{"fact_id": constraint.id}]
    [decision] = _records(node, token, entity="project:atlas", relation="roadmap:decision")
    assert decision["value"]["v"] == "Keep SQLite for the index"
    escalation_facts = {f["relation"]: f for f in _records(node, token,
                                                           entity="escalation:atlas-esc-1")}
    assert escalation_facts["intent:escalation"]["value"]["v"] == "high"
    assert escalation_facts["intent:escalation"]["valid_until"] is not None
    written = [*handoff_facts.values(), decision, *escalation_facts.values()]
    assert {(f["source"], f["live"], f["verification"]) for f in written} == {(me, True, verdict)}
    assert all(f["warnings"] == [] for f in written)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    conflicts = httpx.get(f"{node.url}/v1/conflicts", headers=headers, timeout=10).json()
    assert conflicts["conflicts"] == []


def test_an_openclaw_source_that_is_no_principal_is_normalised(
        start_node: Callable[..., Node], adapter: Callable[..., OpenClawStigmemAdapter]) -> None:
    """STIGMEM_SOURCE_ENTITY is free text to the adapter; the node adopts it as an agent
    (docs/spec.md §15.2), and the fact is live. The write's answer says so in `warnings`
    (which the adapter drops); a read shows `[]` there (§15.3)."""
    node = start_node(auth="none")
    adapter(node.url, None, "OpenClaw/atlas-bot").emit_decision("project:atlas", "Ship on Monday")
    [record] = _records(node, None, entity="project:atlas", relation="roadmap:decision")
    assert record["source"] == "agent:openclaw/atlas-bot"
    assert record["warnings"] == []
    assert (record["live"], record["verification"]) == (True, "vouched")
