"""The typed client itself: errors, plumbing, and staying out of ``import stigmem_vault``."""

from __future__ import annotations

import dataclasses
import socket
import subprocess
import sys

import httpx
import pytest
from http_support import Node

from stigmem_vault.client import ClientError, Fact, FactInput, NodeUnreachable, StigmemClient


def test_records_are_frozen_and_keep_the_json(client: StigmemClient) -> None:
    fact = client.assert_fact("user:alice", "memory:role", "engineer", source="agent:codex")

    assert isinstance(fact, Fact) and fact.raw["id"] == fact.id
    with pytest.raises(dataclasses.FrozenInstanceError):
        fact.entity = "user:bob"  # type: ignore[misc]
    assert client.get_fact(fact.id) == dataclasses.replace(fact, source_trust=client.get_fact(
        fact.id).source_trust, effective_confidence=client.get_fact(fact.id).effective_confidence)


def test_client_error_carries_status_detail_code_and_fields(client: StigmemClient) -> None:
    with pytest.raises(ClientError) as caught:
        client.get_fact("sha256:nope")
    error = caught.value
    assert (error.status, error.code) == (400, "cid_malformed")
    assert "sha256" in error.message and str(error).startswith("400: ")

    with pytest.raises(ClientError) as caught:
        client.assert_fact("user:alice", "memory:role", "x", source="agent:codex", confidence=1.5)
    assert caught.value.status == 422 and caught.value.fields == ["confidence"]
    assert caught.value.code == "invalid_request" and isinstance(caught.value.detail, str)
    assert "confidence" in caught.value.detail


def test_unreachable_node_raises_node_unreachable() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with StigmemClient(f"http://127.0.0.1:{port}", timeout=2.0) as client, \
            pytest.raises(NodeUnreachable) as caught:
        client.healthz()
    assert caught.value.status == 0 and isinstance(caught.value, ClientError)


def test_close_and_context_manager(node: Node) -> None:
    client = StigmemClient(node.url)
    assert client.healthz() == "ok"
    client.close()
    with pytest.raises(RuntimeError):
        client.healthz()
    with StigmemClient(node.url + "/") as again:  # a trailing slash is fine
        assert again.well_known().auth == "required"


def test_custom_transport_is_used() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, json={"detail": "rate limit exceeded"},
                              headers={"Retry-After": "7"})

    with StigmemClient("http://node.invalid", "t", transport=httpx.MockTransport(answer)) as client, \
            pytest.raises(ClientError) as caught:
        client.list_facts()
    assert (caught.value.status, caught.value.retry_after) == (429, 7.0)


def test_fact_input_infers_value_types() -> None:
    body = FactInput("user:alice", "memory:x", None, "agent:codex").to_json()
    assert body["value"] == {"type": "null"}
    assert FactInput("e:x", "m:x", True, "agent:a").to_json()["value"] == {"type": "boolean",
                                                                           "v": True}
    assert FactInput("e:x", "m:x", 3, "agent:a").to_json()["value"]["type"] == "number"
    typed = FactInput("e:x", "m:x", "user:bob", "agent:a", value_type="ref", trust="inferred",
                      derived_from=("a" * 64,)).to_json()
    assert (typed["value"]["type"], typed["trust"], typed["derived_from"]) == ("ref", "inferred",
                                                                               ["a" * 64])


def test_importing_the_package_does_not_import_httpx() -> None:
    code = "import sys, stigmem_vault; assert 'httpx' not in sys.modules, 'httpx imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
