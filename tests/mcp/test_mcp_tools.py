"""The MCP tools' contracts through the official client (``mcp.Client``, in process): enums
and ranges in every input schema, an output schema each structured result validates against,
argument names as HTTP has them (old names still understood), one-line refusals, and the two
tools upstream's server has that ours lacked: ``lint_scope`` and ``subscribe_scope``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import jsonschema
import pytest
from mcp import Client

from stigmem_vault.api.vault import Vault
from stigmem_vault.mcp.server import DATA_NOTE, build_server, principal_for

ATLAS = "stigmem://acme/project/atlas"
SCOPES = ["local", "team", "company", "public"]


@pytest.fixture
def team_vault(vault: Vault) -> Iterator[Vault]:
    vault.create_identity("agent:teambot")
    yield vault


@asynccontextmanager
async def connected(vault: Vault, source: str | None = None,
                    scopes: list[str] | None = None) -> AsyncIterator[tuple[Client, dict[str, Any]]]:
    server = build_server(vault, principal_for(vault, source, scopes))
    async with Client(server, read_timeout_seconds=30) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        yield client, tools


async def structured(client: Client, tools: dict[str, Any], name: str, **arguments: Any) -> dict:
    """A successful call's structured result, checked against the tool's output schema."""
    result = await client.call_tool(name, arguments)
    assert not result.is_error, result.content
    data = result.structured_content
    assert data is not None
    jsonschema.validate(data, tools[name].output_schema, cls=jsonschema.Draft202012Validator)
    assert (data["note"], list(data)[:2]) == (DATA_NOTE, ["kind", "note"])
    return data


async def refusal(client: Client, name: str, **arguments: Any) -> str:
    result = await client.call_tool(name, arguments)
    assert result.is_error, result.structured_content
    [block] = result.content
    text = block.text  # type: ignore[union-attr]
    assert "\n" not in text, text
    return text


def test_input_schemas_carry_enums_and_ranges(vault: Vault) -> None:
    async def main() -> None:
        async with connected(vault) as (_client, tools):
            for tool in tools.values():
                assert tool.input_schema["additionalProperties"] is False, tool.name
                assert tool.output_schema["type"] == "object", tool.name
                assert tool.output_schema["properties"]["kind"].get("const", "").startswith(
                    "stigmem."), tool.name

            def prop(tool: str, name: str) -> dict[str, Any]:
                schema = tools[tool].input_schema["properties"][name]
                return {**schema, **next((b for b in schema.get("anyOf", [])
                                          if b.get("type") != "null"), {})}

            for tool in ("assert_fact", "query_facts", "recall", "lint_scope", "subscribe_scope"):
                assert prop(tool, "scope")["enum"] == SCOPES, tool
            assert prop("assert_fact", "trust")["enum"] == ["observed", "inferred", "reported",
                                                             "stale-risk"]
            assert prop("query_facts", "trust")["enum"][0] == "observed"
            types = ["string", "text", "number", "boolean", "datetime", "ref", "null"]
            assert prop("assert_fact", "value_type")["enum"] == types
            assert prop("query_facts", "value_type")["enum"] == types
            assert prop("list_conflicts", "status")["enum"] == ["open", "resolved", "obsolete",
                                                                 "all"]
            assert prop("lint_scope", "checks")["items"]["enum"][:5] == [
                "contradiction", "stale", "orphan", "broken_ref", "namespacing"]
            assert (prop("assert_fact", "confidence")["minimum"],
                    prop("assert_fact", "confidence")["maximum"]) == (0, 1)
            for tool in ("query_facts", "recall", "subscribe_scope"):
                assert (prop(tool, "limit")["minimum"], prop(tool, "limit")["maximum"]) == (1, 500)
            for tool in ("query_facts", "recall"):
                assert prop(tool, "min_confidence")["maximum"] == 1
            assert prop("lint_scope", "stale_lookahead_s")["minimum"] == 0
            assert tools["recall"].input_schema["required"] == ["query"]
            assert tools["get_fact"].input_schema["required"] == ["id"]
            assert tools["lint_scope"].input_schema["required"] == ["scope"]

    anyio.run(main)


def test_every_result_validates_against_its_output_schema(team_vault: Vault) -> None:
    async def main() -> None:
        async with connected(team_vault, "agent:codex") as (client, tools):
            fact = (await structured(client, tools, "assert_fact", entity=ATLAS,
                                     relation="project:owner", value="codex", scope="team",
                                     derived_from=[]))["fact"]
        team_vault.assert_fact(entity=ATLAS, relation="project:owner", value="teambot",
                               scope="team", source="agent:teambot")
        team_vault.flush()
        async with connected(team_vault) as (client, tools):
            await structured(client, tools, "query_facts", entity=ATLAS, limit=5)
            await structured(client, tools, "get_fact", id=fact["id"])
            hits = await structured(client, tools, "recall", query="owner codex")
            assert hits["facts"] and hits["query"] == "owner codex"
            await structured(client, tools, "provenance", fact_id=fact["id"])
            [conflict] = (await structured(client, tools, "list_conflicts"))["conflicts"]
            await structured(client, tools, "lint_scope", scope="team")
            await structured(client, tools, "subscribe_scope")
            await structured(client, tools, "resolve_conflict",
                             conflict_id=conflict["conflict_id"], winner="a")

    anyio.run(main)


def test_argument_names_match_http_and_refusals_are_one_line(vault: Vault) -> None:
    async def main() -> None:
        async with connected(vault, "agent:codex") as (client, tools):
            fact = (await structured(client, tools, "assert_fact", entity=ATLAS,
                                     relation="project:phase", value="beta"))["fact"]
            by_new = await structured(client, tools, "get_fact", id=fact["id"][:10])
            by_old = await structured(client, tools, "get_fact", fact_id=fact["id"][:10])
            assert by_new["fact"] == by_old["fact"] == fact
            new = await structured(client, tools, "recall", query="beta")
            old = await structured(client, tools, "recall", text="beta")
            assert [f["id"] for f in new["facts"]] == [f["id"] for f in old["facts"]] == [fact["id"]]

            text = await refusal(client, "recall", qeury="beta")
            assert text.endswith("unknown argument 'qeury'; recall takes query, limit, scope, "
                                 "min_confidence, as_of, depth, include_neighbors")
            assert "both" not in text
            assert "give query only" in await refusal(client, "recall", query="a", text="b")
            assert (await refusal(client, "recall")).endswith("query: required")
            text = await refusal(client, "assert_fact", entity=ATLAS, relation="project:x",
                                 value="x", confidence="high")
            assert "confidence:" in text and "'high'" in text
            text = await refusal(client, "query_facts", limit=501)
            assert text.endswith("limit: Input should be less than or equal to 500 (got 501)")
            assert "scope" in await refusal(client, "query_facts", scope="everyone")
            assert "trust" in await refusal(client, "assert_fact", entity=ATLAS,
                                            relation="project:x", value="x", trust="rumour")
            assert "unknown argument 'source'" in await refusal(
                client, "assert_fact", entity=ATLAS, relation="project:x", value="x",
                source="user:alice")  # the server's principal is the source: not an argument
            assert "checks" in await refusal(client, "lint_scope", scope="local",
                                             checks=["spelling"])
            assert "cursor" in await refusal(client, "subscribe_scope", cursor="not-a-cursor")

    anyio.run(main)


def test_lint_scope_is_the_http_lint_of_the_same_principal(team_vault: Vault) -> None:
    for source, value in (("agent:codex", "codex"), ("agent:teambot", "teambot")):
        team_vault.assert_fact(entity=ATLAS, relation="project:owner", value=value, scope="team",
                               source=source)
    dangling = team_vault.assert_fact(entity=ATLAS, relation="project:next", value="project:none",
                                      value_type="ref", scope="team")
    team_vault.assert_fact(entity=ATLAS, relation="project:secret", value="x", scope="company",
                           confidence=0.1)
    team_vault.flush()
    expected = team_vault.as_principal(principal_for(team_vault, "agent:teambot", ["team"])).lint(
        "team").as_dict()

    async def main() -> None:
        async with connected(team_vault, "agent:teambot", ["team"]) as (client, tools):
            result = await structured(client, tools, "lint_scope", scope="team")
            assert result["kind"] == "stigmem.lint"
            assert ({k: v for k, v in result.items() if k not in ("kind", "note", "checked_at")}
                    == {k: v for k, v in expected.items() if k != "checked_at"})
            checks = {f["check"]: f["fact_ids"] for f in result["findings"]}
            assert checks["broken_ref"] == [dangling.id] and "contradiction" in checks
            assert "low_confidence" not in checks  # the company fact is not this server's
            text = await refusal(client, "lint_scope", scope="company")
            assert "scope_not_permitted" in text

    anyio.run(main)


def test_subscribe_scope_follows_new_facts_with_a_cursor(team_vault: Vault) -> None:
    first = team_vault.assert_fact(entity=ATLAS, relation="project:phase", value="alpha",
                                   scope="team")
    team_vault.assert_fact(entity=ATLAS, relation="project:budget", value=5, scope="company")
    team_vault.flush()

    async def main() -> None:
        async with connected(team_vault, "agent:teambot", ["team"]) as (client, tools):
            start = await structured(client, tools, "subscribe_scope")
            assert [f["id"] for f in start["facts"]] == [first.id]  # team only: never company
            assert (start["has_more"], start["reset"]) == (False, False)
            quiet = await structured(client, tools, "subscribe_scope", cursor=start["cursor"])
            assert quiet["facts"] == [] and quiet["cursor"] == start["cursor"]

            # Written elsewhere meanwhile: a replacement, a retraction, another scope.
            second = team_vault.assert_fact(entity=ATLAS, relation="project:phase", value="beta",
                                            scope="team", supersedes=first.id)
            team_vault.assert_fact(entity="project:x", relation="project:y", value=1,
                                   scope="company")
            gone = team_vault.assert_fact(entity=ATLAS, relation="project:phase", value="beta",
                                          scope="team", confidence=0.0, supersedes=second.id)
            team_vault.flush()
            news = await structured(client, tools, "subscribe_scope", cursor=start["cursor"],
                                    scope="team")
            assert [f["id"] for f in news["facts"]] == [second.id, gone.id]  # oldest first
            assert [f["live"] for f in news["facts"]] == [False, False]  # each with its state
            # Paged: one at a time, has_more until the end.
            page = await structured(client, tools, "subscribe_scope", cursor=start["cursor"],
                                    limit=1)
            assert ([f["id"] for f in page["facts"]], page["has_more"]) == ([second.id], True)
            page = await structured(client, tools, "subscribe_scope", cursor=page["cursor"],
                                    limit=1)
            assert ([f["id"] for f in page["facts"]], page["has_more"]) == ([gone.id], False)
            assert page["cursor"] == news["cursor"]
            assert "scope_not_permitted" in await refusal(client, "subscribe_scope",
                                                          scope="company")

            # A rebuilt index numbers facts anew: an old cursor restarts the feed, flagged.
            team_vault.reindex()
            again = await structured(client, tools, "subscribe_scope", cursor=news["cursor"])
            assert again["reset"] is True
            assert {f["id"] for f in again["facts"]} == {first.id, second.id, gone.id}

    anyio.run(main)
