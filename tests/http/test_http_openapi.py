"""The OpenAPI document: committed in docs/, served by the node, the same, and complete."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from http_support import OUR_KEYS, UPSTREAM_KEYS

from stigmem_vault.client import StigmemClient
from stigmem_vault.http.openapi import render

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "docs" / "openapi.json"
REGENERATE = "python -m stigmem_vault.http.openapi > docs/openapi.json"


@pytest.fixture(scope="module")
def committed() -> dict[str, Any]:
    return json.loads(COMMITTED.read_text("utf-8"))


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, op) for path, ops in doc["paths"].items()
            for method, op in ops.items()]


def test_served_document_equals_the_committed_one(client: StigmemClient,
                                                  committed: dict[str, Any]) -> None:
    assert client.openapi() == committed, f"docs/openapi.json is stale: run `{REGENERATE}`"


def test_committed_file_is_in_canonical_form(committed: dict[str, Any]) -> None:
    assert COMMITTED.read_text("utf-8") == render(committed), f"run `{REGENERATE}`"


def test_the_regeneration_script_reproduces_the_committed_file() -> None:
    result = subprocess.run([sys.executable, "-m", "stigmem_vault.http.openapi"], cwd=REPO,
                            capture_output=True, text=True, check=True)
    assert result.stdout == COMMITTED.read_text("utf-8"), f"run `{REGENERATE}`"


def test_every_operation_is_documented(committed: dict[str, Any]) -> None:
    ops = operations(committed)
    assert {(m, p) for m, p, _ in ops} >= {
        ("GET", "/healthz"), ("GET", "/.well-known/stigmem"), ("POST", "/v1/facts"),
        ("GET", "/v1/facts"), ("POST", "/v1/facts/batch"), ("GET", "/v1/facts/{fact_ref}"),
        ("GET", "/v1/facts/{fact_id}/provenance"), ("POST", "/v1/facts/{fact_id}/verify-cid"),
        ("POST", "/v1/recall"), ("GET", "/v1/graph/neighbors"), ("GET", "/v1/conflicts"),
        ("POST", "/v1/conflicts/{conflict_id}/resolve")}
    for method, path, op in ops:
        where = f"{method} {path}"
        assert op.get("summary") and op.get("description"), where
        success = [code for code in op["responses"] if code.startswith("2")]
        assert len(success) == 1, where
        if success == ["204"]:  # no content (DELETE, as upstream)
            assert "content" not in op["responses"]["204"], where
        else:
            schema = op["responses"][success[0]]["content"]["application/json"]["schema"]
            assert schema.get("$ref", "").startswith("#/components/schemas/"), where
        for code, answer in op["responses"].items():
            assert answer.get("description"), (where, code)
        if "requestBody" in op:
            body = op["requestBody"]["content"]["application/json"]["schema"]
            assert body.get("$ref", "").startswith("#/components/schemas/"), where
        public = path in ("/healthz", "/.well-known/stigmem")
        assert ("security" in op) is not public, where
        if not public:
            assert {"401", "403", "429"} <= set(op["responses"]), where
        for parameter in op.get("parameters", []):
            assert "anyOf" not in parameter["schema"], (where, parameter["name"])


def test_fact_record_schema_lists_every_key_as_required(committed: dict[str, Any]) -> None:
    record = committed["components"]["schemas"]["FactRecord"]
    assert set(record["required"]) == set(record["properties"]) >= {*UPSTREAM_KEYS, *OUR_KEYS}


def test_records_carry_exactly_the_documented_keys(client: StigmemClient,
                                                   committed: dict[str, Any]) -> None:
    fact = client.assert_fact("user:alice", "memory:role", "engineer", source="agent:codex")
    documented = set(committed["components"]["schemas"]["FactRecord"]["properties"])
    assert set(fact.raw) == documented
    assert set(client.get_fact(fact.id).raw) == documented
