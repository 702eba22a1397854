"""Our node against upstream's conformance-next vector files that it passes: federation trust
(v2.0-19) and instruction discovery (v2.0-21).

The files are ../shared/conformance-next/ when shared/ sits beside the repo, else the copies
shipped in tests/fixtures/upstream/conformance-next (each shipped copy must then match its
shared/ file byte for byte). They run as ``stigmem conformance`` runs them: on a fresh
``--auth none`` node, where the vectors that need auth are skipped, and on a token node with a
token, where those are sent without it and must be refused (401) like upstream's.
"""

from __future__ import annotations

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
SHARED = REPO.parent / "shared" / "conformance-next"
SHIPPED = REPO / "tests" / "fixtures" / "upstream" / "conformance-next"
FILES = ("v2.0-19_federation_trust.json", "v2.0-21_instruction_discovery.json")

pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def vector_files() -> list[Path]:
    """shared/'s copies when they sit beside the repo, else the shipped ones."""
    folder = SHARED if all((SHARED / name).is_file() for name in FILES) else SHIPPED
    return [folder / name for name in FILES]


def test_the_shipped_copies_match_shared() -> None:
    if not all((SHARED / name).is_file() for name in FILES):
        pytest.skip(f"no {SHARED} beside the repo: the shipped copies have nothing to match")
    stale = [name for name in FILES
             if (SHARED / name).read_bytes() != (SHIPPED / name).read_bytes()]
    assert stale == [], f"refresh {stale} from {SHARED} (tests/fixtures/upstream/README.md)"


@pytest.fixture
def open_node(vault: Vault) -> Iterator[RunningNode]:
    with running(vault, NodeSettings(port=0, auth="none", node_url="http://testnode")) as node:
        yield node


@pytest.fixture
def token_node(vault: Vault) -> Iterator[tuple[RunningNode, str]]:
    raw, _record = vault.create_token("user:alice", scopes=["local", "team", "company", "public"],
                                      perms=["read", "write"])
    with running(vault, NodeSettings(port=0, node_url="http://testnode")) as node:
        yield node, raw


def test_they_pass_on_a_fresh_open_node(open_node: RunningNode, vector_files: list[Path]) -> None:
    vectors = load_vectors(vector_files)
    results = run_conformance(open_node.url, vector_files)
    assert [f"{r.id}: {r.reason}" for r in results if r.outcome is Outcome.FAILED] == []
    needing_auth = sum(1 for v in vectors if v.data.get("requires_auth") is True)
    assert needing_auth == 7
    assert summary(results) == {"passed": len(vectors) - needing_auth, "failed": 0,
                                "skipped": needing_auth}


def test_every_vector_passes_on_a_token_node(token_node: tuple[RunningNode, str],
                                             vector_files: list[Path]) -> None:
    node, token = token_node
    results = run_conformance(node.url, vector_files, token=token)
    assert [f"{r.id}: {r.reason}" for r in results if r.outcome is not Outcome.PASSED] == []
    statuses = {r.id: r.status for r in results}
    # Refused before anything else: no credentials.
    assert statuses["fed-peers-list-requires-federate-permission"] == 401
    assert statuses["instruction-manifest-publish-requires-admin"] == 401
    assert summary(results)["passed"] == 11


def test_the_cli_runs_them(open_node: RunningNode, vector_files: list[Path]) -> None:
    result = CliRunner().invoke(cli, ["conformance", "--base-url", open_node.url,
                                      *map(str, vector_files)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "4 passed, 0 failed, 7 skipped"
