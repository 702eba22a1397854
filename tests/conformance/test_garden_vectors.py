"""Upstream's Memory Garden vectors (conformance-next 04 and 05) against our node.

The files are ../shared/conformance-next's when it sits beside the repo, else the copies
shipped in tests/fixtures/upstream/conformance-next (which must then match byte for byte).
The node runs on a fresh vault, auth off on loopback, announced as http://testnode as in
upstream's harness; every vector must pass through the runner and through
``stigmem conformance``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from stigmem_vault.api.vault import Vault
from stigmem_vault.cli.main import cli
from stigmem_vault.conformance import Outcome, run_conformance, summary
from stigmem_vault.http.server import RunningNode, running
from stigmem_vault.http.settings import NodeSettings

REPO = Path(__file__).resolve().parents[2]
FILES = ("v1.0-04_gardens.json", "v1.0-05_garden_facts.json")
SHARED = REPO.parent / "shared" / "conformance-next"
SHIPPED = REPO / "tests" / "fixtures" / "upstream" / "conformance-next"

pytestmark = pytest.mark.network


def _paths() -> list[Path]:
    base = SHARED if all((SHARED / name).is_file() for name in FILES) else SHIPPED
    return [base / name for name in FILES]


def test_the_shipped_garden_vectors_are_a_copy_of_shared() -> None:
    if not all((SHARED / name).is_file() for name in FILES):
        pytest.skip(f"no {SHARED} beside the repo: the shipped copy has nothing to match")
    stale = [name for name in FILES
             if (SHARED / name).read_bytes() != (SHIPPED / name).read_bytes()]
    assert stale == [], f"refresh {stale} from {SHARED} (tests/fixtures/upstream/README.md)"


@pytest.fixture
def node(vault: Vault) -> Iterator[RunningNode]:
    with running(vault, NodeSettings(port=0, auth="none", node_url="http://testnode")) as started:
        yield started


def test_every_garden_vector_passes(node: RunningNode, vault: Vault) -> None:
    results = run_conformance(node.url, _paths())
    assert [f"{r.id}: {r.reason}" for r in results if r.outcome is not Outcome.PASSED] == []
    assert summary(results) == {"passed": 19, "failed": 0, "skipped": 0}
    # What the vectors made is in the vault: signed records, committed, verifying.
    vault.flush()
    records = [f for f in vault.verify().files if "/garden/" in f.path]
    assert len(records) == 7 and {f.verdict.value for f in records} == {"valid"}  # 4 + 2 + 1
    owner = vault.as_principal(vault.operator())
    assert {g.slug for g in owner.gardens()} == {"conf-alpha", "conf-garden"}  # conf-beta deleted
    assert [m.principal for m in owner.garden("conf-alpha").members.values()] == ["user:alice"]


def test_cli_runs_the_garden_vectors(node: RunningNode) -> None:
    result = CliRunner().invoke(cli, ["conformance", "--base-url", node.url,
                                      *map(str, _paths())], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "19 passed, 0 failed, 0 skipped"
