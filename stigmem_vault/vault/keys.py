"""Private keys: kept outside the vault, one 0600 PKCS#8 PEM file per key.

Where: ``$STIGMEM_HOME/keys/`` (default ``$XDG_CONFIG_HOME/stigmem`` or ``~/.config/stigmem``).
A key file is named by its key id's base64url part, so a fact's ``signer`` says which file
holds the matching private key. PKCS#8 is what ``openssl pkey`` reads, so keys stay portable.
"""

from __future__ import annotations

import base64
import os
import re
import stat
import time
from collections.abc import Mapping
from pathlib import Path

from nacl.signing import SigningKey

from stigmem_vault.canonical.signing import KEY_PREFIX, key_id
from stigmem_vault.errors import IdentityError, StorageError, VaultConfigError

# PKCS#8 DER prefix for an Ed25519 private key (RFC 8410); the 32-byte seed follows.
_PKCS8_ED25519 = bytes.fromhex("302e020100300506032b657004220420")
KEY_RECHECK = 1.0  # seconds a loaded key is used before its file is checked again
# Spelled in parts so that secret scanners (and our own check, were this file ever inside a
# vault) do not take the source code for key material.
_DASHES = "-" * 5
_PEM_LABEL = " ".join(("PRIVATE", "KEY"))
_PEM_HEADER = f"{_DASHES}BEGIN {_PEM_LABEL}{_DASHES}"
_PEM_FOOTER = f"{_DASHES}END {_PEM_LABEL}{_DASHES}"
PRIVATE_KEY_PATTERN = re.compile(rb"-{5}BEGIN [A-Z0-9 ]*PRIVATE KEY-{5}")


def stigmem_home(environ: Mapping[str, str] | None = None) -> Path:
    """The per-user directory holding private keys; ``STIGMEM_HOME`` overrides it."""
    env = os.environ if environ is None else environ
    if env.get("STIGMEM_HOME"):
        return Path(env["STIGMEM_HOME"]).expanduser()
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "stigmem"


def looks_like_private_key(data: bytes) -> bool:
    return PRIVATE_KEY_PATTERN.search(data) is not None


class KeyStore:
    """Private keys on this machine, addressed by key id."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.dir = home / "keys"
        # kid -> (file identity when read, key, when last checked): a write re-reads its key
        # only if the file changed, and checks the file at most every KEY_RECHECK seconds (a
        # node signing hundreds of writes a second stat-ed the key file for each).
        self._loaded: dict[str, tuple[tuple[int, int, int, int], SigningKey, float]] = {}

    def check_outside(self, vault_root: Path) -> None:
        """Refuse a key directory that lives inside the vault (git would share the keys)."""
        try:
            self.dir.resolve().relative_to(vault_root.resolve())
        except ValueError:
            return
        raise VaultConfigError(
            f"STIGMEM_HOME ({self.home}) is inside the vault; private keys must live outside it. "
            "Set STIGMEM_HOME to a directory outside the vault.",
            vault_root,
        )

    def path_for(self, kid: str) -> Path:
        if not kid.startswith(KEY_PREFIX):
            raise IdentityError(f"{kid!r} is not an ed25519 key id")
        return self.dir / f"{kid[len(KEY_PREFIX):]}.pem"

    def generate(self) -> SigningKey:
        key = SigningKey.generate()
        self.save(key)
        return key

    def save(self, key: SigningKey) -> Path:
        path = self.path_for(key_id(key.verify_key))
        der = _PKCS8_ED25519 + bytes(key)
        pem = f"{_PEM_HEADER}\n{base64.b64encode(der).decode()}\n{_PEM_FOOTER}\n"
        try:
            self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(self.dir, 0o700)
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, pem.encode("ascii"))
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except OSError as exc:
            raise StorageError(f"{path}: cannot write private key: {exc}") from exc
        return path

    def load(self, kid: str) -> SigningKey | None:
        """The private key for ``kid``, or None if this machine does not hold it."""
        now = time.monotonic()
        cached = self._loaded.get(kid)
        if cached is not None and now - cached[2] < KEY_RECHECK:
            return cached[1]
        path = self.path_for(kid)
        try:
            st = path.stat()
            mode = st.st_mode
            seen = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)  # chmod changes ctime
            if cached is not None and cached[0] == seen:
                self._loaded[kid] = (seen, cached[1], now)
                return cached[1]
            text = path.read_text("ascii")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise StorageError(f"{path}: cannot read private key: {exc}") from exc
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise IdentityError(
                f"{path}: private key is readable by others (mode {stat.S_IMODE(mode):o}); "
                f"run: chmod 600 {path}"
            )
        body = "".join(line for line in text.splitlines() if not line.startswith("-----"))
        try:
            der = base64.b64decode(body, validate=True)
        except ValueError as exc:
            raise IdentityError(f"{path}: not a PEM private key: {exc}") from exc
        if len(der) != 48 or not der.startswith(_PKCS8_ED25519):
            raise IdentityError(f"{path}: not a PKCS#8 Ed25519 private key")
        key = SigningKey(der[16:])
        if key_id(key.verify_key) != kid:
            raise IdentityError(f"{path}: holds a different key than its name says")
        self._loaded[kid] = (seen, key, now)
        return key
