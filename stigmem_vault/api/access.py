"""Who may do what through the node: tokens, principals, and writes on a principal's behalf.

The rules live here, not in the HTTP layer: a token is bound to a principal, its scopes and
its permissions; a write is signed with the principal's key; its source must be the principal
unless source attestation is relaxed (``warn`` or ``off``) — and then the fact is still signed
by the principal, so it verifies as *vouched* for by the principal when the vault lets its key
vouch (the owner's always may), else as *unattested*; never as someone else's word.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from nacl.signing import SigningKey

from stigmem_vault.api.context import VaultContext
from stigmem_vault.api.facts import FactWriter
from stigmem_vault.api.results import BatchItem, BatchResult, ItemStatus
from stigmem_vault.canonical.signing import format_timestamp, key_id
from stigmem_vault.errors import AccessDenied, InvalidFact, NotFound
from stigmem_vault.model.fact import Claim, Fact, Scope
from stigmem_vault.model.identifiers import normalize_source
from stigmem_vault.vault import tokens as token_store

ATTESTATION_MODES = ("enforce", "warn", "off")
TOKEN_RECHECK = 0.1  # seconds a stat of the token store is trusted for (see _current_tokens)


@dataclass(frozen=True, slots=True)
class Principal:
    source: str
    scopes: frozenset[str]
    perms: frozenset[str]
    token_id: str | None = None  # None: the node's own operator (auth disabled)

    def require(self, perm: str) -> None:
        if perm not in self.perms:
            raise AccessDenied("permission_denied", f"this token lacks the {perm!r} permission")

    def require_scope(self, scope: str) -> None:
        if scope not in self.scopes:
            raise AccessDenied("scope_not_permitted",
                               f"scope {scope!r} is outside this token's scopes "
                               f"({', '.join(sorted(self.scopes))})")


class AccessControl:
    """Who may do what: tokens, principals, and writes on a principal's behalf."""

    def __init__(self, ctx: VaultContext, facts: FactWriter) -> None:
        self._ctx = ctx
        self._facts = facts
        self._token_cache: tuple[tuple[int, ...] | None, list[token_store.Token], float] | None = None

    def operator(self) -> Principal:
        """The principal of an unauthenticated local node: the vault owner, every scope."""
        return Principal(self._ctx.config.owner, frozenset(s.value for s in Scope),
                         frozenset(token_store.PERMISSIONS))

    def create_token(self, principal: str, *, scopes: list[str] | tuple[str, ...],
                     perms: list[str] | tuple[str, ...] = ("read",)) -> tuple[str, token_store.Token]:
        """A new bearer token for ``principal``; returns (raw token, record). Shown once."""
        source = normalize_source(principal, "principal")
        parsed_perms = token_store.parse_perms(perms)
        if not self._ctx.trust.keys_for(source):
            raise InvalidFact("principal", f"no identity {source} in this vault; create it first")
        if "write" in parsed_perms:
            self._ctx.signing_key_for(source)  # the node must hold its key to sign its writes
        raw, record = token_store.new_token(source, token_store.parse_scopes(scopes), parsed_perms,
                                            format_timestamp(datetime.now(UTC)))
        self._ctx.writer()
        token_store.save_tokens(self._ctx.root, [*token_store.load_tokens(self._ctx.root), record])
        self._token_cache = None
        return raw, record

    def tokens(self) -> list[token_store.Token]:
        return token_store.load_tokens(self._ctx.root)

    def _current_tokens(self) -> list[token_store.Token]:
        """The token store, re-read only when the file changed (every save replaces it).

        This vault's own saves drop the cache at once; a change made by another process
        (`stigmem token revoke` while the node runs) is noticed within TOKEN_RECHECK seconds:
        a stat per request, on the node's event loop, waited for the GIL behind the writer
        threads on every request."""
        now = time.monotonic()
        cached = self._token_cache
        if cached is not None and now - cached[2] < TOKEN_RECHECK:
            return cached[1]
        try:
            st = os.stat(self._ctx.root / token_store.TOKENS_FILE)
            stamp: tuple[int, ...] | None = (st.st_ino, st.st_size, st.st_mtime_ns)
        except FileNotFoundError:
            stamp = None
        if cached is not None and cached[0] == stamp:
            self._token_cache = (stamp, cached[1], now)
            return cached[1]
        tokens = token_store.load_tokens(self._ctx.root)
        self._token_cache = (stamp, tokens, now)
        return tokens

    def revoke_token(self, token_id: str) -> None:
        current = token_store.load_tokens(self._ctx.root)
        kept = [t for t in current if t.id != token_id]
        if len(kept) == len(current):
            raise NotFound("token", token_id)
        token_store.save_tokens(self._ctx.root, kept)
        self._token_cache = None

    def authenticate(self, raw: str) -> Principal | None:
        token = token_store.find_token(self._current_tokens(), raw)
        if token is None:
            return None
        return Principal(token.principal, frozenset(token.scopes), frozenset(token.perms), token.id)

    def write_as(self, principal: Principal, claim: Claim,
                 attestation: str = "enforce") -> tuple[Fact, list[str]]:
        """Write ``claim`` on behalf of ``principal``; returns the fact and any warnings."""
        key, warnings = self.attest(principal, claim, attestation)
        return self._facts.write_claim(claim, key=key), warnings

    def attest(self, principal: Principal, claim: Claim,
               attestation: str = "enforce") -> tuple[SigningKey, list[str]]:
        """May ``principal`` write ``claim``? Returns the key to sign it with and any warnings.

        The key is always the principal's own: a relaxed attestation lets a claim name
        another source, never be signed as that source."""
        if attestation not in ATTESTATION_MODES:
            raise InvalidFact("attestation", f"{attestation!r} is not one of {ATTESTATION_MODES}")
        principal.require("write")
        principal.require_scope(claim.scope.value)
        warnings: list[str] = []
        if claim.source != principal.source and attestation == "enforce":
            raise AccessDenied("source_not_owned",
                               f"source {claim.source} is not this token's principal "
                               f"({principal.source}); source attestation is enforced")
        key = self._ctx.signing_key_for(principal.source)
        if claim.source != principal.source and attestation == "warn":
            trust = self._ctx.trust
            if trust.is_bound(claim.source, key_id(key.verify_key)):
                pass  # the writer's key speaks for that source too: the fact is valid
            elif trust.voucher_for(key_id(key.verify_key)) is not None:
                warnings.append(f"source_vouched: {claim.source} is not the writer "
                                f"{principal.source}; the fact is signed by the writer's key "
                                "and verifies as vouched for by it")
            else:
                warnings.append(f"source_unattested: {claim.source} is not the writer "
                                f"{principal.source}; the fact is signed by the writer's key, "
                                "which may not vouch for other sources, so it is never live")
        return key, warnings


    def write_batch(self, principal: Principal, claims: list[Claim | Exception],
                    *, atomic: bool, key: str | None, request_hash: str,
                    attestation: str = "enforce") -> BatchResult:
        """Write each valid claim; with ``atomic`` write none unless all are valid.

        ``claims`` holds either a Claim or the error that parsing its request raised. An
        idempotency ``key`` replays the first response; reusing it for a different request
        (another ``request_hash``) is refused.
        """
        store = IdempotencyStore(self._ctx.root / IDEMPOTENCY_FILE)
        if key is not None:
            previous = store.get(principal.source, key)
            if previous is not None:
                stored_hash, response = previous
                if stored_hash != request_hash:
                    raise AccessDenied("idempotency_key_reused",
                                       f"idempotency key {key!r} was used for a different request")
                return response
        errors: dict[int, str] = {}
        for index, claim in enumerate(claims):
            try:
                if isinstance(claim, Exception):
                    raise claim
                principal.require("write")
                principal.require_scope(claim.scope.value)
                if attestation == "enforce" and claim.source != principal.source:
                    raise AccessDenied("source_not_owned", f"source {claim.source} is not "
                                                           f"{principal.source}")
                self._facts.check_claim(claim)
            except (InvalidFact, NotFound, AccessDenied) as exc:
                errors[index] = _describe(exc)
        items: list[BatchItem] = []
        rejected = ItemStatus.REJECTED
        if atomic and errors:
            for index in range(len(claims)):
                items.append(BatchItem(index, rejected, error=errors.get(
                    index, "not written: the batch is atomic and another item was rejected")))
        else:
            # The valid items as one group: written concurrently, indexed in one transaction.
            group = [(i, claim) for i, claim in enumerate(claims)
                     if i not in errors and isinstance(claim, Claim)]
            keys = [self.attest(principal, claim, attestation)[0] for _i, claim in group]
            written = self._facts.write_claims([claim for _i, claim in group], keys=keys)
            outcomes = dict(zip([i for i, _claim in group], written, strict=True))
            for index in range(len(claims)):
                outcome = outcomes.get(index)
                if outcome is None:
                    items.append(BatchItem(index, rejected, error=errors[index]))
                elif isinstance(outcome, Exception):
                    items.append(BatchItem(index, rejected, error=_describe(outcome)))
                else:
                    items.append(BatchItem(index, ItemStatus.ACCEPTED, fact_id=outcome.id))
        result = BatchResult(items)
        if key is not None:
            store.put(principal.source, key, request_hash, result)
        return result


def _describe(exc: Exception) -> str:
    if isinstance(exc, InvalidFact):
        return f"{exc.field}: {exc.reason}"
    if isinstance(exc, AccessDenied):
        return f"{exc.code}: {exc.reason}"
    return str(exc)


IDEMPOTENCY_FILE = ".stigmem/local/idempotency.sqlite3"


class IdempotencyStore:
    """Batch responses by (principal, key), kept on this node (not a cache: never rebuilt)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Private (0600) before SQLite opens it (its journal takes the same mode); an older
        # vault's 0644 file is narrowed too.
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            os.fchmod(fd, 0o600)
        finally:
            os.close(fd)
        self._path = path

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._path, timeout=10.0)
        conn.execute("CREATE TABLE IF NOT EXISTS batches (principal TEXT, key TEXT,"
                      " request_hash TEXT NOT NULL, response TEXT NOT NULL,"
                      " PRIMARY KEY (principal, key))")
        return conn

    def get(self, principal: str, key: str) -> tuple[str, BatchResult] | None:
        with closing(self._connect()) as conn:
            row = conn.execute("SELECT request_hash, response FROM batches WHERE principal = ?"
                               " AND key = ?", (principal, key)).fetchone()
        return (row[0], BatchResult.from_dict(json.loads(row[1]))) if row else None

    def put(self, principal: str, key: str, request_hash: str, result: BatchResult) -> None:
        with closing(self._connect()) as conn, conn:
            conn.execute("INSERT OR IGNORE INTO batches VALUES (?, ?, ?, ?)",
                         (principal, key, request_hash, json.dumps(result.as_dict())))
