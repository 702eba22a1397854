"""`stigmem garden …` and `assert --garden`: the CLI front end over the gardens of the view."""

from __future__ import annotations

import json

from .support import CliVault


def test_garden_lifecycle_from_the_terminal(cli_vault: CliVault) -> None:
    made = cli_vault.assert_ok("garden", "create", "crew", "--name", "The crew", "--scope", "team")
    assert (made["slug"], made["scope"], made["created_by"]) == ("crew", "team", "user:alice")
    assert made["garden_id"].endswith("/garden/crew")
    shown = cli_vault.assert_ok("garden", "add", "crew", "agent:codex", "--role", "writer")
    assert {m["principal"]: m["role"] for m in shown["members"]} == {
        "user:alice": "admin", "agent:codex": "writer"}
    fact = cli_vault.assert_ok("assert", "--entity", "project:atlas", "--relation", "memory:plan",
                               "--value", "friday", "--scope", "team", "--source", "agent:codex",
                               "--garden", "crew")
    assert fact["garden_id"] == made["garden_id"]
    # The file carries the signed garden_id; the records are committed like facts.
    text = (cli_vault.path / fact["path"]).read_text("utf-8")
    assert f'garden_id: "{made["garden_id"]}"' in text
    assert "garden.name--" in cli_vault.git("ls-files", "facts/team")
    # Wrong scope for the garden: bad input (exit 2), naming the field.
    wrong = cli_vault("assert", "--entity", "project:atlas", "--relation", "memory:plan",
                      "--value", "x", "--scope", "company", "--garden", "crew")
    assert wrong.exit_code == 2 and "scope" in wrong.stderr
    assert cli_vault("garden", "role", "crew", "agent:codex", "reader").exit_code == 0
    denied = cli_vault("assert", "--entity", "project:atlas", "--relation", "memory:plan",
                       "--value", "y", "--scope", "team", "--source", "agent:codex",
                       "--garden", "crew")
    assert denied.exit_code == 2 and "writer or admin" in denied.stderr
    last_admin = cli_vault("garden", "remove", "crew", "user:alice")
    assert last_admin.exit_code == 2 and "last admin" in last_admin.stderr
    listed = json.loads(cli_vault("garden", "list", "--json").stdout)
    assert [x["slug"] for x in listed] == ["crew"]
    assert cli_vault("garden", "delete", "crew").exit_code == 0
    assert json.loads(cli_vault("garden", "list", "--json").stdout) == []
    missing = cli_vault("garden", "show", "crew")
    assert missing.exit_code == 2 and "no garden 'crew'" in missing.stderr
    assert cli_vault("verify").exit_code == 0
