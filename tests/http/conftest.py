"""HTTP fixtures: a real node on 127.0.0.1 (port 0, in a thread) over the ``vault`` fixture,
bearer tokens for a few principals, and the typed client talking to it.

Principals (all exist in the vault):

* ``codex``  agent:codex, every scope, read + write (enforced attestation: writes as itself)
* ``alice``  user:alice (the owner), every scope, read + write (resolves conflicts)
* ``reader`` agent:codex, every scope, read only
* ``team``   agent:teambot, the team scope only, read + write

(No ``__init__.py`` here: a test package named ``http`` would shadow the standard library's.
Shared helpers live in ``http_support.py``.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from http_support import ALL_SCOPES, Node

from stigmem_vault.api.vault import Vault
from stigmem_vault.client import StigmemClient
from stigmem_vault.http.server import running
from stigmem_vault.http.settings import NodeSettings


@pytest.fixture
def tokens(vault: Vault) -> dict[str, str]:
    vault.create_identity("agent:teambot")
    made = {
        "codex": vault.create_token("agent:codex", scopes=ALL_SCOPES, perms=["read", "write"]),
        "alice": vault.create_token("user:alice", scopes=ALL_SCOPES, perms=["read", "write"]),
        "reader": vault.create_token("agent:codex", scopes=ALL_SCOPES, perms=["read"]),
        "team": vault.create_token("agent:teambot", scopes=["team"], perms=["read", "write"]),
    }
    return {who: raw for who, (raw, _record) in made.items()}


@pytest.fixture
def start_node(vault: Vault, tokens: dict[str, str]) -> Iterator[Callable[..., Node]]:
    """``start_node(**settings)``: serve ``vault`` with these NodeSettings (watcher off)."""
    with ExitStack() as stack:

        def start(**settings: Any) -> Node:
            settings.setdefault("watch", False)
            served = stack.enter_context(running(vault, NodeSettings(port=0, **settings)))
            return Node(vault, served.url, tokens, stack)

        yield start


@pytest.fixture
def node(start_node: Callable[..., Node]) -> Node:
    """Token auth, source attestation enforced (the defaults)."""
    return start_node()


@pytest.fixture
def client(node: Node) -> StigmemClient:
    return node.client("codex")
