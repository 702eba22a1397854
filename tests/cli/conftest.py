"""CLI fixtures: a CliRunner entering through ``cli.main`` (as the console script does) and a
vault made with ``stigmem init``, owned by user:alice, with agent:codex as a second identity."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from stigmem_vault.cli.main import cli

from .support import CliVault, Invoke


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def stigmem(runner: CliRunner, home: Path) -> Invoke:
    """Run ``stigmem ARGS...``; the result has separate .stdout and .stderr."""

    def invoke(*args: str) -> Result:
        return runner.invoke(cli, list(args), catch_exceptions=False)

    return invoke


@pytest.fixture
def cli_vault(stigmem: Invoke, tmp_path: Path) -> CliVault:
    path = tmp_path / "vault"
    result = stigmem("init", str(path), "--owner", "user:alice")
    assert result.exit_code == 0, result.stderr
    made = CliVault(path, stigmem)
    result = made("identity", "create", "agent:codex")
    assert result.exit_code == 0, result.stderr
    return made


@pytest.fixture
def fact(cli_vault: CliVault) -> dict[str, object]:
    """One team-scoped string fact by agent:codex, as printed by `assert --json`."""
    return cli_vault.assert_ok("assert", "--entity", "project:atlas", "--relation", "codex:state",
                               "--value", "draft", "--source", "agent:codex", "--scope", "team")
