"""POST /v1/facts/batch: atomic and partial batches, idempotency keys (contract §3.4)."""

from __future__ import annotations

import pytest
from http_support import Node

from stigmem_vault.api.vault import Vault
from stigmem_vault.client import ClientError, FactInput, StigmemClient


def good(i: int) -> FactInput:
    return FactInput("user:alice", f"memory:item{i}", f"value {i}", "agent:codex", scope="team")


BAD_ENTITY = FactInput("no scheme", "memory:item", "x", "agent:codex")
BAD_VALUE = {"entity": "user:alice", "relation": "memory:age",
             "value": {"type": "number", "v": "old"}, "source": "agent:codex"}


def test_atomic_batch_writes_all(client: StigmemClient) -> None:
    result = client.assert_batch([good(0), good(1)], atomic=True)

    assert (result.accepted, result.rejected) == (2, 0)
    written = {item.fact_id for item in result.results}
    assert {f.id for f in client.list_facts().facts} == written
    assert [(item.index, item.status) for item in result.results] == [(0, "accepted"), (1, "accepted")]


def test_atomic_batch_writes_none_when_one_item_is_bad(client: StigmemClient) -> None:
    result = client.assert_batch([good(0), BAD_ENTITY, good(1)], atomic=True)

    assert (result.accepted, result.rejected) == (0, 3)
    assert all(item.fact_id is None for item in result.results)
    assert result.results[1].error is not None and result.results[1].error.startswith("entity:")
    assert "atomic" in (result.results[0].error or "")
    assert client.list_facts().facts == ()


def test_partial_batch_writes_the_good_items(client: StigmemClient) -> None:
    result = client.assert_batch([good(0), BAD_VALUE, good(1)])

    assert (result.accepted, result.rejected) == (2, 1)
    assert [item.status for item in result.results] == ["accepted", "rejected", "accepted"]
    assert (result.results[1].error or "").startswith("value.v:")
    assert len(client.list_facts().facts) == 2


def test_batch_items_obey_source_attestation(client: StigmemClient) -> None:
    foreign = FactInput("user:alice", "memory:role", "x", "user:alice")
    result = client.assert_batch([good(0), foreign])

    assert [item.status for item in result.results] == ["accepted", "rejected"]
    assert (result.results[1].error or "").startswith("source_not_owned")


def test_idempotency_key_replays_the_first_answer(client: StigmemClient) -> None:
    first = client.assert_batch([good(0), good(1)], idempotency_key="k-1")
    again = client.assert_batch([good(0), good(1)], idempotency_key="k-1")

    assert again == first
    assert len(client.list_facts().facts) == 2  # nothing written twice


def test_same_key_different_body_is_409(client: StigmemClient) -> None:
    client.assert_batch([good(0)], idempotency_key="k-2")

    with pytest.raises(ClientError) as caught:
        client.assert_batch([good(1)], idempotency_key="k-2")
    assert (caught.value.status, caught.value.code) == (409, "idempotency_key_reused")
    assert len(client.list_facts().facts) == 1


def test_idempotency_keys_are_per_principal(node: Node) -> None:
    mine = node.client("codex").assert_batch([good(0)], idempotency_key="shared")
    theirs = node.client("alice").assert_batch(
        [FactInput("user:alice", "memory:role", "x", "user:alice")], idempotency_key="shared")

    assert mine.accepted == theirs.accepted == 1
    assert mine.results[0].fact_id != theirs.results[0].fact_id


def test_malformed_batches_are_422(client: StigmemClient) -> None:
    for body in ({"facts": []}, {"facts": "x"}, {"facts": [good(0).to_json()], "atomic": 0},
                 {"facts": [{**good(0).to_json(), "confidence": 2}]}, {}):
        response = client.request("POST", "/v1/facts/batch", json=body)
        assert response.status_code == 422, body
    assert client.list_facts().facts == ()


def test_read_only_token_cannot_batch(node: Node) -> None:
    with pytest.raises(ClientError) as caught:
        node.client("reader").assert_batch([good(0)])
    assert (caught.value.status, caught.value.code) == (403, "permission_denied")


PEM_LINE = "-----BEGIN PRIVATE KEY-----"


def test_key_like_client_bytes_never_brick_the_vault(node: Node) -> None:
    """Issue 9, item 1: a client's idempotency key (stored with its answer) and a rejected
    item's echoed input are data, not key material the operator put in the vault: the
    vault opens again afterwards, for every command and the node's restart."""
    team = node.client("team")
    team.assert_batch([good(0)], idempotency_key=PEM_LINE + "\nMC4CAQ==\n-----END PRIVATE KEY-----")
    echoed = FactInput(PEM_LINE + " no scheme", "memory:item", "x", "agent:teambot", scope="team")
    result = team.assert_batch([echoed], atomic=False)
    assert result.rejected == 1
    store = node.vault.root / ".stigmem" / "local"
    assert any(PEM_LINE.encode() in p.read_bytes() for p in store.rglob("*") if p.is_file())

    with Vault.open(node.vault.root, home=node.vault.keys.home) as again:
        assert again.status().owner == "user:alice"
