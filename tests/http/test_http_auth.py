"""Bearer tokens, permissions, scope fences, source attestation, rate limits and body limits."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from http_support import Node, wait_for

from stigmem_vault.client import ClientError, StigmemClient
from stigmem_vault.http.settings import RateLimit

FACT = {"entity": "user:alice", "relation": "memory:role",
        "value": {"type": "string", "v": "engineer"}, "source": "agent:codex", "scope": "team"}
PROTECTED = [("GET", "/v1/facts", None), ("POST", "/v1/facts", FACT),
             ("GET", "/v1/facts/" + "0" * 64, None), ("POST", "/v1/recall", {"query": "x"}),
             ("GET", "/v1/conflicts", None), ("POST", "/v1/facts/batch", {"facts": [FACT]}),
             ("GET", "/v1/graph/neighbors?entity=user:alice&scope=team", None)]


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
def test_no_token_is_401_with_www_authenticate(node: Node, method: str, path: str,
                                               body: dict[str, object] | None) -> None:
    response = node.client(None).request(method, path, json=body)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["detail"] == "Authorization header required"
    assert response.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("header", ["Bearer stg_not-a-real-token", "Basic dXNlcjpwYXNz", "Bearer",
                                    "stg_raw-token-without-scheme"])
def test_bad_token_is_401(node: Node, header: str) -> None:
    response = node.client(None).request("GET", "/v1/facts", headers={"Authorization": header})

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["detail"] == "Invalid or expired API key"


def test_health_and_discovery_need_no_token(node: Node) -> None:
    anonymous = node.client(None)

    assert anonymous.healthz() == "ok"
    known = anonymous.well_known()
    assert (known.version, known.auth, known.source_attestation, known.federation) == \
        ("1.0", "required", "enforce", "disabled")
    assert "memory:" in known.namespaces and known.node_id and known.node_id.startswith("stigmem:node:")


def test_read_only_token_reads_but_cannot_write(node: Node) -> None:
    fact = node.client("codex").assert_fact("user:alice", "memory:role", "engineer",
                                            source="agent:codex")
    reader = node.client("reader")

    assert reader.get_fact(fact.id).id == fact.id
    with pytest.raises(ClientError) as caught:
        reader.assert_fact("user:alice", "memory:city", "paris", source="agent:codex")
    assert (caught.value.status, caught.value.code) == (403, "permission_denied")
    with pytest.raises(ClientError) as caught:
        reader.resolve("0" * 32, winning_fact_id="a")
    assert caught.value.status == 403


def test_team_token_never_sees_company_facts(node: Node) -> None:
    codex, team = node.client("codex"), node.client("team")
    secret = codex.assert_fact("user:alice", "memory:salary", "secret engineer pay",
                               source="agent:codex", scope="company")
    shared = codex.assert_fact("user:alice", "memory:role", "engineer", source="agent:codex",
                               scope="team")
    child = codex.assert_fact("user:alice", "memory:summary", "engineer", source="agent:codex",
                              scope="team", derived_from=[secret.id, secret.cid])

    assert [f.id for f in team.list_facts().facts] == [child.id, shared.id]
    assert team.list_facts(include_superseded=True, include_expired=True,
                           include_contradicted=True).total == 2
    with pytest.raises(ClientError) as caught:
        team.list_facts(scope="company")
    assert (caught.value.status, caught.value.code) == (403, "scope_not_permitted")
    for ref in (secret.id, secret.id[:12], secret.cid):
        for call in (team.get_fact, team.provenance, team.verify_cid):
            with pytest.raises(ClientError) as caught:
                call(ref)
            assert caught.value.status == 404  # indistinguishable from a fact that does not exist
    assert {h.fact.id for h in team.recall("engineer").facts} == {child.id, shared.id}
    with pytest.raises(ClientError) as caught:
        team.recall("engineer", scope="company")
    assert caught.value.status == 403
    # provenance never reveals what the token may not see
    links = team.provenance(child.id).derived_from
    assert [(link.exists, link.fact_id, link.entity) for link in links] == [(False, None, None)] * 2
    assert codex.provenance(secret.id).derived_by == (child.id,)


def test_team_token_writes_only_its_scope(node: Node) -> None:
    team = node.client("team")

    assert team.assert_fact("user:alice", "memory:role", "x", source="agent:teambot",
                            scope="team").scope == "team"
    with pytest.raises(ClientError) as caught:
        team.assert_fact("user:alice", "memory:role", "x", source="agent:teambot", scope="company")
    assert (caught.value.status, caught.value.code) == (403, "scope_not_permitted")


def test_enforced_attestation_refuses_another_source(client: StigmemClient) -> None:
    with pytest.raises(ClientError) as caught:
        client.assert_fact("user:alice", "memory:role", "x", source="user:alice")
    assert (caught.value.status, caught.value.code) == (403, "source_not_owned")


def test_warn_mode_writes_unattested_with_a_warning(start_node: Callable[..., Node]) -> None:
    node = start_node(attestation="warn")
    client = node.client("codex")
    assert client.well_known().source_attestation == "warn"

    fact = client.assert_fact("user:alice", "memory:role", "x", source="agent:someone-else")

    assert fact.source == "agent:someone-else"
    assert [w.split(":")[0] for w in fact.warnings] == ["source_unattested"]
    assert (fact.verification, fact.attested) == ("unattested", False)
    assert fact.signer == client.get_fact(fact.id).signer  # signed by the writer's key
    assert [f.id for f in client.list_facts().facts] == [fact.id]  # still listed, flagged
    own = client.assert_fact("user:alice", "memory:city", "paris", source="agent:codex")
    assert (own.warnings, own.verification) == ((), "valid")


def test_auth_none_node_serves_everything_as_the_owner(start_node: Callable[..., Node]) -> None:
    node = start_node(auth="none")
    anonymous = node.client(None)

    assert anonymous.well_known().auth == "none"
    fact = anonymous.assert_fact("stigmem://testnode/user/bob", "memory:role", "viewer",
                                 source="stigmem://testnode/agent/test", scope="company")
    assert fact.attested is None  # upstream vector: attested is null when auth is disabled
    assert anonymous.get_fact(fact.id).id == fact.id


# ----------------------------------------------------------------------------- rate limits


def test_write_limit_answers_429_with_retry_after(start_node: Callable[..., Node]) -> None:
    node = start_node(writes=RateLimit(rate=0.01, burst=2))
    codex = node.client("codex")
    for i in range(2):
        codex.assert_fact("user:alice", f"memory:item{i}", "x", source="agent:codex")

    with pytest.raises(ClientError) as caught:
        codex.assert_fact("user:alice", "memory:item2", "x", source="agent:codex")

    assert caught.value.status == 429
    assert caught.value.retry_after is not None and caught.value.retry_after >= 1
    assert caught.value.headers["retry-after"].isdigit()
    assert len(codex.list_facts().facts) == 2  # reads have their own bucket
    # per principal: another token still writes
    node.client("alice").assert_fact("user:alice", "memory:city", "paris", source="user:alice")


def test_read_limit_answers_429(start_node: Callable[..., Node]) -> None:
    node = start_node(reads=RateLimit(rate=0.01, burst=1))
    codex = node.client("codex")
    codex.list_facts()
    with pytest.raises(ClientError) as caught:
        codex.list_facts()
    assert caught.value.status == 429 and caught.value.retry_after


# ----------------------------------------------------------------------------- body limits


def test_oversized_body_is_413(start_node: Callable[..., Node]) -> None:
    node = start_node(max_body_bytes=2048)
    codex = node.client("codex")
    big = {**FACT, "value": {"type": "text", "v": "x" * 4096}}

    response = codex.request("POST", "/v1/facts", json=big)
    assert response.status_code == 413
    assert "2048" in response.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the node counts as it reads
        yield b'{"entity": "user:alice", "value": {"type": "text", "v": "'
        for _ in range(8):
            yield b"x" * 512
        yield b'"}}'

    streamed = codex.request("POST", "/v1/facts", content=chunks(),
                             headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413
    assert codex.list_facts().facts == ()
    small = codex.request("POST", "/v1/facts", json=FACT)
    assert small.status_code == 201


def test_a_body_without_length_under_the_limit_is_served(start_node: Callable[..., Node]) -> None:
    node = start_node(max_body_bytes=4096)
    codex = node.client("codex")

    def chunks() -> Iterator[bytes]:  # streamed (chunked): the node reads it all, then serves
        yield b'{"entity": "user:alice", "relation": "memory:role", '
        yield b'"value": {"type": "string", "v": "' + b"y" * 600 + b'"}, '
        yield b'"source": "agent:codex", "scope": "team"}'

    streamed = codex.request("POST", "/v1/facts", content=chunks(),
                             headers={"Content-Type": "application/json"})
    assert streamed.status_code == 201, streamed.text
    assert streamed.json()["value"]["v"] == "y" * 600


def test_a_revoked_token_is_refused_by_the_next_request(node: Node) -> None:
    """The node caches the token store, but never past a change to it."""
    codex = node.client("codex")
    assert codex.list_facts().facts == ()
    record = next(t for t in node.vault.tokens() if t.principal == "agent:codex"
                  and "write" in t.perms)
    node.vault.revoke_token(record.id)
    with pytest.raises(ClientError) as caught:
        codex.list_facts()
    assert caught.value.status == 401


def test_a_token_revoked_by_another_process_is_refused_soon(node: Node) -> None:
    """`stigmem token revoke` run while the node serves: seen within TOKEN_RECHECK."""
    codex = node.client("codex")
    assert codex.list_facts().facts == ()
    record = next(t for t in node.vault.tokens() if t.principal == "agent:codex"
                  and "write" in t.perms)
    stigmem = str(Path(sys.executable).parent / "stigmem")
    revoked = subprocess.run([stigmem, "--vault", str(node.vault.root), "token", "revoke",
                              record.id],
                             capture_output=True, text=True, check=False)
    assert revoked.returncode == 0, revoked.stderr

    def refused() -> bool:
        try:
            codex.list_facts()
        except ClientError as exc:
            return exc.status == 401
        return False

    wait_for(refused, timeout=5.0, what="the revoked token to be refused")
