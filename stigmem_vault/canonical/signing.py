"""Ed25519 signing of facts and other signed records.

A key id names the public key itself: ``ed25519:`` + base64url (no padding) of the raw 32-byte
key. A fact therefore carries everything needed to check its signature; whether that key may
speak for the fact's source is a separate question answered by the trust store.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime

import nacl.exceptions
from nacl.signing import SigningKey, VerifyKey

from stigmem_vault.canonical.form import canonical_bytes, content_id
from stigmem_vault.errors import InvalidFact
from stigmem_vault.model.fact import Claim, Fact
from stigmem_vault.model.hlc import HLC

KEY_PREFIX = "ed25519:"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str, field: str) -> bytes:
    if not isinstance(text, str) or "=" in text:
        raise InvalidFact(field, "must be unpadded base64url text")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidFact(field, f"is not valid base64url: {exc}") from None
    # Only the canonical encoding: otherwise stray bits or '+'/'/' would give one signature
    # many spellings, and a file could be altered without breaking anything.
    if b64url(raw) != text:
        raise InvalidFact(field, "is not canonical unpadded base64url")
    return raw


def key_id(verify_key: VerifyKey) -> str:
    return KEY_PREFIX + b64url(bytes(verify_key))


def verify_key_from_id(signer: object, field: str = "signer") -> VerifyKey:
    if not isinstance(signer, str) or not signer.startswith(KEY_PREFIX):
        raise InvalidFact(field, f"{signer!r} is not an ed25519:<base64url> key id")
    raw = b64url_decode(signer[len(KEY_PREFIX):], field)
    if len(raw) != 32:
        raise InvalidFact(field, f"an Ed25519 public key is 32 bytes, got {len(raw)}")
    return VerifyKey(raw)


def format_timestamp(when: datetime) -> str:
    """ISO 8601 UTC with milliseconds and a Z: ``2026-11-24T10:00:00.000Z``."""
    utc = when.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def sign_claim(claim: Claim, stamp: HLC, timestamp: str, key: SigningKey) -> Fact:
    """Stamp and sign a claim, returning the immutable Fact with its content id."""
    signer = key_id(key.verify_key)
    hlc = str(stamp)
    body = canonical_bytes(claim, hlc, timestamp, signer)
    signature = b64url(key.sign(body).signature)
    return Fact(content_id(body), claim, hlc, timestamp, signer, signature)


def signature_valid(fact: Fact, body: bytes | None = None) -> bool:
    """True when ``fact.signature`` is the signer's Ed25519 signature of its canonical bytes."""
    if body is None:
        body = canonical_bytes(fact.claim, fact.hlc, fact.timestamp, fact.signer)
    try:
        verify_key = verify_key_from_id(fact.signer)
        raw_signature = b64url_decode(fact.signature, "signature")
        verify_key.verify(body, raw_signature)
    except (InvalidFact, nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError,
            nacl.exceptions.TypeError):
        return False
    return True


def sign_bytes(key: SigningKey, body: bytes) -> str:
    return b64url(key.sign(body).signature)


def bytes_signature_valid(signer: str, body: bytes, signature: str) -> bool:
    try:
        verify_key_from_id(signer).verify(body, b64url_decode(signature, "signature"))
    except (InvalidFact, nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError,
            nacl.exceptions.TypeError):
        return False
    return True
