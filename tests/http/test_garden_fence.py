"""The garden fence, through HTTP and MCP: to a principal outside a garden, the garden and
every fact in it are exactly what does not exist, and it cannot write into the garden.

Alice (the owner) makes a team garden ``crew`` with agent:codex as writer and agent:reader as
reader; agent:teambot (every scope the garden needs) is not a member. The same questions go to
the HTTP node (a real server on 127.0.0.1, bearer tokens) and to the MCP server (a real MCP
client session, in process), and the outsider's answers about the garden's facts must equal
its answers about facts nobody wrote.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest
from anyio.from_thread import start_blocking_portal
from http_support import ALL_SCOPES, Node
from mcp import Client

from stigmem_vault.api.vault import Vault
from stigmem_vault.errors import AccessDenied, AlreadyExists, NotFound
from stigmem_vault.mcp.server import build_server, principal_for
from stigmem_vault.model.fact import make_claim
from stigmem_vault.model.values import make_value

MISSING = hashlib.sha256(b"a fact nobody wrote").hexdigest()
SECRET = "launch date moved to friday"


@dataclass
class Garden:
    garden_id: str
    secret: str  # the id of a fact in the garden
    cid: str
    open_fact: str  # a team fact outside any garden, on the same key as the secret


@pytest.fixture
def garden(vault: Vault, tokens: dict[str, str]) -> Garden:
    vault.create_identity("agent:reader")
    owner = vault.as_principal(vault.operator())
    made = owner.create_garden(slug="crew", name="Crew", scope="team")
    owner.add_garden_member("crew", "agent:codex", "writer")
    owner.add_garden_member("crew", "agent:reader", "reader")
    codex = vault.as_principal(principal_for(vault, "agent:codex", ["team"]))
    claim = make_claim(entity="project:atlas", relation="memory:plan", scope="team",
                       value=make_value("string", SECRET), source="agent:codex")
    secret, _ = codex.write(codex.in_garden(claim, "crew"))
    # The same key, outside the garden, by someone else: no conflict with the garden's fact.
    open_fact = vault.assert_fact(entity="project:atlas", relation="memory:plan", scope="team",
                                  value="launch on monday", source="user:alice")
    return Garden(made.garden_id, secret.fact.id, secret.cid, open_fact.id)


def test_the_garden_is_a_signed_committed_record_and_its_fact_carries_the_garden(
        vault: Vault, garden: Garden) -> None:
    item = vault.get(garden.secret)
    assert item.fact.garden_id == garden.garden_id
    vault.flush()
    report = vault.verify()
    assert report.ok, report
    paths = [i.path or "" for i in vault.query(entity=garden.garden_id, include_superseded=True)]
    assert len(paths) == 3 and all(p.startswith("facts/team/") for p in paths)  # name, 2 members
    # garden_id is signed: the same claim outside the garden has another id but the same cid.
    assert vault.get(garden.open_fact).fact.id != garden.secret
    assert vault.conflicts("open") == []  # the garden's fact and the open one never conflict


def test_outsider_sees_no_garden_and_no_garden_fact(vault: Vault, garden: Garden,
                                                    start_node: Callable[..., Node]) -> None:
    raw, _ = vault.create_token("agent:teambot", scopes=ALL_SCOPES, perms=["read", "write"])
    node = start_node()
    node.tokens["outsider"] = raw
    outsider = node.client("outsider")
    member = node.client("codex")

    def ask(client: Any, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        response = client.request(method, path, json=body)
        return response.status_code, (response.json() if response.content else None)

    def alike(client: Any, method: str, path: str, ref: str, missing: str,
              body: Any = None) -> tuple[int, Any]:
        """The answer about ``ref`` is the answer about ``missing``, but for the reference
        the error message echoes back."""
        hidden = ask(client, method, path.format(ref), body and {**body, "garden_id": ref})
        absent = ask(client, method, path.format(missing), body and {**body, "garden_id": missing})
        assert hidden[0] == absent[0] and str(hidden[1]) == str(absent[1]).replace(missing, ref)
        return hidden

    # The fact, by id, prefix and cid: the answer about a fact nobody wrote.
    for ref, missing in ((garden.secret, MISSING), (garden.secret[:12], MISSING[:12]),
                         (garden.cid, "sha256:" + MISSING)):
        assert alike(outsider, "GET", "/v1/facts/{}", ref, missing)[0] == 404
        assert ask(member, "GET", f"/v1/facts/{ref}")[0] == 200
    status, body = ask(outsider, "GET", "/v1/facts?include_superseded=true&include_contradicted=true")
    assert status == 200 and garden.secret not in str(body) and garden.garden_id not in str(body)
    assert garden.open_fact in str(body)
    status, body = ask(outsider, "POST", "/v1/recall", {"query": "launch friday", "limit": 50})
    assert status == 200 and garden.secret not in str(body)
    status, body = ask(member, "POST", "/v1/recall", {"query": "launch friday", "limit": 50})
    assert garden.secret in str(body)
    # The garden itself: every endpoint answers as for a garden that does not exist.
    for path in ("/v1/gardens/{}", "/v1/gardens/{}/members"):
        assert alike(outsider, "GET", path, "crew", "nope")[0] == 404
    assert ask(outsider, "GET", "/v1/gardens") == (200, [])
    assert [g["slug"] for g in ask(member, "GET", "/v1/gardens")[1]] == ["crew"]
    assert alike(outsider, "GET", "/v1/facts?garden_id={}", garden.garden_id,
                 "stigmem://x/garden/nope")[0] == 404
    status, body = ask(member, "GET", "/v1/facts?garden_id=crew")
    facts = [f for f in body["facts"] if not f["relation"].startswith("garden:")]  # + its records
    assert status == 200 and [f["id"] for f in facts] == [garden.secret]
    assert {f["garden_id"] for f in body["facts"]} == {garden.garden_id}
    # Writing into it: refused, exactly as writing into a garden that does not exist.
    write = {"entity": "project:atlas", "relation": "memory:plan", "source": "agent:teambot",
             "scope": "team", "value": {"type": "string", "v": "sneak"}}
    assert alike(outsider, "POST", "/v1/facts", garden.garden_id, "stigmem://x/garden/nope",
                 write)[0] == 404
    assert ask(outsider, "POST", "/v1/gardens/crew/members",
               {"entity_uri": "agent:teambot", "role": "admin"})[0] == 404
    assert ask(outsider, "DELETE", "/v1/gardens/crew")[0] == 404
    # A reader sees it but may not write (403), a writer may, but only in the garden's scope.
    reader_token, _ = vault.create_token("agent:reader", scopes=ALL_SCOPES, perms=["read", "write"])
    node.tokens["garden-reader"] = reader_token
    as_reader = node.client("garden-reader")
    denied = ask(as_reader, "POST", "/v1/facts", {**write, "source": "agent:reader",
                                                  "garden_id": "crew"})
    assert denied[0] == 403 and denied[1]["error"]["code"] == "garden_write_denied"
    assert ask(as_reader, "POST", "/v1/gardens/crew/members",
               {"entity_uri": "agent:teambot"})[1]["error"]["code"] == "garden_admin_required"
    wrong_scope = ask(member, "POST", "/v1/facts", {**write, "source": "agent:codex",
                                                    "scope": "company", "garden_id": "crew"})
    assert wrong_scope[0] == 422
    ok = ask(member, "POST", "/v1/facts", {**write, "source": "agent:codex", "garden_id": "crew"})
    assert ok[0] == 201 and ok[1]["garden_id"] == garden.garden_id
    # garden: relations are records, never ordinary facts.
    assert ask(member, "POST", "/v1/facts", {**write, "source": "agent:codex",
                                             "relation": "garden:name"})[0] == 422


@pytest.fixture
def mcp_call(vault: Vault, garden: Garden) -> Iterator[Callable[[str, str, dict[str, Any]], Any]]:
    """call(principal, tool, arguments) through real MCP sessions, one per principal."""
    with ExitStack() as stack:
        portal = stack.enter_context(start_blocking_portal())
        clients: dict[str, Any] = {}

        def call(who: str, tool: str, arguments: dict[str, Any]) -> Any:
            if who not in clients:
                server = build_server(vault, principal_for(vault, who, ALL_SCOPES))
                clients[who] = stack.enter_context(portal.wrap_async_context_manager(
                    Client(server, read_timeout_seconds=30)))
            return portal.call(clients[who].call_tool, tool, arguments)

        yield call


def _answer(result: Any) -> Any:
    return result.content[0].text if result.is_error else result.structured_content


def test_mcp_outsider_is_fenced_like_http(vault: Vault, garden: Garden,
                                          mcp_call: Callable[[str, str, dict[str, Any]], Any]) -> None:
    outsider = "agent:teambot"
    hidden = _answer(mcp_call(outsider, "get_fact", {"fact_id": garden.secret}))
    missing = _answer(mcp_call(outsider, "get_fact", {"fact_id": MISSING}))
    assert hidden.replace(garden.secret, "<ref>") == missing.replace(MISSING, "<ref>")
    listed = _answer(mcp_call(outsider, "query_facts", {"include_superseded": True, "limit": 500}))
    assert garden.secret not in str(listed) and garden.open_fact in str(listed)
    recalled = _answer(mcp_call(outsider, "recall", {"text": "launch friday", "limit": 50}))
    assert garden.secret not in str(recalled)
    into = mcp_call(outsider, "assert_fact", {"entity": "project:atlas", "relation": "memory:plan",
                                              "value": "sneak", "scope": "team",
                                              "garden": garden.garden_id})
    nowhere = mcp_call(outsider, "assert_fact", {"entity": "project:atlas",
                                                 "relation": "memory:plan", "value": "sneak",
                                                 "scope": "team", "garden": "stigmem://x/garden/nope"})
    assert into.is_error and _answer(into).replace(garden.garden_id, "<g>") == \
        _answer(nowhere).replace("stigmem://x/garden/nope", "<g>")
    # A member sees it and writes into it.
    mine = _answer(mcp_call("agent:codex", "query_facts", {"garden": "crew"}))
    assert [f["id"] for f in mine["facts"] if f["relation"] == "memory:plan"] == [garden.secret]
    written = _answer(mcp_call("agent:codex", "assert_fact", {
        "entity": "project:atlas", "relation": "memory:owner", "value": "codex", "scope": "team",
        "garden": "crew"}))
    assert written["fact"]["garden_id"] == garden.garden_id


def test_view_rules(vault: Vault, garden: Garden) -> None:
    """The one place the rules live: the principal's view (what HTTP and MCP call)."""
    outsider = vault.as_principal(principal_for(vault, "agent:teambot", ALL_SCOPES))
    with pytest.raises(NotFound) as hidden:
        outsider.get(garden.secret)
    with pytest.raises(NotFound) as missing:
        outsider.get(MISSING)
    assert str(hidden.value).replace(garden.secret, "") == str(missing.value).replace(MISSING, "")
    with pytest.raises(NotFound):
        outsider.garden("crew")
    assert outsider.gardens() == []
    reader = vault.as_principal(principal_for(vault, "agent:reader", ALL_SCOPES))
    assert [g.slug for g in reader.gardens()] == ["crew"]
    claim = make_claim(entity="project:atlas", relation="memory:plan", scope="team",
                       value=make_value("string", "x"), source="agent:reader")
    with pytest.raises(AccessDenied):
        reader.write(reader.in_garden(claim, "crew"))
    owner = vault.as_principal(vault.operator())
    # A conflict inside the garden (two authors, one key): members see it, the outsider not.
    clash = make_claim(entity="project:atlas", relation="memory:plan", scope="team",
                       value=make_value("string", "launch in march"), source="user:alice")
    owner.write(owner.in_garden(clash, "crew"))
    [conflict] = owner.conflicts("open")
    assert {conflict.fact_a.fact.garden_id, conflict.fact_b.fact.garden_id} == {garden.garden_id}
    assert [c.id for c in reader.conflicts("open")] == [conflict.id]
    assert outsider.conflicts() == []
    with pytest.raises(NotFound):
        outsider.conflict(conflict.id)
    with pytest.raises(AlreadyExists):  # the last admin cannot go
        owner.remove_garden_member("crew", "user:alice")
    owner.remove_garden_member("crew", "agent:reader")
    with pytest.raises(NotFound):  # removed: the garden is gone for it, at once
        reader.garden("crew")
