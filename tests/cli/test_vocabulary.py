"""One vocabulary on every surface: conflict statuses, --as-of times, ids for --explain, owners."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from stigmem_vault.errors import InvalidFact
from stigmem_vault.model.hlc import HLC, as_of_stamp

from .support import CliVault, Invoke

STATE = ("--entity", "project:atlas", "--relation", "codex:state", "--scope", "team")


def _json(cli_vault: CliVault, *args: str) -> Any:
    result = cli_vault(*args, "--json")
    assert result.exit_code == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def test_conflict_status_open_resolved_obsolete_all(cli_vault: CliVault) -> None:
    assert cli_vault("identity", "create", "agent:scribe").exit_code == 0
    cli_vault.assert_ok("assert", *STATE, "--value", "draft", "--source", "agent:codex")
    cli_vault.assert_ok("assert", *STATE, "--value", "review", "--source", "agent:scribe")
    every = _json(cli_vault, "conflicts")
    assert len(every) == 1
    assert _json(cli_vault, "conflicts", "--status", "all") == every
    assert _json(cli_vault, "conflicts", "--status", "open") == every
    assert _json(cli_vault, "conflicts", "--status", "obsolete") == []
    assert "open|resolved|obsolete|all" in cli_vault("conflicts", "--help").stdout
    bad = cli_vault("conflicts", "--status", "unresolved")
    assert bad.exit_code == 2


def test_as_of_takes_an_iso_time_as_well_as_an_hlc(cli_vault: CliVault) -> None:
    first = cli_vault.assert_ok("assert", *STATE, "--value", "draft", "--source", "agent:codex")
    time.sleep(0.01)
    between = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    time.sleep(0.01)
    second = cli_vault.assert_ok("assert", *STATE, "--value", "review", "--source", "agent:codex",
                                 "--supersedes", str(first["id"]))
    at_hlc = _json(cli_vault, "list", "--live", "--as-of", str(first["hlc"]))
    at_iso = _json(cli_vault, "list", "--live", "--as-of", between)
    assert [f["id"] for f in at_iso] == [f["id"] for f in at_hlc] == [first["id"]]
    later = (datetime.now(UTC) + timedelta(seconds=5)).isoformat()
    assert [f["id"] for f in _json(cli_vault, "query", "--as-of", later)] == [second["id"]]
    bad = cli_vault("list", "--as-of", "yesterday")
    assert bad.exit_code == 2
    assert "neither an HLC stamp" in bad.stderr and "ISO 8601" in bad.stderr


def test_as_of_stamp() -> None:
    stamp = "1767225600000.000003.abc"
    assert as_of_stamp(stamp) == stamp
    iso = HLC.parse(as_of_stamp("2026-01-01T00:00:00Z"))
    assert (iso.wall_ms, iso.counter) == (1767225600000, 999_999)
    with pytest.raises(InvalidFact):
        as_of_stamp("not a time")


def test_verify_explain_takes_a_fact_id(cli_vault: CliVault, fact: dict[str, object]) -> None:
    by_path = cli_vault("verify", "--explain", str(cli_vault.path / str(fact["path"])), "--json")
    assert by_path.exit_code == 0, by_path.stderr
    for ref in (str(fact["id"]), str(fact["id"])[:12]):
        by_id = cli_vault("verify", "--explain", ref, "--json")
        assert by_id.exit_code == 0, by_id.stderr
        assert json.loads(by_id.stdout) == json.loads(by_path.stdout)
    missing = cli_vault("verify", "--explain", "0123456789abcdef")
    assert missing.exit_code == 2 and "no fact" in missing.stderr


@pytest.mark.parametrize("owner", ["user:", "user: ", "agent:"])
def test_an_owner_with_an_empty_name_says_so(stigmem: Invoke, tmp_path: Path, owner: str) -> None:
    result = stigmem("init", str(tmp_path / "v"), "--owner", owner)
    assert result.exit_code == 2
    assert "has an empty name" in result.stderr
    assert "no scheme" not in result.stderr
    assert not (tmp_path / "v" / ".stigmem").exists()
