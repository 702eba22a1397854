"""Our node against upstream's conformance vectors.

The vectors are ../shared/conformance when shared/ sits beside the repo (as in CI), else the
copy shipped in tests/fixtures/upstream/conformance, so a fresh clone on its own runs them too;
when both are there, the copy must match shared/ byte for byte (see that folder's README).

The node runs in a thread on a fresh vault, auth off on loopback (the conformance profile of
contract §5.2); every vector that is not skipped must pass, through the Python runner and
through ``stigmem conformance``.
"""

from __future__ import annotations

import json
import shutil
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
SHARED = REPO.parent / "shared" / "conformance"
SHIPPED = REPO / "tests" / "fixtures" / "upstream" / "conformance"

pytestmark = pytest.mark.network


def _files(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.glob("*.json"))}


@pytest.fixture(scope="module")
def vectors_dir() -> Path:
    """shared/'s vectors when they sit beside the repo, else the shipped copy."""
    chosen = SHARED if _files(SHARED) else SHIPPED
    assert _files(chosen), f"no conformance vectors in {chosen}"
    return chosen


def test_the_shipped_vectors_are_a_copy_of_shared() -> None:
    shared = _files(SHARED)
    if not shared:
        pytest.skip(f"no {SHARED} beside the repo: the shipped copy has nothing to match")
    shipped = _files(SHIPPED)
    stale = sorted(name for name in shared.keys() | shipped.keys()
                   if shared.get(name) != shipped.get(name))
    assert stale == [], (f"{SHIPPED} differs from {SHARED} in {stale}: refresh the copy "
                         f"(tests/fixtures/upstream/README.md)")


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


def test_cli_json_and_default_directory(node: RunningNode, vectors_dir: Path, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # The default is ../shared/conformance from the current directory: lay one out beside a
    # checkout folder, whether or not the real shared/ is there.
    default = tmp_path / "shared" / "conformance"
    shutil.copytree(vectors_dir, default)
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    monkeypatch.chdir(checkout)
    result = CliRunner().invoke(cli, ["conformance", "--base-url", node.url, "--json"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["summary"] == _expected_counts(vectors_dir)
    first = data["results"][0]
    assert first["file"] == str(sorted(default.glob("*.json"))[0].resolve())
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


def _every_vector_file() -> list[Path]:
    """Both upstream directories (shared/'s when beside the repo, else the shipped copies)."""
    found = []
    for name in ("conformance", "conformance-next"):
        shared, shipped = REPO.parent / "shared" / name, REPO / "tests/fixtures/upstream" / name
        found += sorted((shared if _files(shared) else shipped).glob("*.json"))
    return found


def test_every_file_of_both_directories_in_one_run(node: RunningNode, vault: Vault) -> None:
    """Issue 11's acceptance as one `stigmem conformance` run over every vector file, on a
    fresh --auth none node; then the vectors that need auth on a token node, with a token."""
    files = _every_vector_file()
    assert len(files) == 7
    needing_auth = {v.id for v in load_vectors(files) if v.data.get("requires_auth") is True}
    result = CliRunner().invoke(cli, ["conformance", "--base-url", node.url, "--json",
                                      *map(str, files)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [r["id"] for r in data["results"] if r["outcome"] == "failed"] == []
    assert data["summary"] == {"passed": 43, "failed": 0, "skipped": len(needing_auth)}

    token, _record = vault.create_token("user:alice", scopes=["local", "team", "company",
                                                               "public"], perms=["read", "write"])
    with running(vault, NodeSettings(port=0, node_url="http://testnode")) as token_node:
        results = run_conformance(token_node.url, files, token=token)
    assert {r.id: r.outcome for r in results if r.id in needing_auth} == dict.fromkeys(
        needing_auth, Outcome.PASSED)
    assert len(needing_auth) == 9
