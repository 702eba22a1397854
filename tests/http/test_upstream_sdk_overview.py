"""Upstream's Python SDK (stigmem-py, a test dependency) against our node: its card and
federation-status methods, sync and async, on a token node, fenced by the token's scopes.
(The SDK has no lint or whoami method: tests/http/test_http_overview.py covers those.)"""

from __future__ import annotations

import subprocess
from pathlib import Path

import anyio
import pytest
from http_support import Node
from stigmem import AsyncStigmemClient, StigmemClient
from stigmem.exceptions import StigmemAuthError, StigmemNotFoundError

from stigmem_vault.api.vault import Vault
from stigmem_vault.canonical.cid import upstream_cid
from stigmem_vault.model.fact import Fact

pytestmark = pytest.mark.network

ATLAS = "stigmem://acme/project/atlas"


def _facts(vault: Vault) -> list[Fact]:
    made = [vault.assert_fact(entity=ATLAS, relation="project:phase", value="beta", scope="team",
                              source="agent:teambot"),
            vault.assert_fact(entity=ATLAS, relation="project:size", value=7, scope="team",
                              confidence=0.5, source="agent:teambot")]
    vault.assert_fact(entity=ATLAS, relation="project:budget", value=10, scope="company")
    vault.flush()
    return made


def test_get_card_parses_our_card_and_honours_scopes(node: Node) -> None:
    cids = {upstream_cid(fact.claim) for fact in _facts(node.vault)}
    with StigmemClient(node.url, api_key=node.tokens["team"]) as client:
        card = client.get_card(ATLAS, scope="team")
        assert (card.entity_uri, card.scope, card.is_stale) == (ATLAS, "team", False)
        assert set(card.fact_hashes) == cids
        assert card.avg_confidence == 0.75 and not card.has_contradictions
        assert "project:size: 7 (conf=0.50)" in card.summary
        assert "budget" not in card.summary
        with pytest.raises(StigmemAuthError):
            client.get_card(ATLAS, scope="company")  # not this token's scope
        with pytest.raises(StigmemNotFoundError):
            client.get_card("project:unknown", scope="team")


def test_federation_status_parses_our_peers(node: Node, tmp_path: Path) -> None:
    bare = tmp_path / "shared.git"
    subprocess.run(["git", "init", "--bare", "-q", str(bare)], check=True)
    peer = Vault.init(tmp_path / "peer", owner="user:pat", home=tmp_path / "peer-home",
                      commit_delay=None)
    try:
        peer.assert_fact(entity=ATLAS, relation="project:phase", value="peer", scope="team")
        peer.flush()
        peer.add_remote("shared", str(bare), ["team"])
        peer.sync()
        assert peer.node is not None
        peer_id = peer.node.node_id
    finally:
        peer.close()
    node.vault.add_remote("shared", str(bare), ["team"])
    node.vault.sync("shared")
    with StigmemClient(node.url, api_key=node.tokens["team"]) as client:
        [listed] = client.federation_status()
        assert (listed.peer_id, listed.status, listed.allowed_scopes) == (
            peer_id, "pending_verification", ["team"])
    node.vault.trust_peer(peer_id)

    async def main() -> None:
        async with AsyncStigmemClient(node.url, api_key=node.tokens["team"]) as client:
            [listed] = await client.federation_status()
            assert listed.status == "active" and listed.node_id == f"stigmem:node:{peer_id}"
            card = await client.get_card(ATLAS, scope="team")
            assert card.entity_uri == ATLAS

    _facts(node.vault)
    anyio.run(main)
    restricted = node.vault.create_token("agent:codex", scopes=["company"], perms=["read"])[0]
    with StigmemClient(node.url, api_key=restricted) as client:
        assert client.federation_status() == []  # no scope shared with the peer
