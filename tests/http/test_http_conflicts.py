"""GET /v1/conflicts and POST /v1/conflicts/{id}/resolve (contract §2.4)."""

from __future__ import annotations

from datetime import datetime

import pytest
from http_support import UPSTREAM_KEYS, Node

from stigmem_vault.client import ClientError, Fact


def disagree(node: Node, scope: str = "team") -> tuple[Fact, Fact]:
    """agent:codex and user:alice say different things about one key: a conflict opens."""
    a = node.client("codex").assert_fact("user:alice", "memory:role", "engineer",
                                         source="agent:codex", scope=scope, confidence=0.9)
    b = node.client("alice").assert_fact("user:alice", "memory:role", "manager",
                                         source="user:alice", scope=scope, confidence=0.8)
    return a, b


def test_conflicts_list_shape_and_status_mapping(node: Node) -> None:
    a, b = disagree(node)
    client = node.client("codex")

    page = client.conflicts()
    assert len(page.conflicts) == 1 and (page.cursor, page.has_more) == (None, False)
    conflict = page.conflicts[0]
    assert conflict.status == "unresolved" and conflict.resolved_by is None
    assert {conflict.fact_a.id, conflict.fact_b.id} == {a.id, b.id}  # type: ignore[union-attr]
    assert all(key in conflict.fact_a.raw for key in UPSTREAM_KEYS)  # type: ignore[union-attr]
    assert conflict.fact_a.contradicted is True  # type: ignore[union-attr]
    assert datetime.fromisoformat(conflict.detected_at).tzinfo is not None
    assert (conflict.entity, conflict.relation, conflict.scope) == ("user:alice", "memory:role", "team")
    assert [c.conflict_id for c in client.conflicts(status="unresolved").conflicts] == \
        [conflict.conflict_id]
    assert client.conflicts(status="resolved").conflicts == ()


def test_resolve_with_a_winner(node: Node) -> None:
    a, b = disagree(node)
    alice = node.client("alice")
    conflict_id = alice.conflicts().conflicts[0].conflict_id

    response = alice.request("POST", f"/v1/conflicts/{conflict_id}/resolve",
                             json={"winning_fact_id": b.id, "resolution_note": "promoted"})

    assert response.status_code == 200
    body = response.json()
    assert body["conflict_status"] == "resolved"
    resolved = alice.conflicts(status="resolved").conflicts
    assert [(c.conflict_id, c.status, c.resolved_by) for c in resolved] == \
        [(conflict_id, "resolved", body["resolution_fact_id"])]
    assert alice.conflicts(status="unresolved").conflicts == ()
    # The originals are kept; the resolution is the one live fact, deriving from both.
    listed = alice.list_facts(entity="user:alice").facts
    assert [(f.id, f.value.v, f.contradicted) for f in listed] == \
        [(body["resolution_fact_id"], "manager", False)]
    resolution = alice.get_fact(body["resolution_fact_id"])
    assert {link.fact_id for link in resolution.derived_from} == {a.id, b.id}
    assert alice.get_fact(a.id).superseded_by == resolution.id


def test_resolve_with_a_new_value(node: Node) -> None:
    disagree(node)
    alice = node.client("alice")
    conflict_id = alice.conflicts().conflicts[0].conflict_id

    outcome = alice.resolve(conflict_id, new_value="tech lead")

    assert alice.get_fact(outcome.resolution_fact_id).value.v == "tech lead"


def test_resolve_errors(node: Node) -> None:
    a, _b = disagree(node)
    other = node.client("codex").assert_fact("user:bob", "memory:role", "x", source="agent:codex",
                                             scope="team")
    alice = node.client("alice")
    conflict_id = alice.conflicts().conflicts[0].conflict_id

    def status_of(conflict: str, **body: object) -> tuple[int, object]:
        response = alice.request("POST", f"/v1/conflicts/{conflict}/resolve", json=body)
        body = response.json()
        return response.status_code, body.get("detail") if response.is_success else \
            ClientError(response.status_code, body["detail"], error=body["error"])

    assert status_of("0" * 32, winning_fact_id=a.id)[0] == 404
    status, error = status_of(conflict_id)  # neither a winner nor a value
    assert status == 422 and isinstance(error, ClientError) and error.fields == ["winning_fact_id"]
    both = status_of(conflict_id, winning_fact_id=a.id, new_value={"type": "string", "v": "x"})
    assert both[0] == 422
    assert status_of(conflict_id, winning_fact_id=other.id)[0] == 422  # not in the pair
    assert status_of(conflict_id, new_value={"type": "number", "v": "x"})[0] == 422
    assert status_of(conflict_id, winning_fact_id="a")[0] == 200
    status, detail = status_of(conflict_id, winning_fact_id="a")
    assert status == 409 and "already resolved" in str(detail)


def test_bad_status_filter_is_400(node: Node) -> None:
    with pytest.raises(ClientError) as caught:
        node.client("codex").conflicts(status="open-ish")
    assert caught.value.status == 400 and caught.value.fields == ["status"]


def test_conflicts_page_with_a_cursor(node: Node) -> None:
    codex, alice = node.client("codex"), node.client("alice")
    for i in range(3):
        codex.assert_fact(f"user:u{i}", "memory:role", "a", source="agent:codex")
        alice.assert_fact(f"user:u{i}", "memory:role", "b", source="user:alice")
    everything = [c.conflict_id for c in codex.conflicts().conflicts]
    assert len(everything) == 3

    first = codex.conflicts(limit=2)
    assert first.has_more is True and first.cursor is not None
    rest = codex.conflicts(limit=2, cursor=first.cursor)
    assert rest.has_more is False and rest.cursor is None
    assert [c.conflict_id for c in first.conflicts + rest.conflicts] == everything


def test_a_team_token_never_sees_company_conflicts(node: Node) -> None:
    disagree(node, scope="company")
    team = node.client("team")

    assert team.conflicts().conflicts == ()
    conflict_id = node.client("alice").conflicts().conflicts[0].conflict_id
    with pytest.raises(ClientError) as caught:
        team.resolve(conflict_id, winning_fact_id="a")
    assert caught.value.status == 404


def test_only_the_owner_settles_other_authors_conflicts(node: Node) -> None:
    disagree(node)
    codex = node.client("codex")
    conflict_id = codex.conflicts().conflicts[0].conflict_id

    with pytest.raises(ClientError) as caught:
        codex.resolve(conflict_id, winning_fact_id="a")
    assert (caught.value.status, caught.value.code) == (403, "resolution_requires_owner")
    assert codex.conflicts(status="unresolved").conflicts[0].conflict_id == conflict_id


def test_conflicts_status_takes_the_vocabulary_of_every_surface(node: Node) -> None:
    """open, resolved, obsolete, all (as the CLI and MCP take them), and upstream's unresolved."""
    disagree(node)
    client = node.client("codex")
    [conflict] = client.conflicts().conflicts
    for status in ("open", "unresolved", "all"):
        assert [c.conflict_id for c in client.conflicts(status=status).conflicts] == \
            [conflict.conflict_id], status
    assert client.conflicts(status="obsolete").conflicts == ()
    response = client.request("GET", "/v1/conflicts", params={"status": "pending"})
    assert response.status_code == 400
    assert "open (or unresolved), resolved, obsolete or all" in response.text
