"""Private keys: 0600 PKCS#8 files outside the vault, refused when exposed or inconsistent."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
from model.factgen import KEY

from stigmem_vault.canonical.signing import key_id
from stigmem_vault.errors import IdentityError, VaultConfigError
from stigmem_vault.vault.keys import KeyStore, looks_like_private_key, stigmem_home


def test_stigmem_home_resolution(tmp_path: Path) -> None:
    assert stigmem_home({"STIGMEM_HOME": str(tmp_path / "h")}) == tmp_path / "h"
    assert stigmem_home({"XDG_CONFIG_HOME": str(tmp_path / "x")}) == tmp_path / "x" / "stigmem"
    assert stigmem_home({"STIGMEM_HOME": "", "XDG_CONFIG_HOME": str(tmp_path)}) == tmp_path / "stigmem"
    assert stigmem_home({}) == Path.home() / ".config" / "stigmem"


def test_generated_key_is_a_0600_file_in_a_0700_dir(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "home")
    key = store.generate()
    path = store.path_for(key_id(key.verify_key))
    assert path.parent == tmp_path / "home" / "keys"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert path.name == key_id(key.verify_key)[len("ed25519:"):] + ".pem"
    assert looks_like_private_key(path.read_bytes())
    assert store.load(key_id(key.verify_key)) == key
    assert not list(path.parent.glob("*.tmp"))


def test_key_file_is_standard_pkcs8(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    path = store.save(KEY)
    out = subprocess.run(["openssl", "pkey", "-in", str(path), "-noout", "-text"],
                         capture_output=True, text=True, check=True).stdout
    assert "ED25519 Private-Key" in out
    pub_hex = out.split("pub:")[1].replace(":", "").split()
    assert bytes.fromhex("".join(pub_hex)) == bytes(KEY.verify_key)


def test_unknown_key_is_none(tmp_path: Path) -> None:
    assert KeyStore(tmp_path).load(key_id(KEY.verify_key)) is None


def test_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    path = store.save(KEY)
    os.chmod(path, 0o644)
    with pytest.raises(IdentityError, match=r"readable by others.*chmod 600"):
        store.load(key_id(KEY.verify_key))


def test_key_file_under_the_wrong_name_is_refused(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    other = store.generate()
    store.path_for(key_id(other.verify_key)).replace(store.path_for(key_id(KEY.verify_key)))
    with pytest.raises(IdentityError, match="different key"):
        store.load(key_id(KEY.verify_key))


@pytest.mark.parametrize("content", ["-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----\n",
                                     "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"])
def test_corrupt_key_file_is_refused(tmp_path: Path, content: str) -> None:
    store = KeyStore(tmp_path)
    path = store.save(KEY)
    path.write_text(content)
    with pytest.raises(IdentityError):
        store.load(key_id(KEY.verify_key))


def test_non_ed25519_key_id_is_refused(tmp_path: Path) -> None:
    with pytest.raises(IdentityError):
        KeyStore(tmp_path).path_for("rsa:abc")


def test_home_inside_the_vault_is_refused(tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    vault.mkdir()
    with pytest.raises(VaultConfigError, match="inside the vault"):
        KeyStore(vault / ".keys").check_outside(vault)
    KeyStore(tmp_path / "home").check_outside(vault)  # outside: fine


@pytest.mark.parametrize(("data", "found"), [
    (b"-----BEGIN PRIVATE KEY-----", True), (b"x\n-----BEGIN OPENSSH PRIVATE KEY-----\n", True),
    (b"-----BEGIN RSA PRIVATE KEY-----", True), (b"-----BEGIN EC PRIVATE KEY-----", True),
    (b"-----BEGIN PUBLIC KEY-----", False), (b"private key", False),
    (b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA", False),
])
def test_private_key_detection(data: bytes, found: bool) -> None:
    assert looks_like_private_key(data) is found
