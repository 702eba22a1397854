"""Every exception stigmem-vault raises, in one tree.

    StigmemError
    ├── MisuseError              the caller used the API wrongly (closed vault, bad argument combo)
    ├── InvalidFact              a fact or draft breaks a rule: .field and .reason
    ├── FormatError              a file cannot be read as what it claims to be: .path, .reason
    ├── VerificationError        a fact's id, signature or attestation does not hold
    │   ├── BadSignature
    │   └── UnknownSigner
    ├── AccessDenied             the caller may not do this (permission, scope, source)
    ├── NotFound                 no fact/identity/conflict with that id
    ├── IdentityError            no usable identity (no key held for a source, duplicate identity)
    ├── VaultConfigError         .stigmem/ is missing, unreadable or inconsistent
    │   ├── KeyMaterialInVault   private key material found inside the vault: refuse to run
    │   └── ReadOnlyCopy         a copy without a node identity (or opened read-only) cannot write
    ├── RemoteError              a git remote could not be reached or refused us: .remote
    └── StorageError             the file system or git failed underneath us

Each class carries ``exit_code`` and ``http_status``: the CLI maps an exception to its
process exit status, and the HTTP node to its response status, from these attributes alone,
so the mapping lives with the error, not in a front end. Messages name the thing and the
reason, never a CLI command: a front end adds its own hint (the CLI does, in cli/main.py).

Expected outcomes (a fact that fails verification during ``verify``, a duplicate assertion)
are returned as data by the API; these exceptions are for refusing an operation.
"""

from __future__ import annotations

from pathlib import Path

# Exit codes are part of the CLI contract (documented in README and docs/spec.md).
EXIT_OK = 0
EXIT_VERIFY_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_VAULT_UNUSABLE = 3
EXIT_STORAGE = 4


class StigmemError(Exception):
    """Root of every error raised by stigmem-vault."""

    exit_code = EXIT_BAD_INPUT
    http_status = 400


class MisuseError(StigmemError):
    """The API was called in a way it does not support."""

    http_status = 400


class InvalidFact(StigmemError):
    """A fact (or a draft of one) breaks a rule of the fact model or a relation schema."""

    http_status = 422

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class FormatError(StigmemError):
    """A file is not a well-formed fact file (or config file), or an identifier or cursor
    a client sent is malformed."""

    http_status = 400

    def __init__(self, path: Path | str, reason: str, line: int | None = None) -> None:
        self.path = str(path)
        self.reason = reason
        self.line = line
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {reason}")


class VerificationError(StigmemError):
    """A fact does not verify: its id, signature or signer binding is wrong."""

    http_status = 422

    exit_code = EXIT_VERIFY_FAILED

    def __init__(self, subject: str, reason: str) -> None:
        self.subject = subject
        self.reason = reason
        super().__init__(f"{subject}: {reason}")


class BadSignature(VerificationError):
    """The Ed25519 signature does not match the canonical bytes."""


class UnknownSigner(VerificationError):
    """The signing key is not in the vault's trust store."""


class AccessDenied(StigmemError):
    """The caller's token does not allow this: a missing permission, scope or source."""

    http_status = 403

    def __init__(self, code: str, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(reason)


class NotFound(StigmemError):
    """Nothing with that identifier exists."""

    http_status = 404

    def __init__(self, what: str, ident: str, hint: str = "") -> None:
        self.what = what
        self.ident = ident
        message = f"no {what} {ident!r}"
        super().__init__(f"{message}; {hint}" if hint else message)


class AlreadyExists(StigmemError):
    """The thing to create exists already, or the change would break an invariant (HTTP 409)."""

    http_status = 409


class IdentityError(StigmemError):
    """An identity cannot be used: its private key is not held here, or it already exists."""

    http_status = 422


class VaultConfigError(StigmemError):
    """The vault's configuration (.stigmem/) is missing, unreadable or inconsistent."""

    http_status = 503

    exit_code = EXIT_VAULT_UNUSABLE

    def __init__(self, message: str, path: Path | str | None = None) -> None:
        self.path = str(path) if path is not None else None
        super().__init__(f"{self.path}: {message}" if self.path else message)


class KeyMaterialInVault(VaultConfigError):
    """Private key material sits inside the vault, where git would share it."""


class ReadOnlyCopy(VaultConfigError):
    """A write was asked of a vault that cannot write: a copy without a node identity."""

    http_status = 409


class RemoteError(StigmemError):
    """Talking to a git remote failed (unreachable, refused, not fast-forward)."""

    http_status = 502

    exit_code = EXIT_STORAGE

    def __init__(self, remote: str, reason: str) -> None:
        self.remote = remote
        self.reason = reason
        super().__init__(f"remote {remote}: {reason}")


class StorageError(StigmemError):
    """Writing to disk or to git failed."""

    http_status = 503

    exit_code = EXIT_STORAGE
