"""Our node against the shared upstream vectors (../shared/conformance beside the repo).

The node runs in a thread on a fresh vault, auth off on loopback (the conformance profile of
contract §5.2); every vector that is not skipped must pass, through the Python runner and
through ``stigmem conformance``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from stigmem_vault.api.vault import Vault
from stigmem_vault.cli.main import cli
from stigmem_vault.conformance import Outcome, load_vectors, run_conformance, summary
from stigmem_vault.http.server import RunningNode, running
from stigmem_vault.http.settings import NodeSettings

REPO = Path(__file__).resolve().parents[2]
VECTORS = REPO.parent / "shared" / "conformance"

pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def vectors_dir() -> Path:
    # CI checks the repo out with shared/ beside it: a missing directory is a broken setup,
    # not a reason to skip.
    if not sorted(VECTORS.glob("*.json")):
        pytest.fail(f"no conformance vectors in {VECTORS} (shared/ must sit beside the repo)")
    return VECTORS


@pytest.fixture
def node(vault: Vault) -> Iterator[RunningNode]:
    settings = NodeSettings(port=0, auth="none", node_url="http://testnode")
    with running(vault, settings) as started:
        yield started


def _expected_counts(vectors_dir: Path) -> dict[str, int]:
    vectors = load_vectors([vectors_dir])
    skipped = sum(1 for v in vectors
                  if v.data.get("requires_auth") is True or v.data.get("requires_plugin"))
    return {"passed": len(vectors) - skipped, "failed": 0, "skipped": skipped}


def test_every_vector_passes_against_our_node(node: RunningNode, vectors_dir: Path) -> None:
    results = run_conformance(node.url, [vectors_dir])
    failed = [f"{r.id}: {r.reason}" for r in results if r.outcome is Outcome.FAILED]
    assert failed == []
    assert summary(results) == _expected_counts(vectors_dir)
    assert summary(results)["passed"] >= 20  # the shared set: 12 assert, 4 well-known, 4 §22
    for result in results:
        if result.outcome is Outcome.SKIPPED:
            assert result.reason.startswith(("requires_auth", "requires_plugin"))


def test_cli_prints_the_table_and_exits_0(node: RunningNode, vectors_dir: Path) -> None:
    result = CliRunner().invoke(cli, ["conformance", "--base-url", node.url, str(vectors_dir)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["RESULT", "FILE", "VECTOR", "STATUS", "DETAIL"]
    counts = _expected_counts(vectors_dir)
    assert lines[-1] == f"{counts['passed']} passed, 0 failed, {counts['skipped']} skipped"
    rows = lines[1:-1]
    assert len(rows) == counts["passed"] + counts["skipped"]
    assert {row.split()[0] for row in rows} == {"pass", "skip"}
    assert any(row.split()[2] == "fact-assert-valid-until" for row in rows)
    # Aligned: every row starts its FILE column where the header does.
    column = lines[0].index("FILE")
    assert all(row[column - 2: column] == "  " and row[column] != " " for row in rows)


def test_cli_json_and_default_directory(node: RunningNode, vectors_dir: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)  # ../shared/conformance from the repo root: the default
    result = CliRunner().invoke(cli, ["conformance", "--base-url", node.url, "--json"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["summary"] == _expected_counts(vectors_dir)
    first = data["results"][0]
    assert first["file"] == str(sorted(vectors_dir.glob("*.json"))[0].resolve())
    assert set(first) == {"id", "file", "outcome", "reason", "method", "path", "status"}
    assert {r["outcome"] for r in data["results"]} == {"passed", "skipped"}


def test_a_failing_vector_makes_the_cli_exit_1(node: RunningNode, tmp_path: Path) -> None:
    vectors = tmp_path / "v2.0-99_failing.json"
    vectors.write_text(json.dumps({"title": "t", "vectors": [
        {"id": "healthz-ok", "method": "GET", "path": "/healthz", "body": None,
         "expected_status": 200, "expected_body_contains": {"status": "ok"}},
        {"id": "healthz-teapot", "method": "GET", "path": "/healthz", "body": None,
         "expected_status": 418},
        {"id": "wellknown-federated", "method": "GET", "path": "/.well-known/stigmem",
         "body": None, "expected_status": 200,
         "expected_body_contains": {"federation": "enabled"}},
    ]}))
    result = CliRunner().invoke(cli, ["conformance", "--base-url", node.url, str(vectors)],
                                catch_exceptions=False)
    assert result.exit_code == 1
    rows = {line.split()[2]: line for line in result.stdout.splitlines()[1:-1]}
    assert rows["healthz-ok"].startswith("pass ")
    assert rows["healthz-teapot"].startswith("FAIL ")
    assert "status 200, expected 418" in rows["healthz-teapot"]
    assert 'body does not contain {"federation": "enabled"}' in rows["wellknown-federated"]
    assert result.stdout.splitlines()[-1] == "1 passed, 2 failed, 0 skipped"
