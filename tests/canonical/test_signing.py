"""Canonical bytes, content ids and Ed25519 signatures of facts."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st
from model.factgen import KEY, OTHER_KEY, facts, simple_fact
from nacl.signing import SigningKey

from stigmem_vault.canonical.form import canonical_bytes, canonical_object, content_id
from stigmem_vault.canonical.signing import (
    b64url,
    b64url_decode,
    bytes_signature_valid,
    format_timestamp,
    key_id,
    sign_bytes,
    signature_valid,
    verify_key_from_id,
)
from stigmem_vault.errors import InvalidFact
from stigmem_vault.model.fact import Fact
from stigmem_vault.model.values import make_value

CANONICAL_KEYS = ["confidence", "derived_from", "entity", "format", "hlc", "relation", "scope",
                  "signer", "source", "supersedes", "timestamp", "trust", "valid_until", "value"]


def body_of(fact: Fact) -> bytes:
    return canonical_bytes(fact.claim, fact.hlc, fact.timestamp, fact.signer)


@settings(max_examples=200, deadline=None)
@given(facts())
def test_id_is_sha256_of_the_canonical_bytes(fact: Fact) -> None:
    body = body_of(fact)
    assert fact.id == hashlib.sha256(body).hexdigest() == content_id(body)
    # The bytes are canonical JSON (numbers read as doubles, as JSON means them).
    assert body == rfc8785.dumps(json.loads(body, parse_int=float))
    assert sorted(json.loads(body)) == CANONICAL_KEYS
    assert signature_valid(fact)
    assert signature_valid(fact, body)


@settings(max_examples=200, deadline=None)
@given(facts(), st.data())
def test_any_byte_change_breaks_the_signature(fact: Fact, data: st.DataObject) -> None:
    body = body_of(fact)
    index = data.draw(st.integers(0, len(body) - 1))
    flip = data.draw(st.integers(1, 255))
    changed = body[:index] + bytes([body[index] ^ flip]) + body[index + 1:]
    assert bytes_signature_valid(fact.signer, body, fact.signature)
    assert not bytes_signature_valid(fact.signer, changed, fact.signature)
    assert not signature_valid(fact, changed)


@settings(max_examples=100, deadline=None)
@given(facts(), st.data())
def test_any_signature_byte_change_breaks_it(fact: Fact, data: st.DataObject) -> None:
    raw = bytearray(b64url_decode(fact.signature, "signature"))
    index = data.draw(st.integers(0, len(raw) - 1))
    raw[index] ^= data.draw(st.integers(1, 255))
    assert not signature_valid(dataclasses.replace(fact, signature=b64url(bytes(raw))))


def test_every_semantic_field_is_signed() -> None:
    fact = simple_fact()
    claim = fact.claim
    changes = {
        "entity": "user:bob", "relation": "codex:other", "value": make_value("string", "done"),
        "source": "agent:other", "confidence": 0.8, "valid_until": "2030-01-01",
        "supersedes": "b" * 64, "derived_from": ("c" * 64,),
    }
    for name, new in changes.items():
        altered = dataclasses.replace(fact, claim=dataclasses.replace(claim, **{name: new}))
        assert not signature_valid(altered), name
    for name, new in {"hlc": "1764000000000.000004.9f86d081884c7d65",
                      "timestamp": "2026-11-24T10:00:00.001Z",
                      "signer": key_id(OTHER_KEY.verify_key)}.items():
        assert not signature_valid(dataclasses.replace(fact, **{name: new})), name
    for enum_field in ("trust", "scope"):
        other = next(m for m in type(getattr(claim, enum_field)) if m != getattr(claim, enum_field))
        altered = dataclasses.replace(fact, claim=dataclasses.replace(claim, **{enum_field: other}))
        assert not signature_valid(altered), enum_field


def test_value_type_is_signed_not_only_the_value() -> None:
    fact = simple_fact(value=make_value("string", "2026-11-24"))
    retyped = dataclasses.replace(fact.claim, value=make_value("datetime", "2026-11-24"))
    assert canonical_bytes(retyped, fact.hlc, fact.timestamp, fact.signer) != body_of(fact)


def test_canonical_object_shape() -> None:
    fact = simple_fact()
    obj = canonical_object(fact.claim, fact.hlc, fact.timestamp, fact.signer)
    assert obj["format"] == "stigmem.fact/1"
    assert obj["value"] == {"type": "string", "v": "review"}
    assert obj["valid_until"] is None and obj["supersedes"] is None and obj["derived_from"] == []
    assert body_of(fact).startswith(b'{"confidence":0.9,"derived_from":[],"entity":')


def test_same_assertion_same_id_different_signer_different_id() -> None:
    assert simple_fact().id == simple_fact().id
    assert simple_fact(KEY).id != simple_fact(OTHER_KEY).id


def test_signature_from_another_key_does_not_verify() -> None:
    fact = simple_fact()
    forged = dataclasses.replace(fact, signature=sign_bytes(OTHER_KEY, body_of(fact)))
    assert not signature_valid(forged)


@pytest.mark.parametrize("signer", ["", "ed25519:", "rsa:AAAA", "ed25519:AAAA", "ed25519:!!!!",
                                    "ed25519:" + "A" * 43 + "=", 42])
def test_malformed_signer_ids(signer: object) -> None:
    with pytest.raises(InvalidFact):
        verify_key_from_id(signer)
    assert not bytes_signature_valid(signer, b"x", sign_bytes(KEY, b"x"))  # type: ignore[arg-type]


@pytest.mark.parametrize("signature", ["", "AAAA", "not base64 at all!", "A" * 86 + "=="])
def test_malformed_signatures_do_not_verify(signature: str) -> None:
    assert not signature_valid(dataclasses.replace(simple_fact(), signature=signature))


def test_key_id_round_trip() -> None:
    for key in (KEY, OTHER_KEY, SigningKey.generate()):
        kid = key_id(key.verify_key)
        assert kid.startswith("ed25519:") and "=" not in kid and len(kid) == 8 + 43
        assert verify_key_from_id(kid) == key.verify_key


def test_format_timestamp() -> None:
    when = datetime(2026, 11, 24, 11, 0, 0, 123999, tzinfo=timezone(timedelta(hours=1)))
    assert format_timestamp(when) == "2026-11-24T10:00:00.123Z"
    assert format_timestamp(datetime(2026, 1, 2, tzinfo=UTC)) == "2026-01-02T00:00:00.000Z"
