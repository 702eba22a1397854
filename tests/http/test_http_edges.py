"""The node's edges (issue 9, items 7, 8, 11): client input that once made a 5xx, a hang, a
leaked server path or a silently ignored key. Every answer here is a precise 4xx naming the
field and the reason, or a 503 that names no server path.
"""

from __future__ import annotations

import base64
import json
import stat
from typing import Any

import jsonschema
import pytest
from http_support import Node

from stigmem_vault.api.access import IDEMPOTENCY_FILE
from stigmem_vault.vault.config import NODE_FILE

FACT = ('{"entity": "user:alice", "relation": "memory:role", '
        '"value": {"type": "string", "v": "engineer"}, "source": "agent:codex"')
LONE = r"\ud800"  # a lone surrogate escape: valid JSON grammar, not Unicode text


def post(node: Node, path: str, text: str, who: str = "codex") -> Any:
    """POST ``text`` as it is (no re-encoding, so escapes and duplicate keys reach the node)."""
    return node.client(who).request("POST", path, content=text.encode(),
                                    headers={"Content-Type": "application/json"})


def fields_named(response: Any) -> list[str]:
    error = response.json()["error"]
    if "issues" in error:
        return [".".join(str(part) for part in issue["loc"][1:]) for issue in error["issues"]]
    return [error["field"]] if "field" in error else []


def messages(response: Any) -> str:
    body = response.json()
    assert isinstance(body["detail"], str)
    return str(body["error"]["message"])


def disagree(node: Node) -> str:
    node.client("codex").assert_fact("user:alice", "memory:role", "engineer",
                                     source="agent:codex", scope="team", confidence=0.9)
    node.client("alice").assert_fact("user:alice", "memory:role", "manager",
                                     source="user:alice", scope="team", confidence=0.8)
    return node.client("alice").conflicts().conflicts[0].conflict_id


# ------------------------------------------------------------------- item 7: no 5xx on input


@pytest.mark.parametrize(("path", "text", "field"), [
    ("/v1/facts", FACT.replace('"user:alice"', f'"user:{LONE}"') + "}", "entity"),
    ("/v1/facts", FACT.replace('"agent:codex"', f'"agent:{LONE}"') + "}", "source"),
    ("/v1/facts", FACT.replace('"engineer"', f'"eng{LONE}"') + "}", "value.v"),
    ("/v1/recall", f'{{"query": "{LONE}"}}', "query"),
    ("/v1/facts/batch", f'{{"facts": [{FACT}}}], "idempotency_key": "{LONE}"}}',
     "idempotency_key"),
])
def test_lone_surrogates_are_422_naming_the_field(node: Node, path: str, text: str,
                                                  field: str) -> None:
    response = post(node, path, text)
    assert response.status_code == 422, response.text
    assert field in fields_named(response)
    assert "surrogate" in messages(response)


def test_ignored_attestation_may_hold_anything(node: Node) -> None:
    """``attestation`` is ignored: whatever it holds is neither stored nor hashed."""
    item = FACT + f', "attestation": {{"k": "{LONE}", "deep": {"[" * 200}{"]" * 200}}}}}'
    response = post(node, "/v1/facts/batch", f'{{"facts": [{item}], "idempotency_key": "a"}}')
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1


def test_lone_surrogate_in_a_resolution_note_is_422(node: Node) -> None:
    conflict_id = disagree(node)
    response = post(node, f"/v1/conflicts/{conflict_id}/resolve",
                    f'{{"winning_fact_id": "a", "resolution_note": "{LONE}"}}', who="alice")
    assert response.status_code == 422, response.text
    assert fields_named(response) == ["resolution_note"]


@pytest.mark.parametrize("number", ["1e309", "-1e309", "NaN", "Infinity"])
@pytest.mark.parametrize(("path", "text", "field"), [
    ("/v1/facts", FACT + ', "confidence": NUM}', "confidence"),
    ("/v1/recall", '{"query": "alice", "token_budget": NUM}', "token_budget"),
    ("/v1/recall", '{"query": "alice", "min_confidence": NUM}', "min_confidence"),
    ("/v1/recall", '{"query": "alice", "weights": {"lexical": NUM}}', "weights.lexical"),
])
def test_non_finite_numbers_are_422_naming_the_field(node: Node, path: str, text: str,
                                                     field: str, number: str) -> None:
    response = post(node, path, text.replace("NUM", number))
    assert response.status_code == 422, response.text
    assert fields_named(response) == [field]


def test_non_finite_number_value_is_422(node: Node) -> None:
    text = FACT.replace('{"type": "string", "v": "engineer"}', '{"type": "number", "v": 1e309}')
    response = post(node, "/v1/facts", text + "}")
    assert response.status_code == 422, response.text
    assert fields_named(response) == ["value.v"] and "finite" in messages(response)


@pytest.mark.parametrize("raw", [b"1e309", b"-1", b"[1]", b'"x"', b"1.5", b"\xff"])
def test_bad_neighbors_cursor_is_400(node: Node, raw: bytes) -> None:
    cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    response = node.client("codex").request(
        "GET", "/v1/graph/neighbors", params={"entity": "user:alice", "scope": "team",
                                               "cursor": cursor})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_cursor"


# ------------------------------------------------------------------- item 8: paths and storage


def test_entity_with_a_long_segment_is_stored(node: Node) -> None:
    """70 four-byte letters: 280 bytes of UTF-8, more than a file name may have."""
    entity = "user:" + "\U00020000" * 70
    fact = node.client("codex").assert_fact(entity, "memory:role", "x", source="agent:codex")
    path = node.vault.root / node.client("codex").get_fact(fact.id).path  # type: ignore[operator]
    assert path.is_file()
    assert all(len(part.encode()) <= 255 for part in path.parts)


def test_storage_errors_name_no_server_path(node: Node) -> None:
    # A file where the writer needs a folder: the write fails underneath (not the client's fault).
    blocker = node.vault.root / "facts" / "local" / "user"
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("in the way\n")
    response = post(node, "/v1/facts", FACT + "}")
    assert response.status_code == 503, response.text
    assert str(node.vault.root.parent) not in response.text
    assert "facts/local/user" in response.text  # the vault-relative path is fine to name


# ------------------------------------------------------------------- item 11: HTTP parts


@pytest.mark.parametrize(("text", "key"), [
    (FACT + ', "confidence": 0.5, "confidence": 0.6}', "confidence"),
    (FACT.replace('"v": "engineer"', '"v": "engineer", "v": "manager"') + "}", "v"),
    ('{"query": "alice", "query": "bob"}', "query"),
])
def test_duplicate_keys_are_refused_naming_the_key(node: Node, text: str, key: str) -> None:
    path = "/v1/recall" if text.startswith('{"query"') else "/v1/facts"
    response = post(node, path, text)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "duplicate_key" and error["field"] == key
    assert key in response.json()["detail"]
    assert node.client("codex").list_facts().facts == ()


@pytest.mark.parametrize(("link", "field"), [
    ({"fact_id": "a" * 64, "note": "x"}, "note"),
    ({"hash": "sha256:" + "b" * 64, "extra": 1}, "extra"),
    ({"fact_id": "a" * 64, "hash": "sha256:" + "b" * 64}, "hash"),
    ({}, "fact_id"),
])
def test_derived_from_entries_refuse_unknown_keys(node: Node, link: dict[str, Any],
                                                  field: str) -> None:
    body = {**json.loads(FACT + "}"), "derived_from": [link]}
    response = node.client("codex").request("POST", "/v1/facts", json=body)
    assert response.status_code == 422, response.text
    assert any(name.startswith("derived_from") for name in fields_named(response))
    assert field in messages(response)


def test_conflict_ids_need_eight_hex_digits(node: Node) -> None:
    conflict_id = disagree(node)
    alice = node.client("alice")
    for short in ("0", conflict_id[:1], conflict_id[:7], "zzzzzzzz"):
        response = alice.request("POST", f"/v1/conflicts/{short}/resolve",
                                 json={"winning_fact_id": "a"})
        assert response.status_code == 400, (short, response.text)
        assert response.json()["error"]["code"] == "id_malformed"
    response = alice.request("POST", f"/v1/conflicts/{conflict_id[:8]}/resolve",
                             json={"winning_fact_id": "a"})
    assert response.status_code == 200, response.text


def test_an_upstream_conflict_uuid_names_no_conflict(node: Node) -> None:
    disagree(node)
    response = node.client("alice").request(
        "POST", "/v1/conflicts/3f2b8c1e-9d4a-4e6b-8f0a-1c2d3e4f5a6b/resolve",
        json={"winning_fact_id": "a"})
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "conflict_not_found"


def test_openapi_needs_no_token_and_claims_none_under_auth_none(start_node: Any) -> None:
    node = start_node(auth="none")
    response = node.client(None).request("GET", "/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert all("security" not in op for ops in document["paths"].values() for op in ops.values())
    assert all("401" not in op["responses"] for ops in document["paths"].values()
               for op in ops.values())


def test_openapi_is_public_under_token_auth(node: Node) -> None:
    response = node.client(None).request("GET", "/openapi.json")
    assert response.status_code == 200
    assert response.json()["paths"]["/v1/facts"]["post"]["security"] == [{"bearerAuth": []}]


def _parameter(document: dict[str, Any], path: str, name: str) -> dict[str, Any]:
    return next(p["schema"] for p in document["paths"][path]["get"]["parameters"]
                if p["name"] == name)


def test_schema_refuses_what_the_node_refuses(node: Node) -> None:
    document = node.client(None).openapi()
    as_of = _parameter(document, "/v1/facts", "as_of")
    for bad in ("", "yesterday"):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, as_of)
        response = node.client("codex").request("GET", "/v1/facts", params={"as_of": bad})
        assert response.status_code in (400, 422), response.text
    for good in ("2026-01-01", "2026-01-01T10:00:00Z", "1796475929715.000000.2494bf379bc93aef"):
        jsonschema.validate(good, as_of)
        assert node.client("codex").request("GET", "/v1/facts",
                                            params={"as_of": good}).status_code == 200
    body_schema = document["components"]["schemas"]["AssertRequest"]
    resolver_doc = {**body_schema, "components": document["components"]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**json.loads(FACT + "}"), "supersedes": ""}, resolver_doc)


def test_local_state_files_are_private(node: Node) -> None:
    response = post(node, "/v1/facts/batch", f'{{"facts": [{FACT}}}], "idempotency_key": "k1"}}')
    assert response.status_code == 200, response.text
    for name in (IDEMPOTENCY_FILE, NODE_FILE):
        mode = stat.S_IMODE((node.vault.root / name).stat().st_mode)
        assert mode == 0o600, f"{name} is {oct(mode)}"
