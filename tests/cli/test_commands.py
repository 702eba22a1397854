"""Every command: --help, --json in both places, human output, vault selection."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest

from stigmem_vault.cli.main import cli

from .support import CliVault, Invoke


def _command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = []
    for name, command in sorted(group.commands.items()):
        paths.append((*prefix, name))
        if isinstance(command, click.Group):
            paths.extend(_command_paths(command, (*prefix, name)))
    return paths


COMMAND_PATHS = _command_paths(cli)


def test_the_documented_commands_exist() -> None:
    assert set(COMMAND_PATHS) == {
        ("init",), ("identity",), ("identity", "create"), ("identity", "list"), ("assert",),
        ("get",), ("list",), ("amend",), ("retract",), ("verify",), ("status",), ("query",),
        ("recall",), ("provenance",), ("conflicts",), ("resolve",), ("index",), ("reindex",),
        ("watch",), ("serve",), ("token",), ("token", "create"), ("token", "list"),
        ("token", "revoke"), ("conformance",), ("mcp",),
        ("identity", "rotate"), ("identity", "vouch"), ("remote",), ("remote", "add"),
        ("remote", "list"),
        ("remote", "remove"), ("sync",), ("peer",), ("peer", "list"), ("peer", "trust"),
        ("peer", "revoke"), ("audit",), ("revert",), ("garden",), ("garden", "create"),
        ("garden", "list"), ("garden", "show"), ("garden", "add"), ("garden", "role"),
        ("garden", "remove"), ("garden", "delete"), ("obsidian",), ("obsidian", "install-plugin")}


@pytest.mark.parametrize("path", [(), *COMMAND_PATHS], ids=lambda p: " ".join(p) or "stigmem")
def test_every_command_has_help(stigmem: Invoke, path: tuple[str, ...]) -> None:
    result = stigmem(*path, "--help")
    assert result.exit_code == 0
    assert result.stdout.startswith(f"Usage: stigmem {' '.join(path)}".rstrip())
    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    assert command.help, f"{path} has no help text"
    for param in command.params:
        if isinstance(param, click.Option) and param.name != "help":
            assert param.help, f"{path} option {param.opts} has no help"


def test_no_arguments_prints_help(stigmem: Invoke) -> None:
    result = stigmem()
    assert result.exit_code == 0
    assert "Commands:" in result.stdout


def _data_commands(fact_id: str, fact_path: str) -> list[tuple[str, ...]]:
    return [
        ("identity", "create", "agent:scribe"),
        ("identity", "list"),
        ("assert", "--entity", "project:atlas", "--relation", "codex:count", "--value", "3",
         "--type", "number"),
        ("get", fact_id[:10]),
        ("list",),
        ("list", "--entity", "project:atlas", "--live"),
        ("query",),
        ("query", "--scope", "team", "--scope", "local", "--include-superseded"),
        ("recall", "draft"),
        ("provenance", fact_id),
        ("conflicts",),
        ("conflicts", "--status", "open"),
        ("index",),
        ("reindex",),
        ("amend", fact_id, "--value", "done"),
        ("retract", fact_id),
        ("verify",),
        ("verify", fact_path, "--explain"),
        ("status",),
    ]


@pytest.mark.parametrize("where", ["global", "command"])
def test_every_data_command_prints_json(cli_vault: CliVault, fact: dict[str, object],
                                        tmp_path: Path, where: str) -> None:
    fact_path = str(cli_vault.path / str(fact["path"]))
    for args in _data_commands(str(fact["id"]), fact_path):
        result = cli_vault("--json", *args) if where == "global" else cli_vault(*args, "--json")
        assert result.exit_code == 0, (args, result.stdout, result.stderr)
        json.loads(result.stdout)
    init = ("init", str(tmp_path / "second"), "--owner", "user:bob", "--from", str(cli_vault.path))
    made = cli_vault.run("--json", *init) if where == "global" else cli_vault.run(*init, "--json")
    assert made.exit_code == 0, made.stderr
    assert json.loads(made.stdout)["imported_facts"] >= 1


def test_assert_get_list_amend_retract(cli_vault: CliVault, fact: dict[str, object]) -> None:
    assert fact["entity"] == "project:atlas"
    assert fact["value"] == {"type": "string", "v": "draft"}
    assert fact["source"] == "agent:codex"
    assert (cli_vault.path / str(fact["path"])).is_file()

    shown = cli_vault("get", str(fact["id"])[:8])
    assert shown.exit_code == 0
    shown_fields = dict(line.split(None, 1) for line in shown.stdout.splitlines())
    assert shown_fields["id"] == fact["id"]
    assert shown_fields["path"] == fact["path"]
    assert shown_fields["value"] == "draft (string)"
    assert "valid_until" not in shown_fields  # unset fields are left out

    amended = cli_vault("amend", str(fact["id"])[:12], "--value", "review", "--confidence", "0.8")
    assert amended.exit_code == 0, amended.stderr
    verb, new_id, new_path = amended.stdout.split()
    assert verb == "amended"
    assert (cli_vault.path / new_path).is_file()
    new = json.loads(cli_vault("get", new_id, "--json").stdout)
    assert new["supersedes"] == fact["id"]
    assert new["source"] == "agent:codex"  # amend keeps the source
    assert (new["value"]["v"], new["confidence"]) == ("review", 0.8)

    live = json.loads(cli_vault("list", "--live", "--json").stdout)
    assert [f["id"] for f in live] == [new_id]
    every = json.loads(cli_vault("list", "--json").stdout)
    assert [f["id"] for f in every] == [fact["id"], new_id]  # HLC order

    retracted = cli_vault.assert_ok("retract", new_id, "--source", "agent:codex")
    assert retracted["action"] == "retracted"
    assert (retracted["confidence"], retracted["supersedes"]) == (0.0, new_id)
    assert cli_vault.git("status", "--porcelain") == ""  # every write is committed


def test_typed_values_from_the_command_line(cli_vault: CliVault) -> None:
    base = ("assert", "--entity", "project:atlas")
    cases = [
        (("--relation", "codex:count", "--value", "4.5e3", "--type", "number"), 4500),
        (("--relation", "codex:done", "--value", "false", "--type", "boolean"), False),
        (("--relation", "codex:nothing", "--type", "null"), None),
        (("--relation", "codex:nothing2", "--value", "null", "--type", "null"), None),
        (("--relation", "codex:due", "--value", "2026-12-01", "--type", "datetime"), "2026-12-01"),
        (("--relation", "codex:owner", "--value", "User:Alice", "--type", "ref"), "User:Alice"),
        (("--relation", "codex:label", "--value", "42"), "42"),  # string is the default type
    ]
    for args, expected in cases:
        made = cli_vault.assert_ok(*base, *args)
        assert made["value"]["v"] == expected, args


def test_assert_with_all_options(cli_vault: CliVault, fact: dict[str, object]) -> None:
    made = cli_vault.assert_ok(
        "assert", "--entity", "project:atlas", "--relation", "codex:summary", "--value", "line",
        "--type", "text", "--source", "agent:codex", "--confidence", "0.7", "--trust", "inferred",
        "--scope", "company", "--valid-until", "2999-01-01T00:00:00Z",
        "--derived-from", str(fact["id"]), "--derived-from", "sha256:" + "ab" * 32)
    assert (made["trust"], made["scope"], made["confidence"]) == ("inferred", "company", 0.7)
    assert made["valid_until"] == "2999-01-01T00:00:00Z"
    assert made["derived_from"] == sorted([str(fact["id"]), "sha256:" + "ab" * 32])
    assert str(made["path"]).startswith("facts/company/")


def test_list_filters_and_table(cli_vault: CliVault, fact: dict[str, object]) -> None:
    cli_vault.assert_ok("assert", "--entity", "user:bob", "--relation", "memory:role",
                        "--value", "engineer", "--confidence", "0.4")
    table = cli_vault("list").stdout.splitlines()
    assert table[0].split() == ["ID", "ENTITY", "RELATION", "VALUE", "SOURCE", "CONF", "TRUST",
                                "SCOPE", "FLAGS"]
    assert len(table) == 3
    assert table[1].index("project:atlas") == table[0].index("ENTITY")  # aligned columns

    def ids(*args: str) -> list[str]:
        return [f["id"] for f in json.loads(cli_vault("list", *args, "--json").stdout)]

    assert ids("--entity", "project:atlas") == [fact["id"]]
    assert ids("--scope", "team") == [fact["id"]]
    assert ids("--source", "agent:codex") == [fact["id"]]
    assert ids("--min-confidence", "0.5") == [fact["id"]]
    assert ids("--signer", str(fact["signer"])) == [fact["id"]]
    assert ids("--relation", "memory:role", "--type", "string") != []
    assert ids("--trust", "reported") == []
    assert cli_vault("list", "--relation", "nothing:here").stdout == "no matching facts\n"


def test_identity_create_and_list(cli_vault: CliVault) -> None:
    created = cli_vault("identity", "create", "agent:scribe")
    assert created.exit_code == 0
    assert created.stdout.startswith("created identity agent:scribe ed25519:")
    rows = cli_vault("identity", "list").stdout.splitlines()
    assert rows[0].split() == ["SOURCE", "ROLE", "KEY", "HELD", "VOUCHES", "KEY"]
    sources = {row.split()[0]: row.split()[1] for row in rows[1:]}
    assert sources["user:alice"] == "owner"
    assert sources["agent:codex"] == "identity"
    assert sources["agent:scribe"] == "identity"
    assert any(role == "node" for role in sources.values())
    listed = json.loads(cli_vault("identity", "list", "--json").stdout)
    assert all(item["held"] for item in listed)
    # Only the owner's key vouches for other sources, until the owner grants it (§9.3).
    assert {i["source"] for i in listed if i["vouches"]} == {"user:alice"}
    granted = json.loads(cli_vault("identity", "vouch", "agent:scribe", "--json").stdout)
    assert (granted["source"], granted["vouches"]) == ("agent:scribe", True)
    listed = json.loads(cli_vault("identity", "list", "--json").stdout)
    assert {i["source"] for i in listed if i["vouches"]} == {"user:alice", "agent:scribe"}
    assert "vouch agent:scribe" in cli_vault.git("log", "-1", "--format=%B")


def test_status(cli_vault: CliVault, fact: dict[str, object]) -> None:
    out = cli_vault("status").stdout
    assert f"vault       {cli_vault.path}" in out
    assert "owner       user:alice" in out
    assert "facts       1 (local 0, team 1, company 0, public 0)" in out
    data = json.loads(cli_vault("status", "--json").stdout)
    assert data["facts_by_scope"]["team"] == 1
    assert data["head"] == cli_vault.git("rev-parse", "HEAD").strip()


def test_vault_from_environment_then_current_directory(
        cli_vault: CliVault, stigmem: Invoke, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    monkeypatch.setenv("STIGMEM_VAULT", str(cli_vault.path))
    assert json.loads(stigmem("status", "--json").stdout)["root"] == str(cli_vault.path)
    monkeypatch.delenv("STIGMEM_VAULT")
    monkeypatch.chdir(cli_vault.path)
    assert json.loads(stigmem("status", "--json").stdout)["root"] == str(cli_vault.path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    outside = stigmem("status")
    assert outside.exit_code == 3
    assert "stigmem init" in outside.stderr


def test_init_refuses_bad_owner_and_existing_vault(cli_vault: CliVault, stigmem: Invoke,
                                                   tmp_path: Path) -> None:
    agent_owner = stigmem("init", str(tmp_path / "v2"), "--owner", "agent:codex")
    assert agent_owner.exit_code == 2
    assert agent_owner.stderr.startswith("error: owner: must be a person")
    assert not (tmp_path / "v2").exists()
    again = stigmem("init", str(cli_vault.path), "--owner", "user:alice")
    assert again.exit_code == 2  # bad input, not an unusable vault
    assert again.stderr.startswith("error: path: ")
    assert "already holds a vault" in again.stderr
