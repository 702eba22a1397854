"""`stigmem verify`: hand edits of signed fields fail, Obsidian's reformatting does not."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
import yaml

from stigmem_vault.api.vault import Vault
from stigmem_vault.model.fact import make_claim
from stigmem_vault.model.values import make_value
from stigmem_vault.vault import frontmatter

from .support import CliVault


def _fact_file(cli_vault: CliVault, fact: dict[str, object]) -> Path:
    return cli_vault.path / str(fact["path"])


@pytest.mark.parametrize(("old", "new"), [
    ('value_string: "draft"', 'value_string: "done"'),
    ("confidence: 1\n", "confidence: 0.5\n"),
    ('scope: "team"', 'scope: "company"'),
    ('entity: "project:atlas"', 'entity: "project:other"'),
    ('trust: "observed"', 'trust: "inferred"'),
    ('source: "agent:codex"', 'source: "user:alice"'),
])
def test_hand_edited_semantic_field_fails_verify(cli_vault: CliVault, fact: dict[str, object],
                                                  old: str, new: str) -> None:
    path = _fact_file(cli_vault, fact)
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    result = cli_vault("verify")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{fact['path']}: id-mismatch: ")
    assert "a signed field was changed after signing" in lines[0]
    assert re.match(r"verified 1 fact file\(s\): 1 id-mismatch", lines[-1])


def test_forged_id_is_an_invalid_signature(cli_vault: CliVault, fact: dict[str, object]) -> None:
    path = _fact_file(cli_vault, fact)
    path.write_text(path.read_text().replace('value_string: "draft"', 'value_string: "done"'))
    recomputed = json.loads(cli_vault("verify", str(path), "--explain", "--json").stdout)
    path.write_text(path.read_text().replace(str(fact["id"]), recomputed["computed_id"]))
    result = cli_vault("verify", str(path))
    assert result.exit_code == 1
    assert f"{fact['path']}: invalid-signature: " in result.stdout


def test_malformed_file_is_reported_with_its_reason(cli_vault: CliVault, fact: dict[str, object]) -> None:
    path = _fact_file(cli_vault, fact)
    path.write_text("not a fact at all\n")
    result = cli_vault("verify")
    assert result.exit_code == 1
    assert f"{fact['path']}: malformed: " in result.stdout
    assert "frontmatter" in result.stdout


def _obsidian_style(text: str) -> str:
    """Rewrite the frontmatter as Obsidian (or a plugin) might: keys reordered, strings single-
    quoted or bare where YAML reads them back as the same string, tags and aliases added."""
    yaml_text, body, _ = frontmatter.split(text)
    props = yaml.safe_load(yaml_text)
    lines = []
    for i, (key, value) in enumerate(reversed(list(props.items()))):
        if isinstance(value, str):
            bare = frontmatter.load(f"k: {value}") == {"k": value} if value else False
            if bare and i % 2 == 0:
                lines.append(f"{key}: {value}")
            else:
                lines.append(f"{key}: '" + value.replace("'", "''") + "'")
        else:
            lines.append(f"{key}: {json.dumps(value)}")
    lines += ["tags:", "  - stigmem", "  - project/atlas", "aliases:", "  - Atlas state",
              "cssclasses: []"]
    return "---\n" + "\n".join(lines) + "\n---\n" + body


def test_obsidian_reformatting_keeps_verify_green(cli_vault: CliVault, fact: dict[str, object]) -> None:
    path = _fact_file(cli_vault, fact)
    original = path.read_text()
    reformatted = _obsidian_style(original)
    assert reformatted != original
    assert "'project:atlas'" in reformatted or "entity: project:atlas" in reformatted
    path.write_text(reformatted)
    result = cli_vault("verify")
    assert result.exit_code == 0, result.stdout
    assert result.stdout.strip() == "verified 1 fact file(s): 1 valid"
    assert cli_vault("verify", str(path), "--explain").exit_code == 0


def test_explain_prints_canonical_bytes_id_key_and_verdict(cli_vault: CliVault,
                                                           fact: dict[str, object]) -> None:
    path = _fact_file(cli_vault, fact)
    result = cli_vault("verify", str(path), "--explain")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "verdict      valid" in out
    assert f"computed id  {fact['id']}" in out
    assert f"recorded id  {fact['id']}" in out
    assert f"signer       {fact['signer']}" in out
    assert "bound to     agent:codex" in out
    canonical = out.rstrip("\n").splitlines()[-1]
    assert hashlib.sha256(canonical.encode()).hexdigest() == fact["id"]
    assert json.loads(canonical)["value"] == {"type": "string", "v": "draft"}
    key_hex = re.search(r"public key   ([0-9a-f]{64})", out)
    assert key_hex is not None

    data = json.loads(cli_vault("verify", str(path), "--explain", "--json").stdout)
    assert data["ok"] is True
    assert data["verdict"] == "valid"
    assert data["canonical"] == canonical
    assert data["computed_id"] == data["recorded_id"] == fact["id"]
    assert data["public_key_hex"] == key_hex.group(1)
    assert data["bound_sources"] == ["agent:codex"]


def test_explain_of_a_tampered_file_exits_1(cli_vault: CliVault, fact: dict[str, object]) -> None:
    path = _fact_file(cli_vault, fact)
    path.write_text(path.read_text().replace('value_string: "draft"', 'value_string: "done"'))
    result = cli_vault("--json", "verify", str(path), "--explain")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["verdict"] == "id-mismatch"
    assert data["computed_id"] != data["recorded_id"] == fact["id"]


@pytest.mark.parametrize("paths", [(), ("a", "b")])
def test_explain_needs_exactly_one_file(cli_vault: CliVault, fact: dict[str, object],
                                        paths: tuple[str, ...]) -> None:
    result = cli_vault("verify", "--explain", *paths)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "error: --explain needs exactly one FILE or fact id (see `stigmem verify --help`)"]


def test_verify_json_reports_counts_and_problems(cli_vault: CliVault, fact: dict[str, object]) -> None:
    cli_vault.assert_ok("assert", "--entity", "project:atlas", "--relation", "codex:owner",
                        "--value", "user:alice", "--type", "ref")
    ok = json.loads(cli_vault("verify", "--json").stdout)
    assert ok == {"ok": True, "strict": False, "checked": 2, "counts": {**ok["counts"], "valid": 2},
                  "problems": [], "trust_problems": []}
    path = _fact_file(cli_vault, fact)
    path.write_text(path.read_text().replace('scope: "team"', 'scope: "public"'))
    result = cli_vault("verify", "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False
    assert data["counts"]["id-mismatch"] == 1
    assert data["problems"] == [{"path": fact["path"], "verdict": "id-mismatch",
                                 "reason": data["problems"][0]["reason"]}]


def test_verify_given_paths_checks_only_those(cli_vault: CliVault, fact: dict[str, object]) -> None:
    other = cli_vault.assert_ok("assert", "--entity", "user:bob", "--relation", "memory:role",
                                "--value", "engineer")
    tampered = cli_vault.path / str(other["path"])
    tampered.write_text(tampered.read_text().replace("engineer", "manager"))
    assert cli_vault("verify", str(_fact_file(cli_vault, fact))).exit_code == 0
    assert cli_vault("verify", str(cli_vault.path / "facts" / "team")).exit_code == 0
    assert cli_vault("verify", str(cli_vault.path / "facts")).exit_code == 1
    missing = cli_vault("verify", str(cli_vault.path / "facts" / "nope.md"))
    assert missing.exit_code == 2
    assert "nope.md" in missing.stderr


def test_a_broken_trust_binding_fails_verify(cli_vault: CliVault, fact: dict[str, object]) -> None:
    binding = next((cli_vault.path / ".stigmem" / "trust" / "agent").glob("*.json"))
    data = json.loads(binding.read_text())
    data["issued_at"] = "2000-01-01T00:00:00.000Z"
    binding.write_text(json.dumps(data))
    result = cli_vault("verify")
    assert result.exit_code == 1
    rel = binding.relative_to(cli_vault.path).as_posix()
    assert f"{rel}: trust-store: binding signature does not verify" in result.stdout
    # Without its binding, agent:codex's key is unknown, so its fact fails too.
    assert f"{fact['path']}: unknown-signer: " in result.stdout


def test_facts_a_node_vouched_for_verify_and_strict_fails_on_them(cli_vault: CliVault,
                                                                  home: Path) -> None:
    # What an `--auth none` node writes for a client naming its own source: signed by the
    # operator (the owner), so vouched for, not signed by its source (docs/spec.md §9.5).
    with Vault.open(cli_vault.path, home=home, commit_delay=None) as vault:
        claim = make_claim(entity="user:bob", relation="memory:role",
                           value=make_value("string", "viewer"), source="agent:client",
                           scope="team")
        vault.as_principal(vault.operator()).write(claim, attestation="off")
        vault.flush()

    result = cli_vault("verify")
    assert result.exit_code == 0, result.stdout
    assert "1 vouched" in result.stdout and "--strict fails on them" in result.stdout
    report = json.loads(cli_vault("verify", "--json").stdout)
    assert (report["ok"], report["counts"]["vouched"], report["problems"]) == (True, 1, [])

    strict = cli_vault("verify", "--strict", "--json")
    assert strict.exit_code == 1
    report = json.loads(strict.stdout)
    assert (report["ok"], [p["verdict"] for p in report["problems"]]) == (False, ["vouched"])
    assert "vouched for by user:alice" in report["problems"][0]["reason"]
