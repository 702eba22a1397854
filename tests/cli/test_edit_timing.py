"""An edit to a signed fact file has one outcome, whatever ran before it (issue 9, item 12):
read commands show the signed original and never sign or commit; the next writer (here
`stigmem index`; the watcher likewise) turns the edit into an amendment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .support import CliVault


def _ids_and_values(cli_vault: CliVault, *args: str) -> list[tuple[str, object]]:
    result = cli_vault(*args, "--json")
    assert result.exit_code == 0, result.stderr
    return [(f["id"], f["value"]["v"]) for f in json.loads(result.stdout)]


@pytest.mark.parametrize("before_edit", [[], ["list"], ["status"], ["index"]],
                         ids=["right-after-assert", "after-list", "after-status", "after-index"])
def test_an_edit_has_one_outcome_whatever_ran_before(cli_vault: CliVault,
                                                     before_edit: list[str]) -> None:
    made = cli_vault.assert_ok("assert", "--entity", "project:atlas", "--relation",
                               "codex:state", "--value", "draft", "--scope", "team")
    for command in before_edit:
        assert cli_vault(command).exit_code == 0
    path = cli_vault.path / str(made["path"])
    path.write_text(path.read_text("utf-8").replace(  # edited, and `sign` ticked
        'value_string: "draft"', 'value_string: "shipped"\nsign: true'), "utf-8")
    snapshot = cli_vault.snapshot()

    # Reading: the signed original, live; nothing signed, written or committed.
    assert _ids_and_values(cli_vault, "list") == [(made["id"], "draft")]
    assert cli_vault("status").exit_code == 0
    assert cli_vault("verify").exit_code == 1  # the file itself no longer verifies
    assert cli_vault.snapshot() == snapshot

    # The next writer: an amendment of the original, which is put back and stays valid.
    assert cli_vault("index").exit_code == 0
    facts = _ids_and_values(cli_vault, "list", "--live")
    assert [value for _id, value in facts] == ["shipped"]
    assert cli_vault("verify").exit_code == 0
    assert cli_vault.git("status", "--porcelain") == ""
    assert Path(path).read_text("utf-8").count('value_string: "draft"') == 1
