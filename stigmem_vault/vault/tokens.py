"""Bearer tokens for the HTTP node: bound to a principal, limited to scopes and permissions.

Stored in ``.stigmem/local/tokens.json`` (this clone only, never in git) as SHA-256 hashes: the
raw token is shown once, at creation. Tokens are 256 random bits, so a plain hash is as strong
as a slow password hash would be, and checking one costs microseconds per request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

from stigmem_vault.errors import InvalidFact, VaultConfigError
from stigmem_vault.model.fact import Scope
from stigmem_vault.vault.store import write_atomic

TOKENS_FILE = ".stigmem/local/tokens.json"
TOKEN_PREFIX = "stg_"
PERMISSIONS = ("read", "write")


@dataclass(frozen=True, slots=True)
class Token:
    id: str  # public handle: the first 12 hex digits of the hash
    principal: str
    scopes: tuple[str, ...]
    perms: tuple[str, ...]
    created: str
    sha256: str


def parse_scopes(raw: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    scopes = []
    for item in raw:
        try:
            scopes.append(Scope(item.strip().lower()).value)
        except ValueError:
            allowed = ", ".join(s.value for s in Scope)
            raise InvalidFact("scopes", f"{item!r} is not one of: {allowed}") from None
    if not scopes:
        raise InvalidFact("scopes", "a token needs at least one scope")
    return tuple(dict.fromkeys(scopes))


def parse_perms(raw: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    perms = tuple(dict.fromkeys(p.strip().lower() for p in raw))
    bad = [p for p in perms if p not in PERMISSIONS]
    if bad or not perms:
        raise InvalidFact("perms", f"{bad or raw!r}: permissions are one or more of "
                                   f"{', '.join(PERMISSIONS)}")
    return perms


def load_tokens(root: Path) -> list[Token]:
    path = root / TOKENS_FILE
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise VaultConfigError(f"unreadable token store: {exc}", path) from None
    try:
        return [Token(t["id"], t["principal"], tuple(t["scopes"]), tuple(t["perms"]),
                      t["created"], t["sha256"]) for t in data["tokens"]]
    except (KeyError, TypeError) as exc:
        raise VaultConfigError(f"malformed token store: {exc!r}", path) from None


def save_tokens(root: Path, tokens: list[Token]) -> None:
    data = {"tokens": [asdict(t) for t in tokens]}
    path = root / TOKENS_FILE
    write_atomic(path, (json.dumps(data, indent=2) + "\n").encode())
    path.chmod(0o600)


def new_token(principal: str, scopes: tuple[str, ...], perms: tuple[str, ...],
              created: str) -> tuple[str, Token]:
    """A fresh raw token and its stored record."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    digest = hashlib.sha256(raw.encode()).hexdigest()
    return raw, Token(digest[:12], principal, scopes, perms, created, digest)


def find_token(tokens: list[Token], raw: str) -> Token | None:
    digest = hashlib.sha256(raw.encode()).hexdigest()
    found = None
    for token in tokens:  # compare all, in constant time each
        if hmac.compare_digest(token.sha256, digest):
            found = token
    return found
