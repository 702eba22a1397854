"""Client writes on a node that accepts other sources (`--auth none`, `--attestation warn`) are
*vouched* for by the writer (docs/spec.md §9.5, §13, §15.2): live, in conflicts, retractable and
in the graph, as on upstream's node, while every reader can tell them from facts their source
signed. An enforcing node is unchanged (tests/http/test_http_auth.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from http_support import Node

from stigmem_vault.api.vault import Vault


def _post(node: Node, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    """POST /v1/facts the way an upstream client does: a raw JSON body with its own source."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answer = httpx.post(f"{node.url}/v1/facts", json=body, headers=headers, timeout=10)
    assert answer.status_code == 201, answer.text
    record: dict[str, Any] = answer.json()
    return record


def _get(node: Node, path: str, token: str | None = None, **params: Any) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answer = httpx.get(f"{node.url}{path}", params=params, headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _claim(source: str, value: Any, *, relation: str = "memory:role", vtype: str = "string",
           entity: str = "user:bob", confidence: float = 1.0) -> dict[str, Any]:
    return {"entity": entity, "relation": relation, "value": {"type": vtype, "v": value},
            "source": source, "confidence": confidence, "scope": "team"}


def _client_facts_take_part(node: Node, token: str | None, voucher: str) -> None:
    """The acceptance of issue 11 item 1 on one node: conflict, retraction, graph."""
    a = _post(node, _claim("agent:writer-a", "viewer"), token)
    b = _post(node, _claim("agent:writer-b", "admin"), token)
    for record in (a, b):
        assert (record["verification"], record["vouched_by"]) == ("vouched", voucher)

    # Two client sources disagree: the conflict opens, as on upstream's node.
    conflicts = _get(node, "/v1/conflicts", token, status="unresolved")["conflicts"]
    assert [{c["fact_a"]["id"], c["fact_b"]["id"]} for c in conflicts] == [{a["id"], b["id"]}]
    assert _get(node, f"/v1/facts/{a['id']}", token)["contradicted"] is True

    # A confidence-0 retraction by the same source retires its fact: the conflict is over and
    # the old value is no longer listed.
    _post(node, _claim("agent:writer-a", "viewer", confidence=0.0), token)
    listed = _get(node, "/v1/facts", token, entity="user:bob", relation="memory:role")["facts"]
    assert [f["id"] for f in listed] == [b["id"]]
    assert _get(node, f"/v1/facts/{a['id']}", token)["live"] is False
    assert _get(node, "/v1/conflicts", token, status="unresolved")["conflicts"] == []

    # A ref fact from a client links the graph both ways.
    ref = _post(node, _claim("agent:writer-a", "stigmem://acme/project/atlas",
                             relation="memory:works_on", vtype="ref"), token)
    assert ref["live"] is True
    around = _get(node, "/v1/graph/neighbors", token, entity="user:bob", scope="team")
    assert [(n["entity"], n["relation"]) for n in around["neighbors"]] == [
        ("stigmem://acme/project/atlas", "memory:works_on")]
    back = _get(node, "/v1/graph/neighbors", token, entity="stigmem://acme/project/atlas",
                scope="team")
    assert [n["entity"] for n in back["neighbors"]] == ["user:bob"]


def test_auth_none_node_client_facts_are_live_and_vouched_by_the_owner(
        start_node: Callable[..., Node]) -> None:
    node = start_node(auth="none")
    _client_facts_take_part(node, None, "user:alice")
    # Honest about it: not signed by its source, and ranked below what a source signed.
    record = _get(node, "/v1/facts", None, relation="memory:works_on")["facts"][0]
    assert record["attested"] is None  # upstream: null without auth
    assert record["source_trust"] == 0.75
    own = _post(node, _claim("user:alice", "owner", entity="user:carol"))
    assert (own["verification"], own["vouched_by"]) == ("valid", None)


def test_warn_node_token_with_a_vouch_grant(start_node: Callable[..., Node],
                                            vault: Vault) -> None:
    vault.grant_vouch("agent:codex")
    node = start_node(attestation="warn")
    token = node.tokens["codex"]
    _client_facts_take_part(node, token, "agent:codex")
    record = _post(node, _claim("agent:other", "x", entity="user:dora"), token)
    assert record["attested"] is False  # with token auth: true only for valid facts
    assert [w.split(":")[0] for w in record["warnings"]] == ["source_vouched"]


def test_warn_node_token_without_a_grant_stays_unattested(start_node: Callable[..., Node]) -> None:
    node = start_node(attestation="warn")
    token = node.tokens["team"]  # agent:teambot may not vouch
    a = _post(node, _claim("agent:writer-a", "viewer"), token)
    _post(node, _claim("agent:writer-b", "admin"), token)
    assert (a["verification"], a["vouched_by"], a["live"]) == ("unattested", None, False)
    assert _get(node, "/v1/conflicts", token)["conflicts"] == []


def test_a_vouched_claim_never_retires_what_its_source_signed(
        start_node: Callable[..., Node], vault: Vault) -> None:
    vault.grant_vouch("agent:codex")
    node = start_node(attestation="warn")
    signed = _post(node, _claim("agent:teambot", "viewer"), node.tokens["team"])
    assert signed["verification"] == "valid"

    # codex may vouch, but not with teambot's authority: the retraction in teambot's name
    # neither retires teambot's own fact nor replaces it.
    _post(node, _claim("agent:teambot", "viewer", confidence=0.0), node.tokens["codex"])
    assert _get(node, f"/v1/facts/{signed['id']}", node.tokens["codex"])["live"] is True
    claimed = _post(node, {**_claim("agent:teambot", "admin"), "supersedes": signed["id"]},
                    node.tokens["codex"])
    assert claimed["verification"] == "vouched"
    assert _get(node, f"/v1/facts/{signed['id']}", node.tokens["codex"])["live"] is True
    # Both stand, and they disagree: an open conflict for the owner to settle.
    conflicts = _get(node, "/v1/conflicts", node.tokens["codex"], status="open")["conflicts"]
    assert [{c["fact_a"]["id"], c["fact_b"]["id"]} for c in conflicts] == [
        {signed["id"], claimed["id"]}]


def test_a_vault_written_through_an_auth_none_node_verifies(
        start_node: Callable[..., Node], vault: Vault) -> None:
    node = start_node(auth="none")
    _post(node, _claim("agent:writer-a", "viewer"))
    _post(node, _claim("user:alice", "owner", entity="user:carol"))
    vault.flush()

    report = vault.verify()
    counts = report.counts()
    assert (counts["vouched"], counts["valid"]) == (1, 1)
    assert report.ok and not report.strict_ok
    assert [item.verdict.value for item in report.problems(strict=True)] == ["vouched"]


# ----------------------------------------------------------------- what upstream accepts (item 2)


def _post_raw(node: Node, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{node.url}/v1/facts", json=body, timeout=10)


@pytest.mark.parametrize(("sent", "stored"), [
    ("obsidian://vault/People/Alice.md", "agent:obsidian://vault/people/alice.md"),
    ("my-agent", "agent:my-agent"),
    ("example/assert_recall_subscribe", "agent:example/assert_recall_subscribe"),
])
def test_a_source_that_is_no_principal_becomes_an_agent(start_node: Callable[..., Node],
                                                       sent: str, stored: str) -> None:
    node = start_node(auth="none")
    record = _post(node, _claim(sent, "x"))
    assert record["source"] == stored
    assert [w.split(":")[0] for w in record["warnings"]] == ["source_normalized"]
    assert record["verification"] == "vouched" and record["live"] is True


def test_a_relation_without_namespace_is_kept_with_a_warning(start_node: Callable[..., Node]) -> None:
    node = start_node(auth="none")
    record = _post(node, _claim("agent:a", "x", relation="role"))
    assert record["relation"] == "role"
    assert [w.split(":")[0] for w in record["warnings"]] == ["relation_without_namespace"]
    assert _get(node, f"/v1/facts/{record['id']}")["relation"] == "role"


def test_unknown_keys_string_confidence_and_uuid_derivations(start_node: Callable[..., Node],
                                                             vault: Vault) -> None:
    node = start_node(auth="none")
    parent = _post(node, _claim("agent:a", "x", entity="user:carol"))
    body = {**_claim("agent:a", "y"), "confidence": "0.9", "session_hint": {"a": 1},
            "derived_from": [{"fact_id": "4f1c2a9e-3b7d-4c55-9e2f-0a1b2c3d4e5f"},
                             {"fact_id": parent["id"]}]}
    answer = _post_raw(node, body)
    assert answer.status_code == 201, answer.text
    record = answer.json()
    assert record["confidence"] == 0.9
    assert [w.split(":")[0] for w in record["warnings"]] == ["unknown_field",
                                                             "derived_from_ignored"]
    assert record["derived_from"] == [{"fact_id": parent["id"]}]
    # Nothing unknown reached the file.
    assert "session_hint" not in (vault.root / record["path"]).read_text()
    for bad in ({"confidence": "abc"}, {"confidence": "1.5"}, {"confidence": "nan"}):
        assert _post_raw(node, {**_claim("agent:a", "z"), **bad}).status_code == 422
