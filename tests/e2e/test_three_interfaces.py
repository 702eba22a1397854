"""One vault, three ways in: the HTTP node, an MCP server over stdio, and a file an agent drops
into the vault. Whatever one of them writes, the other two see."""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path
from types import ModuleType

import anyio
import httpx
import pytest

from stigmem_vault.api.vault import Vault
from stigmem_vault.http.server import running
from stigmem_vault.http.settings import NodeSettings
from stigmem_vault.vault.verify import verify_file

pytestmark = pytest.mark.network


def _mcp_client() -> ModuleType:
    """tests/mcp/mcp_client.py (that folder is no package: it would shadow the `mcp` SDK)."""
    path = Path(__file__).parents[1] / "mcp" / "mcp_client.py"
    spec = importlib.util.spec_from_file_location("mcp_client", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


client = _mcp_client()


def _drop(path: Path, text: str) -> None:
    """An agent's atomic write: ``name.md.tmp`` next to the target, then os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def test_http_mcp_and_dropped_files_all_see_each_others_writes(vault: Vault, home: Path) -> None:
    billing, atlas, deploy = ("stigmem://acme/service/billing", "stigmem://acme/project/atlas",
                              "stigmem://acme/service/deploy")

    def http_ids(http: httpx.Client, entity: str) -> set[str]:
        response = http.get("/v1/facts", params={"entity": entity})
        response.raise_for_status()
        return {f["id"] for f in response.json()["facts"]}

    async def mcp_facts(mcp, entity: str) -> list[dict]:
        return (await client.call(mcp, "query_facts", entity=entity))["facts"]

    async def scenario(http: httpx.Client) -> None:
        async with client.session(vault.root, home, "--as", "agent:codex") as mcp:
            # (a) Written through HTTP: visible through MCP and as a signed file in the tree.
            response = http.post("/v1/facts", json={
                "entity": billing, "relation": "service:owner",
                "value": {"type": "string", "v": "team-payments"},
                "source": "user:alice", "scope": "team"})
            assert response.status_code == 201, response.text
            via_http = response.json()
            seen = await client.eventually(lambda: mcp_facts(mcp, billing), "the HTTP write in MCP")
            assert [f["id"] for f in seen] == [via_http["id"]]
            assert seen[0]["value"]["v"] == "team-payments" and seen[0]["source"] == "user:alice"
            assert verify_file(vault.root, via_http["path"], vault.trust).ok

            # (b) Written through MCP: visible through HTTP and as a signed file in the tree.
            via_mcp = (await client.call(mcp, "assert_fact", entity=atlas,
                                         relation="codex:current_state", value="review",
                                         scope="team"))["fact"]

            async def in_http() -> set[str]:
                return http_ids(http, atlas)

            assert await client.eventually(in_http, "the MCP write in HTTP") == {via_mcp["id"]}
            [record] = http.get("/v1/facts", params={"entity": atlas}).json()["facts"]
            assert (record["source"], record["value"]["v"], record["path"]) == (
                "agent:codex", "review", via_mcp["path"])
            assert verify_file(vault.root, via_mcp["path"], vault.trust).ok

            # (c) A draft an agent drops into its inbox folder: signed as that agent by a
            # watcher, then visible through HTTP and MCP.
            draft = vault.root / "inbox/agent-codex/deploy.md"
            _drop(draft, f'---\nentity: "{deploy}"\nrelation: "deploy:state"\n'
                         'value_type: "string"\nvalue_string: "frozen"\nscope: "local"\n---\n'
                         "Deploys are frozen until Monday.\n")

            async def via_both() -> list[dict]:
                facts = await mcp_facts(mcp, deploy)
                return facts if facts and http_ids(http, deploy) else []

            [dropped] = await client.eventually(via_both, "the dropped draft in MCP and HTTP")
            assert (dropped["source"], dropped["value"]["v"], dropped["verification"]) == (
                "agent:codex", "frozen", "valid")
            assert http_ids(http, deploy) == {dropped["id"]}
            assert verify_file(vault.root, dropped["path"], vault.trust).ok
            assert not draft.exists()  # filed: the draft became the signed fact

    with (running(vault, NodeSettings(port=0, auth="none")) as node,
          httpx.Client(base_url=node.url, timeout=10.0) as http):
        anyio.run(scenario, http)

    vault.close()
    assert vault.verify().ok
    assert subprocess.run(["git", "-C", str(vault.root), "status", "--porcelain"],
                          capture_output=True, text=True, check=True).stdout == ""
