"""The owner key's rotation chain: honest hand-overs count, grafted keys do not."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from nacl.signing import SigningKey

from stigmem_vault.api.vault import Vault
from stigmem_vault.canonical.jcs import canonicalize
from stigmem_vault.canonical.signing import key_id, sign_bytes
from stigmem_vault.vault import config as cfg


def test_bindings_of_the_old_owner_key_still_count_after_rotation(tmp_path: Path) -> None:
    vault = Vault.init(tmp_path / "v", owner="user:alice", home=tmp_path / "h", commit_delay=None)
    vault.create_identity("agent:codex")
    before = vault.assert_fact(entity="user:x", relation="m:a", value=1, source="agent:codex")
    old_owner = vault.config.owner_key
    vault.rotate_identity("user:alice")
    assert vault.config.owner_key != old_owner
    assert vault.config.owner_keys() == {old_owner, vault.config.owner_key}
    after = vault.assert_fact(entity="user:x", relation="m:b", value=2)
    vault.close()
    reopened = Vault.open(tmp_path / "v", home=tmp_path / "h")
    assert reopened.trust.rejected == []
    assert reopened.verify().ok
    assert {before.id, after.id} <= {f.fact.id for f in reopened.verify().files if f.fact}
    reopened.close()


def test_a_key_grafted_onto_the_chain_without_the_owner_does_not_count(tmp_path: Path) -> None:
    vault = Vault.init(tmp_path / "v", owner="user:alice", home=tmp_path / "h", commit_delay=None)
    config = vault.config
    vault.close()
    attacker = SigningKey.generate()
    attacker_id = key_id(attacker.verify_key)
    handover = canonicalize(cfg.rotation_object(attacker_id, config.owner_key))
    # The attacker can sign the hand-over with their own key, but not accept it with the owner's.
    forged = replace(config, previous_owner_keys=(
        {"key": attacker_id, "signature": sign_bytes(attacker, handover),
         "accepted": sign_bytes(attacker, handover)},))
    assert forged.owner_keys() == {config.owner_key}
