"""The scope fence, through every front end: a fact outside a principal's scopes is, to that
principal, exactly a fact that does not exist, and the principal never changes its liveness.

The principal is the vault owner holding a team-only token: as the owner it has the authority
to replace anyone's fact (§13.1), so only the fence stops it. The same scenario runs through the
HTTP node (a real server on 127.0.0.1) and the MCP server (a real MCP client session, in
process), and the two front ends must give the same answers.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, Protocol

import pytest
from anyio.from_thread import start_blocking_portal
from http_support import Node
from mcp import Client

from stigmem_vault.api.vault import Vault
from stigmem_vault.mcp.server import build_server, principal_for

MISSING = hashlib.sha256(b"a fact nobody wrote").hexdigest()
MISSING_CONFLICT = hashlib.sha256(b"a conflict nobody had").hexdigest()[:32]


@dataclass(frozen=True)
class Answer:
    ok: bool
    body: Any  # HTTP: [status, JSON body]; MCP: the structured result, or the error text

    def masked(self, *refs: str) -> str:
        """The answer as text with the given references blanked (longest first)."""
        text = json.dumps(self.body, sort_keys=True)
        for ref in sorted(refs, key=len, reverse=True):
            text = text.replace(ref, "<ref>")
        return text


class Front(Protocol):
    name: str

    def get(self, ref: str) -> Answer: ...
    def provenance(self, ref: str) -> Answer: ...
    def write(self, value: str, **fields: Any) -> Answer: ...
    def resolve(self, conflict_id: str) -> Answer: ...
    def listing(self) -> Answer: ...
    def recall(self, text: str) -> Answer: ...
    def conflicts(self) -> Answer: ...


class HttpFront:
    name = "http"

    def __init__(self, node: Node, who: str) -> None:
        self.client = node.client(who)

    def _ask(self, method: str, path: str, body: Any = None) -> Answer:
        response = self.client.request(method, path, json=body)
        return Answer(response.status_code < 300, [response.status_code, response.json()])

    def get(self, ref: str) -> Answer:
        return self._ask("GET", f"/v1/facts/{ref}")

    def provenance(self, ref: str) -> Answer:
        return self._ask("GET", f"/v1/facts/{ref}/provenance")

    def write(self, value: str, **fields: Any) -> Answer:
        body = {"entity": "user:bob", "relation": "memory:role", "source": "user:alice",
                "scope": "team", "value": {"type": "string", "v": value}, **fields}
        return self._ask("POST", "/v1/facts", body)

    def resolve(self, conflict_id: str) -> Answer:
        return self._ask("POST", f"/v1/conflicts/{conflict_id}/resolve",
                         {"winning_fact_id": "a"})

    def listing(self) -> Answer:
        return self._ask("GET", "/v1/facts?include_superseded=true&include_contradicted=true")

    def recall(self, text: str) -> Answer:
        return self._ask("POST", "/v1/recall", {"query": text, "limit": 50})

    def conflicts(self) -> Answer:
        return self._ask("GET", "/v1/conflicts")


class McpFront:
    name = "mcp"

    def __init__(self, call: Callable[[str, dict[str, Any]], Any]) -> None:
        self._call = call

    def _ask(self, tool: str, **arguments: Any) -> Answer:
        result = self._call(tool, arguments)
        if result.is_error:
            [block] = result.content
            return Answer(False, block.text)
        return Answer(True, result.structured_content)

    def get(self, ref: str) -> Answer:
        return self._ask("get_fact", fact_id=ref)

    def provenance(self, ref: str) -> Answer:
        return self._ask("provenance", fact_id=ref)

    def write(self, value: str, **fields: Any) -> Answer:
        return self._ask("assert_fact", entity="user:bob", relation="memory:role", value=value,
                         scope="team", **fields)

    def resolve(self, conflict_id: str) -> Answer:
        return self._ask("resolve_conflict", conflict_id=conflict_id, winner="a")

    def listing(self) -> Answer:
        return self._ask("query_facts", include_superseded=True, limit=500)

    def recall(self, text: str) -> Answer:
        return self._ask("recall", text=text, limit=50)

    def conflicts(self) -> Answer:
        return self._ask("list_conflicts", status="all")


@dataclass
class World:
    """What the operator wrote before the principal came: ids by name."""

    ids: dict[str, str]
    conflict: str  # an open conflict in the company scope

    @property
    def hidden(self) -> list[str]:
        return [self.ids["company"], self.ids["local"]]


@pytest.fixture
def world(vault: Vault, tokens: dict[str, str]) -> World:
    write = vault.assert_fact
    ids = {
        "visible": write(entity="user:bob", relation="memory:role", value="engineer",
                         source="user:alice", scope="team").id,
        "company": write(entity="user:bob", relation="memory:salary", value="100 gold",
                         source="agent:codex", scope="company").id,
        "local": write(entity="user:bob", relation="memory:diary", value="engineer notes",
                       source="user:alice", scope="local").id,
        "replaced": write(entity="user:carol", relation="memory:role", value="engineer",
                          source="user:alice", scope="team").id,
    }
    # A company fact that replaces a team fact, and one derived from it: hidden links of
    # facts the principal sees.
    ids["replacer"] = write(entity="user:carol", relation="memory:role", value="engineer (c)",
                            source="user:alice", scope="company", supersedes=ids["replaced"]).id
    ids["child"] = write(entity="user:bob", relation="memory:summary", value="engineer",
                         source="agent:codex", scope="company", derived_from=[ids["visible"]]).id
    write(entity="project:atlas", relation="memory:lead", value="user:bob", value_type="ref",
          source="agent:codex", scope="company")
    write(entity="project:atlas", relation="memory:lead", value="user:carol", value_type="ref",
          source="agent:teambot", scope="company")
    [conflict] = vault.conflicts("open")
    assert conflict.scope == "company"
    # A team conflict that the owner settled with a company fact: resolved, by a hidden fact.
    ids["team side"] = write(entity="project:atlas", relation="memory:stage", value="beta",
                             source="agent:codex", scope="team").id
    write(entity="project:atlas", relation="memory:stage", value="alpha",
          source="agent:teambot", scope="team")
    ids["settler"] = write(entity="project:atlas", relation="memory:stage", value="beta",
                           source="user:alice", scope="company", supersedes=ids["team side"]).id
    [settled] = vault.conflicts("resolved")
    assert (settled.scope, settled.resolution) == ("team", ids["settler"])
    ids["team conflict"] = settled.id
    return World(ids, conflict.id)


@pytest.fixture
def team_token(vault: Vault, tokens: dict[str, str]) -> dict[str, str]:
    raw, _record = vault.create_token("user:alice", scopes=["team"], perms=["read", "write"])
    return {**tokens, "alice-team": raw}


@pytest.fixture
def fronts(vault: Vault, world: World, team_token: dict[str, str],
           start_node: Callable[..., Node]) -> Iterator[dict[str, Front]]:
    """Both front ends, acting for the owner with the team scope only, over one vault."""
    node = start_node()
    node.tokens.update(team_token)
    principal = principal_for(vault, "user:alice", ["team"])
    with ExitStack() as stack:
        portal = stack.enter_context(start_blocking_portal())
        client = stack.enter_context(portal.wrap_async_context_manager(
            Client(build_server(vault, principal), read_timeout_seconds=30)))

        def call(tool: str, arguments: dict[str, Any]) -> Any:
            return portal.call(client.call_tool, tool, arguments)

        yield {"http": HttpFront(node, "alice-team"), "mcp": McpFront(call)}


def _still_live(vault: Vault, world: World) -> None:
    """The operator's view: nothing the principal could not see was touched."""
    for fact_id in world.hidden:
        item = vault.index.get(fact_id)
        assert item is not None and item.live and item.superseded_by is None, fact_id
    record = vault.index.conflict(world.conflict)
    assert record is not None and record.status == "open"


def _same(hidden: Answer, missing: Answer, hidden_ref: str, missing_ref: str) -> None:
    assert not hidden.ok and not missing.ok, (hidden, missing)
    assert hidden.masked(hidden_ref) == missing.masked(missing_ref)


FRONTS = ["http", "mcp"]


@pytest.mark.parametrize("front_name", FRONTS)
def test_a_hidden_fact_reads_as_a_missing_one(fronts: dict[str, Front], world: World,
                                              front_name: str) -> None:
    front = fronts[front_name]
    for hidden in world.hidden:
        for cut in (64, 12):
            _same(front.get(hidden[:cut]), front.get(MISSING[:cut]), hidden[:cut], MISSING[:cut])
            _same(front.provenance(hidden[:cut]), front.provenance(MISSING[:cut]),
                  hidden[:cut], MISSING[:cut])


@pytest.mark.parametrize("front_name", FRONTS)
def test_a_hidden_fact_cannot_be_superseded_retracted_or_resolved(
        fronts: dict[str, Front], vault: Vault, world: World, front_name: str) -> None:
    front = fronts[front_name]
    for hidden in world.hidden:
        _same(front.write("manager", supersedes=hidden),
              front.write("manager", supersedes=MISSING), hidden, MISSING)
        _same(front.write("engineer", supersedes=hidden, confidence=0.0),
              front.write("engineer", supersedes=MISSING, confidence=0.0), hidden, MISSING)
    _same(front.resolve(world.conflict), front.resolve(MISSING_CONFLICT), world.conflict,
          MISSING_CONFLICT)
    _still_live(vault, world)


@pytest.mark.parametrize("front_name", FRONTS)
def test_deriving_from_a_hidden_fact_is_deriving_from_a_missing_one(
        fronts: dict[str, Front], vault: Vault, world: World, front_name: str) -> None:
    front = fronts[front_name]
    hidden = world.ids["company"]
    from_hidden = front.write("derived", derived_from=[hidden])
    from_missing = front.write("derived", derived_from=[MISSING])
    assert from_hidden.ok and from_missing.ok  # a parent need not be in this vault

    def child_id(answer: Answer) -> str:
        body = answer.body[1] if front_name == "http" else answer.body["fact"]
        return str(body["id"])

    prov_hidden = front.provenance(child_id(from_hidden))
    prov_missing = front.provenance(child_id(from_missing))
    assert prov_hidden.ok and prov_missing.ok
    key = "derived_from"
    hidden_links = prov_hidden.body[1][key] if front_name == "http" else prov_hidden.body[key]
    missing_links = prov_missing.body[1][key] if front_name == "http" else prov_missing.body[key]
    assert json.dumps(hidden_links).replace(hidden, "<ref>") == \
        json.dumps(missing_links).replace(MISSING, "<ref>")
    assert [link["exists"] for link in hidden_links] == [False]
    assert hidden not in json.dumps(front.provenance(hidden[:12]).body)
    _still_live(vault, world)


def test_a_batch_item_naming_a_hidden_fact_is_rejected_as_naming_none(
        fronts: dict[str, Front], vault: Vault, world: World) -> None:
    front = fronts["http"]
    assert isinstance(front, HttpFront)

    def batch(ref: str) -> Answer:
        item = {"entity": "user:bob", "relation": "memory:role", "source": "user:alice",
                "scope": "team", "value": {"type": "string", "v": "manager"}, "supersedes": ref}
        return front._ask("POST", "/v1/facts/batch", {"facts": [item]})

    for hidden in world.hidden:
        with_hidden, with_missing = batch(hidden), batch(MISSING)
        assert with_hidden.ok and with_hidden.body[1]["rejected"] == 1
        assert with_hidden.masked(hidden) == with_missing.masked(MISSING)
        # by cid and by verify-cid too
        cid = vault.index.get(hidden).cid  # type: ignore[union-attr]
        missing_cid = "sha256:" + MISSING
        _same(front.get(cid), front.get(missing_cid), cid, missing_cid)
        _same(front._ask("POST", f"/v1/facts/{hidden}/verify-cid"),
              front._ask("POST", f"/v1/facts/{MISSING}/verify-cid"), hidden, MISSING)
    _still_live(vault, world)


def _summary(front: Front, world: World) -> dict[str, Any]:
    """What the principal learns through ``front``, by the operator's names for the facts."""
    names = {fact_id: name for name, fact_id in world.ids.items()}
    names[world.conflict] = "conflict"

    def named(text: str) -> str:
        for fact_id, name in names.items():
            text = text.replace(fact_id, f"<{name}>").replace(fact_id[:12], f"<{name}>")
        return text

    def facts(answer: Answer) -> list[dict[str, Any]]:
        assert answer.ok, answer
        body = answer.body[1] if front.name == "http" else answer.body
        return [hit.get("fact", hit) for hit in body["facts"]]

    def provenance(ref: str) -> dict[str, Any]:
        answer = front.provenance(ref)
        assert answer.ok, answer
        body = answer.body[1] if front.name == "http" else answer.body
        return {"exists": [link["exists"] for link in body["derived_from"]],
                "derived_by": named(json.dumps(body["derived_by"])),
                "supersedes_chain": named(json.dumps(body["supersedes_chain"])),
                "superseded_by_chain": named(json.dumps(body["superseded_by_chain"]))}

    replaced = front.get(world.ids["replaced"])
    record = replaced.body[1] if front.name == "http" else replaced.body["fact"]
    conflicts = front.conflicts()
    body = conflicts.body[1] if front.name == "http" else conflicts.body
    settled = [(named(c["conflict_id"]), c.get("resolved_by", c.get("resolution_fact_id")))
               for c in body["conflicts"]]
    return {
        "listing": sorted(named(f["id"]) for f in facts(front.listing())),
        "recall": sorted(named(f["id"]) for f in facts(front.recall("engineer"))),
        "conflicts": settled,
        "replaced": (record["live"], named(json.dumps(record["superseded_by"]))),
        "provenance visible": provenance(world.ids["visible"]),
        "provenance replaced": provenance(world.ids["replaced"]),
        "hidden": {name: front.get(world.ids[name]).ok
                   for name in ("company", "local", "replacer", "child", "settler")},
    }


def test_http_and_mcp_give_the_same_answers(fronts: dict[str, Front], world: World) -> None:
    http, mcp = (_summary(fronts[name], world) for name in FRONTS)

    assert http == mcp
    assert [name for name in http["listing"] if name.startswith("<")] == [
        "<replaced>", "<team side>", "<visible>"]  # and teambot's side of the team conflict
    assert len(http["listing"]) == 4
    assert http["recall"] == ["<visible>"]  # the replaced one is not live
    assert http["conflicts"] == [("<team conflict>", None)]  # its resolution is hidden
    # replaced by a hidden fact: not live, the replacer not named
    assert http["replaced"] == (False, "null")
    assert http["provenance replaced"]["superseded_by_chain"] == "[]"
    assert http["provenance visible"]["derived_by"] == "[]"  # its child is a company fact
    assert http["hidden"] == dict.fromkeys(("company", "local", "replacer", "child", "settler"),
                                           False)
