"""Vault.init and Vault.open: what a new vault holds, where keys live, and what open refuses."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from api.support import commits, files_in, git, porcelain
from stigmem_vault.api.vault import Vault
from stigmem_vault.errors import InvalidFact, KeyMaterialInVault, VaultConfigError
from stigmem_vault.vault.keys import KeyStore, looks_like_private_key
from stigmem_vault.vault.markdown import OBSIDIAN_TYPES

PEM = ("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"
       "-----END PRIVATE KEY-----\n")


def test_init_creates_the_expected_files(vault: Vault, vault_path: Path) -> None:
    tracked = set(git(vault_path, "ls-files").stdout.splitlines())
    for rel in (".gitignore", ".obsidian/types.json", ".stigmem/vault.json",
                ".stigmem/allowed_signers", "facts/.gitkeep", ".stigmem/schemas/.gitkeep"):
        assert rel in tracked, rel
    bindings = sorted(p for p in tracked if p.startswith(".stigmem/trust/"))
    assert [b.split("/")[2] for b in bindings] == ["agent", "system", "user"]
    assert ".stigmem/local/node.json" not in tracked and (vault_path / ".stigmem/local/node.json").exists()

    config = json.loads((vault_path / ".stigmem/vault.json").read_text())
    assert config["format"] == "stigmem.vault/1" and config["owner"] == "user:alice"
    assert config["owner_key"].startswith("ed25519:")
    assert json.loads((vault_path / ".obsidian/types.json").read_text()) == {"types": OBSIDIAN_TYPES}
    assert ".stigmem/local/" in (vault_path / ".gitignore").read_text()

    signers = (vault_path / ".stigmem/allowed_signers").read_text().splitlines()
    principals = sorted(line.split()[0] for line in signers)
    assert principals[0] == "agent:codex" and principals[2] == "user:alice"
    assert principals[1].startswith("system:node-")
    assert all('namespaces="git" ssh-ed25519 ' in line for line in signers)


def test_no_private_key_inside_the_vault(vault: Vault, vault_path: Path) -> None:
    vault.assert_fact(entity="user:alice", relation="memory:role", value="engineer")
    vault.flush()
    for path in vault_path.rglob("*"):
        if path.is_file() and ".git" not in path.relative_to(vault_path).parts:
            assert not looks_like_private_key(path.read_bytes()), path
    # Nor anywhere in history.
    every = git(vault_path, "rev-list", "--all").stdout.split()
    found = git(vault_path, "grep", "-l", "PRIVATE KEY", *every, check=False)
    assert found.returncode == 1 and found.stdout == ""


def test_private_keys_are_0600_under_stigmem_home(vault: Vault, home: Path) -> None:
    keys = sorted((home / "keys").iterdir())
    assert len(keys) == 3  # owner, node, agent:codex
    assert stat.S_IMODE((home / "keys").stat().st_mode) == 0o700
    for path in keys:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert looks_like_private_key(path.read_bytes())
    held = {identity.source: identity.held for identity in vault.identities()}
    assert held["user:alice"] and held["agent:codex"]
    roles = {identity.role for identity in vault.identities()}
    assert roles == {"owner", "node", "identity"}


def test_init_commit_is_signed_and_the_tree_clean(vault: Vault, vault_path: Path) -> None:
    result = git(vault_path, "verify-commit", "HEAD", check=False)
    assert result.returncode == 0, result.stderr
    assert porcelain(vault_path) == ""
    assert len(commits(vault_path)) == 2  # init, then the agent:codex identity
    assert any(p.startswith(".stigmem/trust/agent/") for p in files_in(vault_path))


def test_stock_git_verify_commit_rejects_a_tampered_commit(vault: Vault, vault_path: Path) -> None:
    raw = git(vault_path, "cat-file", "commit", "HEAD").stdout
    forged = raw.replace("stigmem:", "stigmex:", 1)
    oid = subprocess.run(["git", "hash-object", "-t", "commit", "-w", "--stdin"], cwd=vault_path,
                         input=forged, capture_output=True, text=True, check=True).stdout.strip()
    assert git(vault_path, "verify-commit", oid, check=False).returncode != 0


def test_init_refusals(home: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidFact, match="must be a person"):
        Vault.init(tmp_path / "a", owner="agent:codex", home=home)
    with pytest.raises(InvalidFact):
        Vault.init(tmp_path / "b", owner="alice", home=home)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "note.md").write_text("mine")
    with pytest.raises(InvalidFact, match="not an empty directory"):
        Vault.init(tmp_path / "full", owner="user:alice", home=home)
    Vault.init(tmp_path / "ok", owner="user:alice", home=home).close()
    with pytest.raises(InvalidFact, match="already holds a vault"):
        Vault.init(tmp_path / "ok", owner="user:alice", home=home)


def test_home_inside_the_vault_is_refused(tmp_path: Path) -> None:
    with pytest.raises(VaultConfigError, match="inside the vault"):
        Vault.init(tmp_path / "v", owner="user:alice", home=tmp_path / "v" / ".keys")
    assert not (tmp_path / "v" / ".keys").exists()


def test_open_something_that_is_not_a_vault(home: Path, tmp_path: Path) -> None:
    with pytest.raises(VaultConfigError, match="is this a stigmem vault"):
        Vault.open(tmp_path, home=home)


def test_open_uses_stigmem_home_from_the_environment(vault: Vault, vault_path: Path, home: Path) -> None:
    assert os.environ["STIGMEM_HOME"] == str(home)
    with Vault.open(vault_path, commit_delay=None) as again:
        assert again.keys.dir == home / "keys"
        again.assert_fact(entity="user:alice", relation="memory:x", value=1)


@pytest.mark.parametrize("rel", ["stray.pem", "notes.txt", ".stigmem/backup", ".stigmem/trust/x.json"])
def test_key_material_in_the_vault_refuses_open(vault: Vault, vault_path: Path, home: Path, rel: str) -> None:
    vault.close()
    (vault_path / rel).parent.mkdir(parents=True, exist_ok=True)
    (vault_path / rel).write_text(PEM)
    with pytest.raises(KeyMaterialInVault, match=rel.replace(".", r"\.")):
        Vault.open(vault_path, home=home)


def test_tracked_key_file_anywhere_refuses_open(vault: Vault, vault_path: Path, home: Path) -> None:
    vault.close()
    key = KeyStore(home).path_for(vault.config.owner_key)
    target = vault_path / "facts" / "team" / "id_ed25519"
    target.parent.mkdir(parents=True)
    target.write_bytes(key.read_bytes())
    git(vault_path, "add", "-f", "facts/team/id_ed25519")
    with pytest.raises(KeyMaterialInVault, match="id_ed25519"):
        Vault.open(vault_path, home=home)


def test_private_key_as_a_fact_value_is_refused(vault: Vault) -> None:
    with pytest.raises(InvalidFact, match="private key material"):
        vault.assert_fact(entity="user:alice", relation="memory:note", value=PEM, value_type="text")
    assert list(vault.fact_paths()) == []
