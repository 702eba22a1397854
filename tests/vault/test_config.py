"""``.stigmem/``: vault and node config, relation schemas, and the key-material scan."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from stigmem_vault.errors import KeyMaterialInVault, VaultConfigError
from stigmem_vault.model.relations import Cardinality
from stigmem_vault.vault import config as cfg
from stigmem_vault.vault.git_state import tracked_paths_containing

PEM = b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"


def write(root: Path, rel: str, data: str | bytes) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def test_vault_config_round_trip(tmp_path: Path) -> None:
    config = cfg.VaultConfig("user:alice", "ed25519:abc", "2026-11-24T10:00:00.000Z")
    cfg.write_vault_config(tmp_path, config)
    assert cfg.read_vault_config(tmp_path) == config
    node = cfg.NodeConfig("abc", "ed25519:def", "system:node-abc")
    cfg.write_node_config(tmp_path, node)
    assert cfg.read_node_config(tmp_path) == node


@pytest.mark.parametrize(("content", "match"), [
    (None, "no vault config; is this a stigmem vault"),
    ("{", "unreadable vault config"),
    ("[]", "must be a JSON object"),
    ('{"format": "stigmem.vault/9"}', "format must be"),
    ('{"format": "stigmem.vault/1", "owner": "user:a"}', "missing or malformed 'owner_key'"),
])
def test_bad_vault_config(tmp_path: Path, content: str | None, match: str) -> None:
    if content is not None:
        write(tmp_path, cfg.VAULT_FILE, content)
    with pytest.raises(VaultConfigError, match=match) as info:
        cfg.read_vault_config(tmp_path)
    assert info.value.path == str(tmp_path / cfg.VAULT_FILE)


def test_schemas_load(tmp_path: Path) -> None:
    write(tmp_path, f"{cfg.SCHEMA_DIR}/state.yaml",
          "relation: codex:current_state\ntype: string\ncardinality: multi\nenum: [draft, done]\n")
    write(tmp_path, f"{cfg.SCHEMA_DIR}/nested/score.yml", "relation: a:score\ntype: number\nmin: 0\n")
    schemas = cfg.load_schemas(tmp_path)
    assert sorted(schemas) == ["a:score", "codex:current_state"]
    assert schemas["codex:current_state"].cardinality is Cardinality.MULTI
    assert schemas["a:score"].min == 0


def test_no_schema_dir_means_no_schemas(tmp_path: Path) -> None:
    assert cfg.load_schemas(tmp_path) == {}


@pytest.mark.parametrize(("files", "match"), [
    ({"a.yaml": "relation: a:b\ntypo: 1\n"}, "typo: unknown schema key"),
    ({"a.yaml": "relation: [\n"}, "unreadable relation schema"),
    ({"a.yaml": "- a\n"}, "must be a mapping"),
    ({"a.yaml": "relation: a:b\n", "b.yaml": "relation: A:B\n"}, "second schema"),
    ({"a.yaml": "relation: a:b\ntype: number\nmax: ten\n"}, "max: must be a number"),
])
def test_bad_schemas_name_the_file(tmp_path: Path, files: dict[str, str], match: str) -> None:
    for name, text in files.items():
        write(tmp_path, f"{cfg.SCHEMA_DIR}/{name}", text)
    with pytest.raises(VaultConfigError, match=match) as info:
        cfg.load_schemas(tmp_path)
    assert info.value.path is not None and info.value.path.startswith(cfg.SCHEMA_DIR)


@pytest.mark.parametrize("rel", ["notes.txt", ".stigmem/stray", ".stigmem/schemas/deep/er/k.yaml",
                                 ".stigmem/trust/agent/x.json"])
def test_key_material_found_where_people_put_files(tmp_path: Path, rel: str) -> None:
    write(tmp_path, rel, b"header\n" + PEM)
    assert cfg.find_key_material(tmp_path, []) == [rel]
    with pytest.raises(KeyMaterialInVault, match="private key material found inside the vault") as info:
        cfg.refuse_key_material(tmp_path, [])
    assert "rotate the key" in str(info.value)


@pytest.mark.parametrize("rel", [
    ".stigmem/local/quarantine/origin/facts/team/x/y--0123456789ab.md",  # a peer's pushed bytes
    ".stigmem/local/idempotency.sqlite3",  # stored answers echo what clients sent
    ".stigmem/local/id_rsa",  # even key-like names: this clone's state, never tracked
    ".stigmem/index/index.sqlite3",
    "facts/team/acme/x/project.note--0123456789ab.md",  # fact values are checked on write
    "conflicts/team/x.md",
])
def test_client_and_peer_data_is_never_scanned(tmp_path: Path, rel: str) -> None:
    """One request or one push must not refuse the vault to everyone (issue 9, item 1)."""
    write(tmp_path, rel, b"-----BEGIN PRIVATE KEY-----\n" + PEM)
    assert cfg.find_key_material(tmp_path, [rel]) == []
    cfg.refuse_key_material(tmp_path, [rel])


def test_special_files_are_not_opened(tmp_path: Path) -> None:
    """A FIFO at the top level or in .stigmem/ would block open() for ever."""
    import os
    os.mkfifo(tmp_path / "pipe.md")
    (tmp_path / ".stigmem").mkdir()
    os.mkfifo(tmp_path / ".stigmem" / "pipe")
    (tmp_path / "link.txt").symlink_to(write(tmp_path, "../outside.pem", PEM))
    assert cfg.find_key_material(tmp_path, ["pipe.md", "link.txt"]) == []


@pytest.mark.parametrize("name", ["id_ed25519", "id_rsa.bak", "deploy.pem", "x.key", "cert.p12"])
def test_tracked_key_like_names_are_scanned_anywhere(tmp_path: Path, name: str) -> None:
    rel = f"facts/team/deep/{name}"
    write(tmp_path, rel, PEM)
    assert cfg.find_key_material(tmp_path, [rel]) == [rel]
    assert cfg.find_key_material(tmp_path, []) == []  # not tracked, not a config file: not scanned


def test_git_lists_every_tracked_key_like_name_and_the_scan_keeps_only_those(tmp_path: Path) -> None:
    # Below the top level (whose files are scanned anyway); git lists "a b/" first, "Ünï/" last.
    keyish = ["a b/id_ed25519.old", "a/id_rsa", "b/x.key", "z/cert.pfx", "zz/id_dsa", "Ünï/deploy.pem"]
    plain = ["d/a.pem.md", "d/key.md", "notes/pem", "d/my_id_rsa_notes.md", "d/p8", "zz/zz.md"]
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    for rel in keyish + plain:
        write(tmp_path, rel, "x")
    subprocess.run(["git", "-C", str(tmp_path), "add", "-A"], check=True)
    listed = tracked_paths_containing(tmp_path, cfg.KEYISH_NEEDLES)
    assert listed is not None and set(keyish) <= set(listed)  # first, last, spaces, non-ASCII
    for rel in keyish:
        write(tmp_path, rel, PEM)
    for rel in plain:
        write(tmp_path, rel, PEM)
    assert sorted(cfg.find_key_material(tmp_path, listed)) == sorted(keyish)
    assert sorted(listed) == listed


def test_ordinary_files_are_not_key_material(tmp_path: Path) -> None:
    write(tmp_path, "README.md", "a note about -----BEGIN PUBLIC KEY-----\n")
    write(tmp_path, ".stigmem/vault.json", "{}")
    write(tmp_path, "facts/team/x/id_rsa.pub", "ssh-rsa AAAA")
    assert cfg.find_key_material(tmp_path, ["facts/team/x/id_rsa.pub"]) == []


def test_gitignore_keeps_local_state_out() -> None:
    lines = cfg.GITIGNORE.splitlines()
    assert ".stigmem/local/" in lines and "!.obsidian/types.json" in lines and "*.tmp" in lines


def test_vault_json_is_pretty(tmp_path: Path) -> None:
    cfg.write_vault_config(tmp_path, cfg.VaultConfig("user:a", "ed25519:k", "t"))
    assert json.loads((tmp_path / cfg.VAULT_FILE).read_text())["format"] == cfg.VAULT_FORMAT
