"""The canonical form of a fact: the exact bytes that are hashed into its id and signed.

The canonical object has exactly these keys (docs/spec.md §Canonical bytes)::

    confidence, derived_from, entity, format, [garden_id], hlc, relation, scope, signer,
    source, supersedes, timestamp, trust, valid_until, value{type, v}

``garden_id`` is a member only when the fact belongs to a garden, so facts without one (every
fact written before gardens existed) keep their bytes, ids and signatures.

serialized with RFC 8785 (JCS). Optional fields are present with ``null`` (or ``[]`` for
derived_from), so a verifier never has to guess whether a key was omitted.
"""

from __future__ import annotations

import hashlib
from json.encoder import encode_basestring  # the C encoder when available

from stigmem_vault.canonical.jcs import number_to_string
from stigmem_vault.model.fact import FACT_FORMAT, Claim

_FORMAT = encode_basestring(FACT_FORMAT)


def canonical_object(claim: Claim, hlc: str, timestamp: str, signer: str) -> dict[str, object]:
    obj: dict[str, object] = {
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
    if claim.garden_id is not None:  # only when present: every other fact keeps its bytes
        obj["garden_id"] = claim.garden_id
    return obj


def canonical_bytes(claim: Claim, hlc: str, timestamp: str, signer: str) -> bytes:
    """``canonicalize(canonical_object(...))``, written out for the one shape a fact has.

    It runs for every fact read, so it is built as a string in the fixed RFC 8785 key order
    instead of walking a dict; a property test holds it equal to the general serializer.
    """
    value = claim.value.v
    if value is None or isinstance(value, bool):
        value_text = "null" if value is None else ("true" if value else "false")
    elif isinstance(value, int):
        value_text = str(value)  # values are < 2**53: the ECMAScript form is the decimal
    elif isinstance(value, float):
        value_text = number_to_string(value)
    else:
        value_text = encode_basestring(value)
    until, supersedes = claim.valid_until, claim.supersedes
    return "".join((
        '{"confidence":', number_to_string(float(claim.confidence)),
        ',"derived_from":[', ",".join(map(encode_basestring, claim.derived_from)),
        '],"entity":', encode_basestring(claim.entity),
        ',"format":', _FORMAT,
        "" if claim.garden_id is None else ',"garden_id":' + encode_basestring(claim.garden_id),
        ',"hlc":', encode_basestring(hlc),
        ',"relation":', encode_basestring(claim.relation),
        ',"scope":', encode_basestring(claim.scope.value),
        ',"signer":', encode_basestring(signer),
        ',"source":', encode_basestring(claim.source),
        ',"supersedes":', "null" if supersedes is None else encode_basestring(supersedes),
        ',"timestamp":', encode_basestring(timestamp),
        ',"trust":', encode_basestring(claim.trust.value),
        ',"valid_until":', "null" if until is None else encode_basestring(until),
        ',"value":{"type":', encode_basestring(claim.value.type.value),
        ',"v":', value_text, "}}",
    )).encode("utf-8")


def content_id(canonical: bytes) -> str:
    """The fact id: lowercase hex SHA-256 of the canonical bytes."""
    return hashlib.sha256(canonical).hexdigest()
