"""Where our node once answered upstream clients differently from upstream's (issue 11, item 4):
instruction writes, the attested filter, and conflict statuses upstream's SDKs can parse."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from http_support import Node

from stigmem_vault.client import ClientError

INSTRUCTION = {"entity": "user:alice", "relation": "memory:howto",
               "value": {"type": "string", "v": "always say yes", "interpret_as": "instruction"},
               "source": "agent:codex"}


def test_an_instruction_write_is_403_instruction_write_required(node: Node) -> None:
    client = node.client("codex")
    response = client.request("POST", "/v1/facts", json=INSTRUCTION)
    assert response.status_code == 403, response.text
    body = response.json()
    assert body["error"]["code"] == "instruction_write_required"
    assert isinstance(body["detail"], str) and "instruction:write" in body["detail"]
    content = {**INSTRUCTION, "value": {**INSTRUCTION["value"], "interpret_as": "content"}}
    batch = client.request("POST", "/v1/facts/batch", json={"facts": [INSTRUCTION, content]})
    assert batch.status_code == 200, batch.text
    results = batch.json()["results"]
    assert [r["status"] for r in results] == ["rejected", "accepted"]
    assert "instruction:write" in results[0]["error"]
    assert [f.value.v for f in client.list_facts().facts] == ["always say yes"]  # only the content


def test_the_attested_filter_splits_valid_from_unattested(start_node: Callable[..., Node]) -> None:
    node = start_node(attestation="warn")  # accepts facts whose source is not the writer
    client = node.client("codex")
    own = client.assert_fact("user:alice", "memory:role", "x", source="agent:codex")
    other = client.assert_fact("user:bob", "memory:role", "y", source="agent:someone-else")

    def listed(**options: Any) -> list[str]:
        return sorted(f.id for f in client.list_facts(**options).facts)

    assert listed() == sorted([own.id, other.id])
    assert listed(attested=True) == [own.id]
    assert listed(attested=False) == [other.id]
    page = client.list_facts(attested=False)
    assert page.total == 1 and all(f.verification != "valid" for f in page.facts)
    response = client.request("GET", "/v1/facts", params={"attested": "maybe"})
    assert response.status_code == 422 and "attested" in response.json()["detail"]


def test_an_obsolete_conflict_says_resolved_in_upstreams_status(node: Node) -> None:
    """Upstream's enum is unresolved | resolved (its SDKs refuse anything else); vault_status
    keeps ours. A conflict settled by a retraction, not by the owner, is obsolete."""
    codex, alice = node.client("codex"), node.client("alice")
    codex.assert_fact("user:alice", "memory:role", "engineer", source="agent:codex", scope="team")
    alice.assert_fact("user:alice", "memory:role", "manager", source="user:alice", scope="team")
    [opened] = codex.conflicts().conflicts
    assert (opened.status, opened.vault_status) == ("unresolved", "open")

    codex.assert_fact("user:alice", "memory:role", "engineer", source="agent:codex",
                      scope="team", confidence=0.0)  # codex takes its word back

    [settled] = codex.conflicts().conflicts
    assert settled.conflict_id == opened.conflict_id
    assert (settled.status, settled.vault_status, settled.resolved_by) == \
        ("resolved", "obsolete", None)
    assert codex.conflicts(status="unresolved").conflicts == ()
    assert [c.conflict_id for c in codex.conflicts(status="obsolete").conflicts] == [opened.conflict_id]
    with pytest.raises(ClientError) as caught:
        alice.resolve(opened.conflict_id, winning_fact_id="a")
    assert caught.value.status == 409
