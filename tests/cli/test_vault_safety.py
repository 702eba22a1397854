"""Key material in the vault stops every command; init --from imports only what verifies."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from .support import CliVault, Invoke

LEAK = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n" \
       "-----END PRIVATE KEY-----\n"


def _every_command(fact: dict[str, object], vault: Path, tmp: Path) -> list[tuple[str, ...]]:
    fact_id = str(fact["id"])
    return [
        ("status",),
        ("list",),
        ("get", fact_id),
        ("assert", "--entity", "project:atlas", "--relation", "codex:x", "--value", "y"),
        ("amend", fact_id, "--value", "done"),
        ("retract", fact_id),
        ("verify",),
        ("verify", str(vault / str(fact["path"])), "--explain"),
        ("identity", "list"),
        ("identity", "create", "agent:scribe"),
        ("query",),
        ("recall", "draft"),
        ("provenance", fact_id),
        ("conflicts",),
        ("resolve", "0123456789abcdef", "--winner", "a"),
        ("index",),
        ("reindex",),
        ("watch",),  # refused before it starts watching
        ("init", str(tmp / "copy"), "--owner", "user:bob", "--from", str(vault)),
    ]


@pytest.mark.parametrize("leak", [".stigmem/leak.pem", "notes.txt", ".stigmem/schemas/x.yaml"])
def test_private_key_in_the_vault_stops_every_command(
        cli_vault: CliVault, fact: dict[str, object], tmp_path: Path, leak: str) -> None:
    (cli_vault.path / leak).write_text(LEAK)
    before = cli_vault.snapshot()
    for args in _every_command(fact, cli_vault.path, tmp_path):
        for extra in ((), ("--json",)):
            result = cli_vault(*args, *extra)
            assert result.exit_code == 3, (args, result.stdout, result.stderr)
            if extra:
                error = json.loads(result.stdout)["error"]
                assert error["type"] == "KeyMaterialInVault"
                message = error["message"]
            else:
                assert len(result.stderr.splitlines()) == 1
                message = result.stderr
            assert f"private key material found inside the vault: {leak}" in message
            assert "Move it out" in message
    assert cli_vault.snapshot() == before
    assert not (tmp_path / "copy").exists()


def test_stigmem_home_inside_the_vault_is_refused(cli_vault: CliVault, stigmem: Invoke,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STIGMEM_HOME", str(cli_vault.path / "keys-here"))
    result = cli_vault("status")
    assert result.exit_code == 3
    assert "STIGMEM_HOME" in result.stderr


def test_init_from_imports_facts_that_verify(cli_vault: CliVault, fact: dict[str, object],
                                            stigmem: Invoke, tmp_path: Path) -> None:
    schema = cli_vault.path / ".stigmem" / "schemas" / "codex-state.yaml"
    schema.write_text("relation: codex:state\ntype: string\nenum: [draft, done]\n")
    cli_vault.git("add", ".stigmem/schemas/codex-state.yaml")
    second = cli_vault.assert_ok("assert", "--entity", "user:bob", "--relation", "memory:role",
                                 "--value", "engineer", "--scope", "local")
    new_path = tmp_path / "bob-vault"
    result = stigmem("init", str(new_path), "--owner", "user:bob", "--from", str(cli_vault.path))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[1] == (
        f"imported 2 fact(s) from {cli_vault.path}; skipped 0 file(s)")
    new = CliVault(new_path, stigmem)

    verified = new("verify")
    assert verified.exit_code == 0, verified.stdout
    assert verified.stdout.strip() == "verified 2 fact file(s): 2 valid"
    listed = json.loads(new("list", "--json").stdout)
    assert {f["id"] for f in listed} == {fact["id"], second["id"]}
    assert json.loads(new("status", "--json").stdout)["schemas"] == 1
    # The imported identities are endorsed by the new owner: agent:codex can write here too.
    assert new("assert", "--entity", "project:atlas", "--relation", "codex:state",
               "--value", "wip", "--source", "agent:codex").exit_code == 2  # schema came along
    assert new("assert", "--entity", "project:atlas", "--relation", "codex:state",
               "--value", "done", "--source", "agent:codex").exit_code == 0
    assert new("verify").exit_code == 0


def test_init_from_reports_what_it_skipped(cli_vault: CliVault, fact: dict[str, object],
                                          stigmem: Invoke, tmp_path: Path) -> None:
    tampered = cli_vault.path / str(fact["path"])
    tampered.write_text(tampered.read_text().replace('"draft"', '"done"'))
    cli_vault.assert_ok("assert", "--entity", "user:bob", "--relation", "memory:role",
                        "--value", "engineer")
    new_path = tmp_path / "bob-vault"
    result = stigmem("init", str(new_path), "--owner", "user:bob", "--from", str(cli_vault.path))
    assert result.exit_code == 0, result.stderr
    assert "imported 1 fact(s)" in result.stdout
    assert result.stderr.startswith(f"skipped vault/{fact['path']}: id-mismatch: ")
    assert stigmem("--vault", str(new_path), "verify").exit_code == 0

    as_json = stigmem("init", str(tmp_path / "third"), "--owner", "user:bob",
                      "--from", str(cli_vault.path), "--json")
    data = json.loads(as_json.stdout)
    assert data["imported_facts"] == 1
    assert [s["path"] for s in data["skipped"]] == [f"vault/{fact['path']}"]


def test_init_from_a_directory_that_is_not_a_vault(stigmem: Invoke, tmp_path: Path) -> None:
    result = stigmem("init", str(tmp_path / "new"), "--owner", "user:bob",
                     "--from", str(tmp_path))
    assert result.exit_code == 3
    assert "no vault config" in result.stderr
    assert not (tmp_path / "new").exists()  # a refused template leaves nothing half-made


def test_read_only_copy_can_verify_but_not_write(cli_vault: CliVault, fact: dict[str, object],
                                                 stigmem: Invoke, tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(cli_vault.path), str(clone)], check=True)
    copy = CliVault(clone, stigmem)
    assert copy("verify").exit_code == 0
    assert "read-only copy" in copy("status").stdout
    refused = copy("assert", "--entity", "project:atlas", "--relation", "codex:x", "--value", "y")
    assert refused.exit_code == 3
    assert "read-only" in refused.stderr
    assert "stigmem init" in refused.stderr
