"""The issue-13 measuring scripts run end to end at tiny sizes (figures are not checked here:
they are measured by hand, docs/benchmarks.md and docs/scaling.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, script, *args], cwd=BENCH, capture_output=True,
                          text=True, timeout=600, check=False)


@pytest.mark.slow
@pytest.mark.network
@pytest.mark.timeout(600)
def test_scale_prints_every_figure_for_each_size(tmp_path: Path) -> None:
    result = _run("scale.py", "--facts", "60", "--samples", "3", "--repeat", "1",
                  "--starts", "1", "--batch", "25", "--cache", str(tmp_path))
    assert result.returncode in (0, 1), result.stderr  # 1: a target missed, still a full run
    for row in ("build through the API", "first `stigmem index`", "warm `stigmem status`",
                "`git status` same tree", "node start (warm)", "1-fact write + commit",
                "fresh clone (--no-local)", "bare loop over its files", "repository"):
        assert row in result.stdout, result.stdout
    assert "60 facts" in result.stdout
    assert "60: first index of a fresh clone >= 1.0 x bare loop" in result.stdout
    assert not list(tmp_path.glob("scale-60-*")), "a vault built without --keep was left"


@pytest.mark.slow
@pytest.mark.network
@pytest.mark.timeout(600)
def test_federation_sim_converges_with_scoped_nodes(tmp_path: Path) -> None:
    result = _run("federation_sim.py", "--nodes", "3", "--facts", "30", "--rounds", "2",
                  "--dir", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok      every round converged with every node holding exactly its scopes (2/2" \
        in result.stdout
    assert "via git://127.0.0.1:" in result.stdout
    assert not list(tmp_path.iterdir()), "the nodes were left behind without --keep"
