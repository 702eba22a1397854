"""The canonical form of a fact: the exact bytes that are hashed into its id and signed.

The canonical object has exactly these keys (docs/spec.md §Canonical bytes)::

    confidence, derived_from, entity, format, hlc, relation, scope, signer, source,
    supersedes, timestamp, trust, valid_until, value{type, v}

serialized with RFC 8785 (JCS). Optional fields are present with ``null`` (or ``[]`` for
derived_from), so a verifier never has to guess whether a key was omitted.
"""

from __future__ import annotations

import hashlib

from stigmem_vault.canonical.jcs import canonicalize
from stigmem_vault.model.fact import FACT_FORMAT, Claim


def canonical_object(claim: Claim, hlc: str, timestamp: str, signer: str) -> dict[str, object]:
    return {
        "format": FACT_FORMAT,
        "entity": claim.entity,
        "relation": claim.relation,
        "value": {"type": claim.value.type.value, "v": claim.value.v},
        "source": claim.source,
        "hlc": hlc,
        "timestamp": timestamp,
        "confidence": claim.confidence,
        "trust": claim.trust.value,
        "scope": claim.scope.value,
        "valid_until": claim.valid_until,
        "supersedes": claim.supersedes,
        "derived_from": list(claim.derived_from),
        "signer": signer,
    }


def canonical_bytes(claim: Claim, hlc: str, timestamp: str, signer: str) -> bytes:
    return canonicalize(canonical_object(claim, hlc, timestamp, signer))


def content_id(canonical: bytes) -> str:
    """The fact id: lowercase hex SHA-256 of the canonical bytes."""
    return hashlib.sha256(canonical).hexdigest()
