"""Bad input exits 2 with one line naming the field and the reason, and writes nothing."""

from __future__ import annotations

import json

import pytest

from .support import CliVault

BASE = ("assert", "--entity", "project:atlas", "--relation", "codex:state")

# (extra arguments, field named in the message, words of the reason)
BAD_ASSERTS = [
    pytest.param(("--value", "x", "--scope", "galaxy"), "scope", "'galaxy' is not one of",
                 id="unknown-scope"),
    pytest.param(("--value", "x", "--trust", "gossip"), "trust", "'gossip' is not one of",
                 id="unknown-trust"),
    pytest.param(("--value", "x", "--confidence", "1.5"), "confidence", "outside 0.0-1.0",
                 id="confidence-1.5"),
    pytest.param(("--value", "abc", "--type", "number"), "value", "'abc' is not a number",
                 id="number-abc"),
    pytest.param(("--value", '"false"', "--type", "boolean"), "value", "must be true or false",
                 id="boolean-json-string"),
    pytest.param(("--value", "nope", "--type", "datetime"), "value", "not an ISO 8601",
                 id="datetime-nope"),
    pytest.param(("--value", "x", "--valid-until", "nope"), "valid_until", "not an ISO 8601",
                 id="valid-until-nope"),
    pytest.param(("--value", "x", "--type", "float"), "value.type", "not a value type",
                 id="unknown-type"),
    pytest.param(("--value", "x", "--source", "agent:nobody"), "source", "no identity agent:nobody",
                 id="unknown-identity"),
    pytest.param(("--value", "x", "--source", "nobody"), "source", "has no scheme",
                 id="source-without-scheme"),
    pytest.param(("--value", "x", "--supersedes", "abc"), "supersedes", "not a fact id",
                 id="supersedes-not-an-id"),
]


def _assert_one_line_error(result, field: str, reason: str) -> None:
    assert result.exit_code == 2, result.stdout + result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert field in lines[0]
    assert reason in lines[0]


@pytest.mark.parametrize(("extra", "field", "reason"), BAD_ASSERTS)
def test_bad_assert_exits_2_with_one_line_and_writes_nothing(
        cli_vault: CliVault, extra: tuple[str, ...], field: str, reason: str) -> None:
    before = cli_vault.snapshot()
    result = cli_vault(*BASE, *extra)
    _assert_one_line_error(result, field, reason)
    assert cli_vault.snapshot() == before


@pytest.mark.parametrize("relation", ["stigmem:x", "rel:subject"])
def test_reserved_relation_from_a_non_system_source(cli_vault: CliVault, relation: str) -> None:
    before = cli_vault.snapshot()
    result = cli_vault("assert", "--entity", "project:atlas", "--relation", relation,
                       "--value", "x", "--source", "agent:codex")
    _assert_one_line_error(result, "relation", "is reserved")
    assert cli_vault.snapshot() == before


def test_value_breaking_a_registered_schema(cli_vault: CliVault) -> None:
    schema = cli_vault.path / ".stigmem" / "schemas" / "codex-state.yaml"
    schema.write_text("relation: codex:state\ntype: string\nenum: [draft, done]\n")
    before = cli_vault.snapshot()
    result = cli_vault(*BASE, "--value", "wip")  # a new process: the schema is read on open
    _assert_one_line_error(result, "value (schema codex:state)", "'wip' is not one of")
    assert cli_vault.snapshot() == before
    assert cli_vault(*BASE, "--value", "done").exit_code == 0


def test_bad_input_under_json_is_a_json_error_on_stdout(cli_vault: CliVault) -> None:
    before = cli_vault.snapshot()
    result = cli_vault("--json", *BASE, "--value", "x", "--scope", "galaxy")
    assert result.exit_code == 2
    error = json.loads(result.stdout)["error"]
    assert error["type"] == "InvalidFact"
    assert error["field"] == "scope"
    assert "galaxy" in error["message"]
    assert cli_vault.snapshot() == before


@pytest.mark.parametrize(("args", "option"), [
    ((*BASE, "--value", "x", "--confidence", "high"), "--confidence"),
    ((*BASE, "--value", "x", "--sope", "team"), "--sope"),
    (("assert", "--relation", "codex:x", "--value", "x"), "--entity"),
    (("list", "--min-confidence", "lots"), "--min-confidence"),
])
def test_usage_errors_exit_2_with_one_line_naming_the_option(
        cli_vault: CliVault, args: tuple[str, ...], option: str) -> None:
    before = cli_vault.snapshot()
    result = cli_vault(*args)
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert option in lines[0]
    assert cli_vault.snapshot() == before


def test_usage_error_under_json_names_the_option(cli_vault: CliVault) -> None:
    result = cli_vault(*BASE, "--value", "x", "--confidence", "high", "--json")
    assert result.exit_code == 2
    assert json.loads(result.stdout)["error"]["field"] == "--confidence"


@pytest.mark.parametrize("args", [
    ("get", "0123456789abcdef"),  # no such fact
    ("get", "xyz"),  # not an id
    ("amend", "0123456789abcdef", "--value", "x"),
    ("retract", "0123456789abcdef"),
    ("identity", "create", "agent:codex"),  # already exists
    ("identity", "create", "nobody"),  # not a principal
    ("list", "--scope", "galaxy"),
    ("list", "--type", "float"),
])
def test_other_bad_input_exits_2(cli_vault: CliVault, args: tuple[str, ...]) -> None:
    before = cli_vault.snapshot()
    result = cli_vault(*args)
    assert result.exit_code == 2, result.stdout + result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("error: ")
    assert cli_vault.snapshot() == before


def test_amend_with_a_value_of_the_wrong_type(cli_vault: CliVault) -> None:
    made = cli_vault.assert_ok("assert", "--entity", "project:atlas", "--relation", "codex:count",
                               "--value", "3", "--type", "number")
    before = cli_vault.snapshot()
    result = cli_vault("amend", str(made["id"]), "--value", "three")
    _assert_one_line_error(result, "value", "'three' is not a number")
    assert cli_vault.snapshot() == before
