"""`stigmem status` lists what people have not signed yet; `stigmem revert` drops an edit;
neither reading nor listing signs, restores or commits anything (spec §14)."""

from __future__ import annotations

import json

import pytest

from .support import CliVault


def test_status_lists_pending_work_and_revert_drops_an_edit(cli_vault: CliVault,
                                                           fact: dict[str, object]) -> None:
    path = cli_vault.path / str(fact["path"])
    signed = path.read_bytes()
    path.write_text(signed.decode().replace('value_string: "draft"', 'value_string: "sh"'))
    (cli_vault.path / "Idea.md").write_text(
        "---\nentity: project:atlas\nrelation: project:status\nvalue: gre\n---\n")
    snapshot = cli_vault.snapshot()

    result = cli_vault("--json", "status")
    assert result.exit_code == 0, result.stderr
    pending = {(p["path"], p["kind"]) for p in json.loads(result.stdout)["pending"]}
    assert pending == {(str(fact["path"]), "edit"), ("Idea.md", "draft")}
    human = cli_vault("status").stdout
    assert "2 pending" in human and "Idea.md: draft" in human
    for read in (("list",), ("query", "--entity", "project:atlas"), ("status",)):
        assert cli_vault(*read).exit_code == 0
    assert cli_vault.snapshot() == snapshot  # reading signed, restored and committed nothing

    result = cli_vault("revert", str(path))
    assert result.exit_code == 0, result.stderr
    assert path.read_bytes() == signed
    left = json.loads(cli_vault("--json", "status").stdout)["pending"]
    assert [p["path"] for p in left] == ["Idea.md"]


def test_index_and_watch_say_what_they_carried_out(cli_vault: CliVault) -> None:
    (cli_vault.path / "Idea.md").write_text(
        "---\nentity: project:atlas\nrelation: project:status\nvalue: green\nsign: true\n---\n")
    (cli_vault.path / "Later.md").write_text(
        "---\nentity: project:atlas\nrelation: project:eta\nvalue: friday\n---\n")
    result = cli_vault("index")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("signed ") and line.endswith("(from Idea.md)") for line in lines)
    assert any(line.startswith("pending ") and "Later.md" in line for line in lines)
    assert json.loads(cli_vault("--json", "index").stdout)["changes"] == []  # said once
    (cli_vault.path / "Later.md").write_text(
        "---\nentity: project:atlas\nrelation: project:eta\nvalue: monday\n---\n")
    changes = json.loads(cli_vault("--json", "index").stdout)["changes"]
    assert [(c["kind"], c["path"]) for c in changes] == [("pending", "Later.md")]


def test_status_says_which_pending_notes_are_ticked_and_why_one_was_refused(
        cli_vault: CliVault) -> None:
    (cli_vault.path / "Ready.md").write_text(
        "---\nentity: project:atlas\nrelation: project:status\nvalue: green\nsign: true\n---\n")
    (cli_vault.path / "Bad.md").write_text(
        "---\nentity: project:atlas\nrelation: project:eta\nvalue: friday\nconfidence: 7\n"
        "sign: true\n---\n")
    # No writer has run: both wait, ticked.
    pending = {p["path"]: p for p in json.loads(cli_vault("--json", "status").stdout)["pending"]}
    assert (pending["Ready.md"]["ticked"], pending["Bad.md"]["ticked"]) == (True, True)
    assert "Ready.md: draft, ticked: the next `stigmem watch`" in cli_vault("status").stdout
    assert cli_vault("index").exit_code == 0  # signs the one, refuses the other
    pending = {p["path"]: p for p in json.loads(cli_vault("--json", "status").stdout)["pending"]}
    assert list(pending) == ["Bad.md"]
    assert pending["Bad.md"]["ticked"] is False and "confidence" in pending["Bad.md"]["error"]
    assert "Bad.md: draft (last try: confidence:" in cli_vault("status").stdout


def test_revert_takes_the_id_prefix_status_shows_or_a_path_from_here(
        cli_vault: CliVault, fact: dict[str, object], monkeypatch: pytest.MonkeyPatch) -> None:
    path = cli_vault.path / str(fact["path"])
    signed = path.read_bytes()
    edited = signed.decode().replace('value_string: "draft"', 'value_string: "sh"')
    path.write_text(edited)
    [shown] = json.loads(cli_vault("--json", "status").stdout)["pending"]
    assert f"edit of {str(shown['fact_id'])[:12]}" in cli_vault("status").stdout
    result = cli_vault("revert", str(shown["fact_id"])[:12])
    assert result.exit_code == 0, result.stderr
    assert path.read_bytes() == signed
    path.write_text(edited)
    monkeypatch.chdir(path.parent)
    result = cli_vault("revert", path.name)  # relative to the current folder
    assert result.exit_code == 0, result.stderr
    assert path.read_bytes() == signed
    assert cli_vault("revert", "0123456789ab").exit_code == 2  # names no fact: bad input
