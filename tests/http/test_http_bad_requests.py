"""Bad requests get precise 4xx answers, naming the field and the reason; never a 5xx."""

from __future__ import annotations

from typing import Any

import pytest

from stigmem_vault.client import ClientError, StigmemClient

FACT: dict[str, Any] = {"entity": "user:alice", "relation": "memory:role",
                        "value": {"type": "string", "v": "engineer"}, "source": "agent:codex"}


def assert_422(client: StigmemClient, body: Any, field: str, reason: str = "") -> None:
    response = client.request("POST", "/v1/facts", json=body)
    assert response.status_code == 422, response.text
    body = response.json()
    assert isinstance(body["detail"], str)  # upstream clients print it
    error = ClientError(response.status_code, body["detail"], error=body["error"])
    assert field in error.fields, error.detail
    assert reason.lower() in error.message.lower(), error.message


@pytest.mark.parametrize(("change", "field", "reason"), [
    ({"value": {"type": "number", "v": "abc"}}, "value.v", "must be a number"),
    ({"value": {"type": "number", "v": 2**53 + 1}}, "value.v", ""),
    ({"value": {"type": "boolean", "v": "false"}}, "value.v", "true or false"),
    ({"value": {"type": "string", "v": 5}}, "value.v", "string"),
    ({"value": {"type": "string", "v": "x" * 5000}}, "value.v", ""),
    ({"value": {"type": "datetime", "v": "next tuesday"}}, "value.v", ""),
    ({"value": {"type": "ref", "v": "no scheme"}}, "value.v", ""),
    ({"value": {"type": "bytes", "v": "aGVsbG8="}}, "value.type", "string"),
    ({"value": "engineer"}, "value", ""),
    ({"confidence": 1.5}, "confidence", "less than or equal to 1"),
    ({"confidence": -0.1}, "confidence", "greater than or equal to 0"),
    ({"confidence": "half"}, "confidence", "not a number"),  # "0.5" is read as 0.5 (§15.3)
    ({"confidence": True}, "confidence", "valid number"),
    ({"scope": "universe"}, "scope", "'local'"),
    ({"scope": 3}, "scope", ""),
    ({"entity": ""}, "entity", "at least 1"),
    ({"entity": "hello world"}, "entity", "no scheme"),
    ({"entity": 42}, "entity", "valid string"),
    ({"entity": "user:a<b"}, "entity", "forbidden"),
    ({"relation": "Role!"}, "relation", "not a predicate"),  # "role" is kept, with a warning
    ({"relation": "stigmem:ttl"}, "relation", "reserved"),
    ({"source": "user:a#b"}, "source", "forbidden"),  # project:atlas becomes agent:project:atlas
    ({"trust": "gossip"}, "trust", "observed"),
    ({"valid_until": "soon"}, "valid_until", ""),
    ({"valid_until": 5}, "valid_until", ""),
    ({"derived_from": ["not-an-id"]}, "derived_from", ""),
    ({"supersedes": "abc"}, "supersedes", ""),
    ({"write_mode": "overwrite"}, "write_mode", ""),
])
def test_bad_assert_bodies_are_422_naming_the_field(client: StigmemClient, change: dict[str, Any],
                                                    field: str, reason: str) -> None:
    assert_422(client, {**FACT, **change}, field, reason)
    assert client.list_facts().facts == ()


@pytest.mark.parametrize("missing", ["entity", "relation", "value", "source"])
def test_missing_required_field_is_422(client: StigmemClient, missing: str) -> None:
    body = {k: v for k, v in FACT.items() if k != missing}
    assert_422(client, body, missing, "required")


def test_value_type_mismatch_names_value_v(client: StigmemClient) -> None:
    with pytest.raises(ClientError) as caught:
        client.assert_fact("user:alice", "memory:age", "forty", value_type="number",
                           source="agent:codex")
    assert caught.value.status == 422
    assert caught.value.fields == ["value.v"]
    assert "number" in caught.value.message


@pytest.mark.parametrize("raw", [b"{", b"not json", b"[]", b"null", b'"text"', b"\xff\xfe"])
def test_malformed_json_is_4xx(client: StigmemClient, raw: bytes) -> None:
    response = client.request("POST", "/v1/facts", content=raw,
                              headers={"Content-Type": "application/json"})
    assert response.status_code in (400, 422), response.text
    assert "detail" in response.json()


def test_wrong_content_type_is_4xx(client: StigmemClient) -> None:
    response = client.request("POST", "/v1/facts", content=b"entity=user:alice",
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert 400 <= response.status_code < 500


def test_unknown_garden_is_404(client: StigmemClient) -> None:
    response = client.request("POST", "/v1/facts",
                              json={**FACT, "garden_id": "stigmem://testnode/garden/x"})
    assert response.status_code == 404


def test_unknown_supersedes_target_is_404(client: StigmemClient) -> None:
    response = client.request("POST", "/v1/facts", json={**FACT, "supersedes": "0" * 64})
    assert response.status_code == 404


@pytest.mark.parametrize(("query", "status"), [
    ("min_confidence=2", 422), ("min_confidence=abc", 422), ("limit=abc", 422),
    ("include_expired=maybe", 422), ("scope=universe", 400), ("as_of=never", 400),
    ("cursor=%%%", 400),
])
def test_bad_query_strings(client: StigmemClient, query: str, status: int) -> None:
    response = client.request("GET", f"/v1/facts?{query}")
    assert response.status_code == status, response.text
    name = query.split("=")[0]
    body = response.json()
    assert isinstance(body["detail"], str) and name in body["detail"] + body["error"]["message"]
    if status == 422:
        assert [issue["loc"] for issue in body["error"]["issues"]] == [["query", name]]
    elif name != "cursor":
        assert body["error"]["field"] == name


def test_unknown_route_and_method(client: StigmemClient) -> None:
    assert client.request("GET", "/v1/nothing").status_code == 404
    response = client.request("DELETE", "/v1/facts")
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) == {"GET", "POST"}
