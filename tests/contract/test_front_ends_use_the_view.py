"""The HTTP node and the MCP server read and write the vault only through a principal's view
(api/view.py), so authorization is written once and no front end can hide less than another."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import stigmem_vault

PACKAGE = Path(stigmem_vault.__file__).parent
FRONT_ENDS = ["http/routes.py", "http/app.py", "mcp/server.py"]
# Vault operations that read or change facts without a principal: only a view may call them.
UNFENCED = {"index", "lookup", "get", "query", "list_facts", "recall", "provenance", "neighbors",
            "conflicts", "resolve", "write_as", "attest", "write_batch", "submit_claim",
            "write_claim", "write_claims", "assert_fact", "amend", "retract", "verify"}
# Scope checks belong in the view too.
SCOPE_RULES = {"scopes", "require_scope"}


def _offences(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Attribute):
            continue
        base = ast.unparse(node.value)
        if node.attr in UNFENCED and "vault" in base.split(".")[-1].lower():
            found.append(f"line {node.lineno}: {base}.{node.attr}")
        if node.attr in SCOPE_RULES and base.split(".")[-1] == "principal":
            found.append(f"line {node.lineno}: {base}.{node.attr}")
    return sorted(found, key=lambda text: int(text.split(":")[0].split()[1]))


@pytest.mark.parametrize("module", FRONT_ENDS)
def test_a_front_end_never_reaches_past_the_view(module: str) -> None:
    offences = _offences((PACKAGE / module).read_text("utf-8"))

    assert offences == [], f"{module} bypasses PrincipalView: {offences}"


def test_the_check_sees_a_bypass() -> None:
    assert _offences("items = vault.index.query(f)\nok = 'team' in principal.scopes\n") == [
        "line 1: vault.index", "line 2: principal.scopes"]
    assert _offences("hits = _vault(request).recall(text)\n") == ["line 1: _vault(request).recall"]
