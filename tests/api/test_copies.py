"""Copies of a vault: read-only opens without a node identity, and ``init --from`` templates."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from nacl.signing import SigningKey

from api.support import assert_history_signed_and_linear, git, porcelain, write_foreign_fact
from stigmem_vault.api.vault import Vault
from stigmem_vault.errors import VaultConfigError
from stigmem_vault.vault.layout import fact_relpath
from stigmem_vault.vault.verify import Verdict


@pytest.fixture
def filled(vault: Vault) -> Vault:
    vault.assert_fact(entity="user:alice", relation="memory:role", value="engineer", scope="team")
    vault.assert_fact(entity="stigmem://acme/project/atlas", relation="codex:state", value="review",
                      source="agent:codex", scope="public")
    vault.assert_fact(entity="user:alice", relation="memory:age", value=30)
    vault.flush()
    return vault


def _bare_copy(src: Path, dst: Path) -> Path:
    def ignore(directory: str, names: list[str]) -> list[str]:  # .git, .stigmem/local, .stigmem/index
        in_config = Path(directory).name == ".stigmem"
        return [n for n in names if n == ".git" or (in_config and n in ("local", "index"))]

    shutil.copytree(src, dst, ignore=ignore)
    assert not (dst / ".git").exists() and not (dst / ".stigmem" / "local").exists()
    return dst


def test_read_only_copy_verifies_and_refuses_writes(filled: Vault, vault_path: Path, tmp_path: Path,
                                                    home: Path) -> None:
    copy = _bare_copy(vault_path, tmp_path / "copy")
    stranger_home = tmp_path / "stranger"  # holds none of the vault's keys
    with Vault.open(copy, home=stranger_home) as ro:
        assert not ro.writable and ro.node is None and ro.git is None
        report = ro.verify()
        assert report.ok and report.counts()["valid"] == 3
        assert len(ro.list_facts()) == 3
        assert ro.status().node_id is None
        for attempt in (
            lambda: ro.assert_fact(entity="user:alice", relation="memory:x", value=1),
            lambda: ro.create_identity("agent:other"),
            lambda: ro.retract(next(iter(ro.list_facts())).fact.id),
        ):
            with pytest.raises(VaultConfigError, match="read-only") as info:
                attempt()
            assert "init from a template" in str(info.value)  # no CLI command named here
    assert sorted(p.name for p in (copy / "facts").rglob("*.md")) == sorted(
        p.name for p in (vault_path / "facts").rglob("*.md"))


def test_read_only_copy_still_refuses_key_material(filled: Vault, vault_path: Path, tmp_path: Path) -> None:
    copy = _bare_copy(vault_path, tmp_path / "copy")
    (copy / "leaked.key").write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    from stigmem_vault.errors import KeyMaterialInVault

    with pytest.raises(KeyMaterialInVault):
        Vault.open(copy, home=tmp_path / "stranger")


def test_node_identity_without_git_is_refused(filled: Vault, vault_path: Path, tmp_path: Path,
                                              home: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(vault_path, copy, ignore=shutil.ignore_patterns(".git"))
    with pytest.raises(VaultConfigError, match="no git repository"):
        Vault.open(copy, home=home)


def test_init_from_template_imports_only_valid_facts(filled: Vault, vault_path: Path, tmp_path: Path,
                                                     home: Path) -> None:
    good = {str(fact_relpath(v.fact)): v.fact for v in filled.list_facts()}
    codex = filled.signing_key_for("agent:codex")
    _, unattested = write_foreign_fact(filled, codex, source="user:alice", value="impostor")
    _, unknown = write_foreign_fact(filled, SigningKey.generate(), source="agent:codex", value="stranger")
    tampered_rel = next(iter(good))
    tampered = vault_path / tampered_rel
    (vault_path / "facts" / "team" / "broken.md").write_text("---\nnot: [valid\n---\n")
    original = tampered.read_text()
    # A tampered copy of a valid fact under another name: it must not come along.
    (tampered.parent / "edited.md").write_text(original.replace("engineer", "admin"))
    (vault_path / ".stigmem/schemas/state.yaml").write_text("relation: codex:state\ntype: string\n")
    filled.close()

    bob_home = tmp_path / "bob-home"
    new_path = tmp_path / "new"
    with Vault.init(new_path, owner="user:bob", home=bob_home, template=vault_path,
                    commit_delay=None) as fresh:
        imported = sorted(str(p.relative_to(new_path)) for p in (new_path / "facts").rglob("*.md"))
        assert imported == sorted(good)
        for rel in good:  # byte for byte, so the signatures still hold
            assert (new_path / rel).read_bytes() == (vault_path / rel).read_bytes()
        skipped = dict(fresh.init_report)
        names = {name.split("/", 1)[1] for name in skipped}
        assert {unattested, unknown, "facts/team/broken.md"} <= names
        assert any(name.endswith("edited.md") for name in names)
        reasons = " ".join(skipped.values())
        assert Verdict.UNATTESTED.value in reasons and Verdict.UNKNOWN_SIGNER.value in reasons
        assert fresh.verify().ok
        assert "codex:state" in fresh.schemas
        sources = {i.source for i in fresh.identities()}
        assert {"user:bob", "user:alice", "agent:codex"} <= sources
        held = {i.source: i.held for i in fresh.identities()}
        assert held["user:bob"] and not held["agent:codex"]  # bob holds only his own keys
        assert fresh.config.owner == "user:bob"
    assert porcelain(new_path) == ""
    assert_history_signed_and_linear(new_path)
    tracked = git(new_path, "ls-files").stdout.splitlines()
    assert set(good) <= set(tracked) and ".stigmem/schemas/state.yaml" in tracked


def test_template_with_key_material_is_refused_before_anything_is_made(
        filled: Vault, vault_path: Path, tmp_path: Path) -> None:
    filled.close()
    (vault_path / ".stigmem" / "oops.pem").write_text(
        "-----BEGIN PRIVATE KEY-----\nAA\n-----END PRIVATE KEY-----\n")
    from stigmem_vault.errors import KeyMaterialInVault

    with pytest.raises(KeyMaterialInVault):
        Vault.init(tmp_path / "new", owner="user:bob", home=tmp_path / "bob", template=vault_path)
    assert not (tmp_path / "new").exists()
