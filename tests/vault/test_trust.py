"""The trust store: owner-signed bindings of keys to sources."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from model.factgen import KEY, OTHER_KEY

from stigmem_vault.canonical.signing import key_id
from stigmem_vault.errors import VaultConfigError
from stigmem_vault.vault.trust import TRUST_DIR, TrustStore, make_binding, parse_binding

OWNER = key_id(KEY.verify_key)
OTHER = key_id(OTHER_KEY.verify_key)
WHEN = "2026-11-24T10:00:00.000Z"


def test_binding_round_trip_and_verification() -> None:
    binding = make_binding("Agent:Codex", OTHER, WHEN, KEY)
    assert binding.source == "agent:codex" and binding.issuer == OWNER
    parsed = parse_binding(binding.to_json(), "x.json")
    assert parsed == binding
    store = TrustStore(OWNER)
    assert store.add(parsed) is None
    assert store.knows_key(OTHER) and store.is_bound("agent:codex", OTHER)
    assert not store.is_bound("user:alice", OTHER)
    assert store.keys_for("agent:codex") == [OTHER]
    assert store.sources_for(OTHER) == {"agent:codex"}


def test_binding_path_is_per_source_and_key() -> None:
    binding = make_binding("agent:codex", OTHER, WHEN, KEY)
    assert binding.relpath().startswith(f"{TRUST_DIR}/agent/codex--")
    assert binding.relpath() != make_binding("agent:codex", OWNER, WHEN, KEY).relpath()


def test_binding_not_issued_by_the_owner_does_not_count() -> None:
    store = TrustStore(OWNER)
    reason = store.add(make_binding("agent:evil", OTHER, WHEN, OTHER_KEY))
    assert reason is not None and "not by the vault owner's key" in reason
    assert not store.knows_key(OTHER)


@pytest.mark.parametrize("field", ["source", "key", "issued_at"])
def test_tampered_binding_does_not_count(field: str) -> None:
    binding = make_binding("agent:codex", OTHER, WHEN, KEY)
    changed = {"source": "agent:codey", "key": OWNER, "issued_at": "2030-01-01T00:00:00.000Z"}[field]
    tampered = dataclasses.replace(binding, **{field: changed})
    assert TrustStore(OWNER).add(tampered) == "binding signature does not verify"


@pytest.mark.parametrize(("text", "match"), [
    ("not json", "malformed trust binding"),
    ("[]", "malformed trust binding"),
    ('{"format": "other"}', "malformed trust binding"),
    ('{"format": "stigmem.binding/1", "source": "agent:x"}', "missing 'key'"),
    ('{"format": "stigmem.binding/1", "source": 1, "key": "k", "issued_at": "t", "issuer": "i",'
     ' "signature": "s"}', "every field must be a string"),
    ('{"format": "stigmem.binding/1", "source": "Agent:X", "key": "k", "issued_at": "t",'
     ' "issuer": "i", "signature": "s"}', "normal form"),
    ('{"format": "stigmem.binding/1", "source": "project:x", "key": "k", "issued_at": "t",'
     ' "issuer": "i", "signature": "s"}', "not a principal"),
])
def test_malformed_bindings(text: str, match: str) -> None:
    with pytest.raises(VaultConfigError, match=match) as info:
        parse_binding(text, ".stigmem/trust/x.json")
    assert info.value.path == ".stigmem/trust/x.json"


def test_load_collects_rejected_bindings(tmp_path: Path) -> None:
    good = make_binding("agent:codex", OTHER, WHEN, KEY)
    foreign = make_binding("agent:evil", OTHER, WHEN, OTHER_KEY)
    for binding in (good, foreign):
        path = tmp_path / binding.relpath()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(binding.to_json())
    (tmp_path / TRUST_DIR / "broken.json").write_text("{")
    (tmp_path / TRUST_DIR / "latin1.json").write_bytes(b"\xff\xfe")
    store = TrustStore.load(tmp_path, OWNER)
    assert [b.source for b in store.bindings()] == ["agent:codex"]
    rejected = dict(store.rejected)
    assert set(rejected) == {foreign.relpath(), f"{TRUST_DIR}/broken.json", f"{TRUST_DIR}/latin1.json"}
    assert "not by the vault owner's key" in rejected[foreign.relpath()]


def test_load_without_trust_dir_is_empty(tmp_path: Path) -> None:
    store = TrustStore.load(tmp_path, OWNER)
    assert store.bindings() == [] and store.rejected == []


def test_binding_json_is_readable() -> None:
    data = json.loads(make_binding("agent:codex", OTHER, WHEN, KEY).to_json())
    assert data["format"] == "stigmem.binding/1" and set(data) == {
        "format", "source", "key", "issued_at", "issuer", "signature"}


def test_a_vouch_grant_is_signed_and_lets_the_key_vouch() -> None:
    plain = make_binding("agent:codex", OTHER, WHEN, KEY)
    granted = make_binding("agent:codex", OTHER, WHEN, KEY, vouch=True)
    assert "vouch" not in json.loads(plain.to_json())  # earlier bindings keep their bytes
    assert json.loads(granted.to_json())["vouch"] is True
    assert granted.signature != plain.signature
    store = TrustStore(OWNER, owner="user:alice")
    assert store.add(plain) is None and store.voucher_for(OTHER) is None
    assert store.add(parse_binding(granted.to_json(), "g.json")) is None
    assert store.voucher_for(OTHER) == "agent:codex"


def test_an_owner_key_always_vouches_as_the_owner() -> None:
    store = TrustStore(OWNER, owner="user:alice")
    store.add(make_binding("user:alice", OWNER, WHEN, KEY))
    store.add(make_binding("agent:alias", OWNER, WHEN, KEY))  # the owner key bound twice
    assert store.voucher_for(OWNER) == "user:alice"


@pytest.mark.parametrize("tamper", [{"vouch": True}, {"vouch": False}, {"vouch": "yes"}])
def test_a_vouch_flag_added_or_changed_by_hand_does_not_count(tmp_path: Path,
                                                              tamper: dict[str, object]) -> None:
    plain = make_binding("agent:codex", OTHER, WHEN, KEY)
    granted = make_binding("agent:codex", OTHER, WHEN, KEY, vouch=True)
    source = granted if tamper["vouch"] is False else plain
    path = tmp_path / TRUST_DIR / "agent" / "codex.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({**json.loads(source.to_json()), **tamper}))
    store = TrustStore.load(tmp_path, OWNER, "user:alice")
    assert store.voucher_for(OTHER) is None
    assert [p for p, _reason in store.rejected] == [f"{TRUST_DIR}/agent/codex.json"]
