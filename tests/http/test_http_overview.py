"""Lint, entity cards, federation status and /v1/me on a real node on 127.0.0.1, each fenced
by the token's scopes; and the upstream endpoints the node refuses honestly."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from http_support import Node

from stigmem_vault.api.vault import Vault

pytestmark = pytest.mark.network

ATLAS = "stigmem://acme/project/atlas"


def _iso(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat(timespec="seconds").replace("+00:00", "Z")


def _lint(node: Node, who: str, **body: object) -> tuple[int, dict]:
    response = node.client(who).request("POST", "/v1/lint", json=body)
    return response.status_code, response.json()


def _by_check(result: dict) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for finding in result["findings"]:
        found.setdefault(finding["check"], []).append(finding)
    return found


def test_lint_reports_each_kind_of_trouble_in_the_scope_asked(node: Node) -> None:
    vault = node.vault
    say = vault.assert_fact
    # contradiction: two authors, two values, one key
    a = say(entity=ATLAS, relation="project:owner", value="codex", source="agent:codex",
            scope="team")
    b = say(entity=ATLAS, relation="project:owner", value="teambot", source="agent:teambot",
            scope="team")
    # stale: one expired, one expiring within the lookahead, one far away
    expired = say(entity=ATLAS, relation="project:phase", value="alpha", scope="team",
                  valid_until=_iso(timedelta(seconds=-5)))
    soon = say(entity="project:beta", relation="project:phase", value="beta", scope="team",
               valid_until=_iso(timedelta(hours=1)))
    say(entity="project:gamma", relation="project:phase", value="gamma", scope="team",
        valid_until=_iso(timedelta(days=30)))
    # orphan: an entity whose only fact was retracted
    gone = say(entity="project:gone", relation="project:phase", value="x", scope="team")
    say(entity="project:gone", relation="project:phase", value="x", scope="team", confidence=0.0,
        supersedes=gone.id)
    # broken_ref: one to nothing (error for a followed intent), one to an entity with facts
    dangling = say(entity=ATLAS, relation="intent:handoff_to", value="agent:nobody",
                   value_type="ref", scope="team")
    say(entity=ATLAS, relation="project:sibling", value="project:beta", value_type="ref",
        scope="team")
    # low_confidence
    shaky = say(entity="project:beta", relation="project:guess", value="maybe", scope="team",
                confidence=0.2)
    # in another scope: never reported for team
    say(entity="project:secret", relation="project:phase", value="hidden", scope="company",
        confidence=0.1, valid_until=_iso(timedelta(seconds=-5)))
    vault.flush()

    status, result = _lint(node, "team", scope="team", stale_lookahead_s=7200)
    assert status == 200, result
    assert list(result) == ["findings", "checked_at", "scope", "checks_run", "fact_count"]
    assert result["scope"] == "team"
    assert result["checks_run"] == ["contradiction", "stale", "orphan", "broken_ref",
                                    "namespacing", "schema", "low_confidence"]
    found = _by_check(result)
    [conflict] = found["contradiction"]
    assert (conflict["severity"], conflict["entity"], conflict["relation"]) == (
        "error", ATLAS, "project:owner")
    assert sorted(conflict["fact_ids"]) == sorted([a.id, b.id])
    stale = {f["fact_ids"][0]: f["severity"] for f in found["stale"]}
    assert stale == {expired.id: "warning", soon.id: "info"}
    assert [(f["entity"], f["severity"]) for f in found["orphan"]] == [("project:gone", "info")]
    assert [(f["fact_ids"], f["severity"]) for f in found["broken_ref"]] == [
        ([dangling.id], "error")]
    assert [f["fact_ids"] for f in found["low_confidence"]] == [[shaky.id]]
    assert "namespacing" not in found and "schema" not in found
    assert "project:secret" not in str(result)
    assert result["fact_count"] >= 10

    # Checks narrow the sweep; lookahead 0 keeps only what has expired.
    status, only = _lint(node, "team", scope="team", checks=["stale", "contradiction"])
    assert status == 200
    assert only["checks_run"] == ["contradiction", "stale"]
    assert {f["check"] for f in only["findings"]} == {"contradiction", "stale"}
    assert [f["fact_ids"] for f in _by_check(only)["stale"]] == [[expired.id]]
    # An entity narrows it too.
    status, beta = _lint(node, "team", scope="team", entity="project:beta")
    assert {f["check"] for f in beta["findings"]} == {"low_confidence"}


def test_lint_is_fenced_by_the_token_and_checks_its_body(node: Node) -> None:
    status, body = _lint(node, "team", scope="company")
    assert status == 403 and body["error"]["code"] == "scope_not_permitted"
    status, body = _lint(node, "team", scope="team", checks=["spelling"])
    assert status == 422 and "checks" in body["detail"]
    status, body = _lint(node, "team", scope="team", stale_lookahead_s=-1)
    assert status == 422 and "stale_lookahead_s" in body["detail"]
    status, body = _lint(node, "team", scope="team", extra=1)
    assert status == 422
    assert node.client(None).request("POST", "/v1/lint", json={"scope": "team"}).status_code == 401


def test_lint_finds_a_fact_that_a_newer_schema_refuses(node: Node) -> None:
    vault = node.vault
    fact = vault.assert_fact(entity=ATLAS, relation="project:count", value="seven", scope="team")
    vault.flush()
    schema = vault.root / ".stigmem" / "schemas" / "count.yaml"
    schema.parent.mkdir(parents=True, exist_ok=True)
    schema.write_text("relation: project:count\ntype: number\n", "utf-8")
    vault.reload_config()  # what the watcher does when a schema file changes
    status, result = _lint(node, "alice", scope="team", checks=["schema"])
    assert status == 200, result
    [finding] = result["findings"]
    assert (finding["check"], finding["severity"], finding["fact_ids"]) == (
        "schema", "error", [fact.id])
    assert "number" in finding["detail"]


def test_a_card_summarises_an_entitys_live_facts_in_one_scope(node: Node) -> None:
    vault = node.vault
    older = vault.assert_fact(entity=ATLAS, relation="project:phase", value="alpha",
                              scope="team", source="agent:codex")
    newer = vault.assert_fact(entity=ATLAS, relation="project:phase", value="beta", scope="team",
                              source="agent:codex", supersedes=older.id, confidence=0.5)
    done = vault.assert_fact(entity=ATLAS, relation="project:launched", value=True, scope="team",
                             source="agent:codex")
    vault.assert_fact(entity=ATLAS, relation="project:budget", value=10, scope="company")
    vault.flush()

    # Slashes of the entity as upstream's SDKs send them: unencoded in the path.
    response = node.client("team").request("GET", f"/v1/cards/{ATLAS}", params={"scope": "team"})
    assert response.status_code == 200, response.text
    card = response.json()
    assert list(card)[:8] == ["entity_uri", "scope", "summary", "fact_hashes", "avg_confidence",
                              "refreshed_at", "is_stale", "has_contradictions"]
    assert (card["entity_uri"], card["scope"], card["is_stale"], card["has_contradictions"]) == (
        ATLAS, "team", False, False)
    assert [f["id"] for f in card["facts"]] == [done.id, newer.id]  # live ones, newest first
    assert card["fact_hashes"] == [f["cid"] for f in card["facts"]]
    assert card["avg_confidence"] == 0.75
    assert card["summary"].splitlines() == [
        f"Entity: {ATLAS}", "Facts:", "  project:launched: true (conf=1.00)",
        "  project:phase: beta (conf=0.50)"]
    assert "budget" not in response.text  # company scope: not this card, not this token's

    encoded = ATLAS.replace("/", "%2F").replace(":", "%3A")
    again = node.client("team").request("GET", f"/v1/cards/{encoded}?scope=team&refresh=true")
    assert again.status_code == 200 and again.json()["fact_hashes"] == card["fact_hashes"]

    # The team token may not ask for another scope; nothing live is 404, like upstream.
    team = node.client("team")
    assert team.request("GET", f"/v1/cards/{ATLAS}").status_code == 403  # default scope: local
    assert team.request("GET", f"/v1/cards/{ATLAS}", params={"scope": "company"}).status_code == 403
    assert team.request("GET", "/v1/cards/project:nothing",
                        params={"scope": "team"}).status_code == 404
    owner = node.client("alice").request("GET", f"/v1/cards/{ATLAS}", params={"scope": "company"})
    assert owner.status_code == 200 and "project:budget: 10" in owner.json()["summary"]
    assert team.request("GET", f"/v1/cards/{ATLAS}", params={"scope": "galaxy"}).status_code == 400


def test_me_names_the_principal_its_scopes_and_permissions(node: Node,
                                                            start_node: Callable[..., Node]) -> None:
    me = node.client("team").request("GET", "/v1/me").json()
    assert me["entity_uri"] == "agent:teambot"
    assert (me["permissions"], me["scopes"], me["auth"]) == (["read", "write"], ["team"], "token")
    assert me["token_id"] and (me["oidc_sub"], me["tenant_id"]) == (None, None)
    reader = node.client("reader").request("GET", "/v1/me").json()
    assert (reader["entity_uri"], reader["permissions"]) == ("agent:codex", ["read"])
    assert node.client(None).request("GET", "/v1/me").status_code == 401

    open_node = start_node(auth="none")
    operator = open_node.client(None).request("GET", "/v1/me").json()
    assert (operator["entity_uri"], operator["auth"], operator["token_id"]) == (
        "user:alice", "none", None)
    assert operator["scopes"] == ["company", "local", "public", "team"]


def test_federation_peers_lists_git_peers_as_far_as_the_token_reaches(
        node: Node, vault: Vault, tmp_path: Path) -> None:
    import subprocess

    bare = tmp_path / "shared.git"
    subprocess.run(["git", "init", "--bare", "-q", str(bare)], check=True)
    peer = Vault.init(tmp_path / "peer", owner="user:pat", home=tmp_path / "peer-home",
                      commit_delay=None)
    try:
        peer.assert_fact(entity=ATLAS, relation="project:phase", value="peer", scope="company")
        peer.flush()
        peer.add_remote("shared", str(bare), ["company"])
        assert all(r.error is None for r in peer.sync())
        assert peer.node is not None
        peer_id = peer.node.node_id
    finally:
        peer.close()
    vault.add_remote("shared", str(bare), ["team", "company"])  # a path on this machine
    vault.add_remote("hosted", "https://bob:secret@git.example.com/team.git", ["public"])
    [report] = vault.sync("shared")
    assert report.new_peers == [peer_id]

    owner = node.client("alice").request("GET", "/v1/federation/peers").json()
    [listed] = owner["peers"]
    assert (listed["peer_id"], listed["node_id"], listed["status"], listed["trust"]) == (
        peer_id, f"stigmem:node:{peer_id}", "pending_verification", "pending")
    assert listed["allowed_scopes"] == ["company"]
    assert listed["owner"] == "user:pat" and listed["fingerprint"].startswith("sha256:")
    assert listed["node_url"] == "remote:shared" and listed["remote"] == "shared"
    # Neither a server path nor credentials are shown.
    assert {r["name"]: r["url"] for r in owner["remotes"]} == {
        "shared": "remote:shared", "hosted": "https://git.example.com/team.git"}
    assert "secret" not in str(owner) and str(tmp_path) not in str(owner)

    vault.trust_peer(peer_id)
    trusted = node.client("alice").request("GET", "/v1/federation/peers").json()
    assert trusted["peers"][0]["status"] == "active"

    # The team token shares no scope with the peer: it sees neither the peer nor the hosted
    # (public) remote, and of the shared remote only the team scope.
    team = node.client("team").request("GET", "/v1/federation/peers").json()
    assert team["peers"] == []
    assert [(r["name"], r["scopes"]) for r in team["remotes"]] == [("shared", ["team"])]
    assert node.client(None).request("GET", "/v1/federation/peers").status_code == 401


def test_http_federation_and_instruction_manifests_are_refused_honestly(
        node: Node, start_node: Callable[..., Node]) -> None:
    anonymous = node.client(None)
    for method in ("GET", "POST"):
        assert anonymous.request(method, "/v1/federation/facts").status_code == 401
        answer = node.client("codex").request(method, "/v1/federation/facts", json={"facts": []})
        assert answer.status_code == 404
        assert answer.json()["error"]["code"] == "federation_over_git"
    manifest = "/v1/agents/00000000-0000-0000-0000-000000000001/instruction-manifest"
    assert anonymous.request("POST", manifest, json={}).status_code == 401
    for who in ("codex", "alice"):
        answer = node.client(who).request("POST", manifest, json={"version": "v1", "entries": []})
        assert answer.status_code == 403
        assert answer.json()["error"]["code"] == "instruction_write_required"
    open_node = start_node(auth="none")
    answer = open_node.client(None).request("POST", manifest, json={"entries": []})
    assert answer.status_code == 403 and "data only" in answer.json()["error"]["message"]
    assert open_node.client(None).request("GET", "/v1/federation/facts").status_code == 404


def test_a_wrong_method_names_the_right_ones(node: Node) -> None:
    client = node.client("codex")
    for method, path, allowed in [("GET", "/v1/lint", {"POST"}), ("DELETE", "/v1/me", {"GET"}),
                                  ("PUT", "/v1/federation/facts", {"GET", "POST"})]:
        response = client.request(method, path)
        assert response.status_code == 405, (method, path)
        assert set(response.headers["Allow"].split(", ")) == allowed, (method, path)
