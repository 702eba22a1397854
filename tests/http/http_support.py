"""Helpers for the HTTP tests (imported as a top-level module: this folder is not a package)."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest

from stigmem_vault.api.vault import Vault
from stigmem_vault.client import StigmemClient

ALL_SCOPES = ["local", "team", "company", "public"]

# Contract §1.2: every upstream FactRecord key, always present.
UPSTREAM_KEYS = (
    "id", "entity", "relation", "value", "source", "timestamp", "hlc", "received_from",
    "valid_until", "confidence", "scope", "attested_key_id", "origin_node_id",
    "origin_allowed_scopes", "garden_id", "attested", "contradicted", "warnings", "source_trust",
    "quarantine_status", "quarantine_garden_id", "effective_confidence", "sanitizer_warnings",
    "sanitizer_redacted", "cid", "derived_from",
)
OUR_KEYS = ("signature", "signer", "trust_class", "verification", "supersedes")


@dataclass
class Node:
    """A running node and the tokens that open it."""

    vault: Vault
    url: str
    tokens: dict[str, str]
    stack: ExitStack

    def client(self, who: str | None = "codex", **options: Any) -> StigmemClient:
        """A client with ``who``'s token (None: no token); closed with the node."""
        token = self.tokens[who] if who is not None else None
        return self.stack.enter_context(StigmemClient(self.url, token, **options))


def wait_for(condition: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll ``condition`` until it is truthy (returned), or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.1)
