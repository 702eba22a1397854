"""Identities: key pairs held on this machine, bound to sources in the vault's trust store.

Creating or rotating an identity writes a signed binding (and, for the owner, the hand-over in
vault.json) and commits it at once: a binding only counts once others can see it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from stigmem_vault.api.commits import CommitQueue
from stigmem_vault.api.context import VaultContext
from stigmem_vault.api.facts import now_timestamp
from stigmem_vault.api.results import Identity, IdentityRole
from stigmem_vault.canonical.jcs import canonicalize
from stigmem_vault.canonical.signing import key_id, sign_bytes, verify_key_from_id
from stigmem_vault.errors import IdentityError
from stigmem_vault.model.identifiers import normalize_source
from stigmem_vault.vault import config as cfg
from stigmem_vault.vault.git import write_allowed_signers
from stigmem_vault.vault.store import write_atomic
from stigmem_vault.vault.trust import Binding, make_binding


class Identities:
    """The identities of one open vault."""

    def __init__(self, ctx: VaultContext, commits: CommitQueue | None,
                 config_changed: Callable[[], object]) -> None:
        self._ctx = ctx
        self._commits = commits
        self._config_changed = config_changed

    def _queue(self) -> CommitQueue:
        self._ctx.writer()
        assert self._commits is not None
        return self._commits

    def list(self) -> list[Identity]:
        ctx = self._ctx
        result = []
        for binding in sorted(ctx.trust.bindings(), key=lambda b: (b.source, b.key)):
            role = (IdentityRole.OWNER if binding.key == ctx.config.owner_key else
                    IdentityRole.NODE if ctx.node and binding.key == ctx.node.key else
                    IdentityRole.IDENTITY)
            held = ctx.keys.path_for(binding.key).exists()
            result.append(Identity(binding.source, binding.key, held, role,
                                   ctx.trust.voucher_for(binding.key) is not None))
        return result

    def grant_vouch(self, source: str) -> Identity:
        """Let ``source``'s current key vouch for facts naming other sources (§9.3): the owner
        signs a new binding of that key with ``vouch``. A node whose tokens may write in other
        sources' names (attestation warn/off) then stores such writes as *vouched*, which take
        part in liveness and conflicts, instead of *unattested*."""
        ctx = self._ctx
        commits = self._queue()
        normal = normalize_source(source)
        keys = ctx.trust.keys_for(normal)
        if not keys:
            raise IdentityError(f"no identity {normal} in this vault; create it first")
        key = keys[0]
        role = (IdentityRole.OWNER if key == ctx.config.owner_key else
                IdentityRole.NODE if ctx.node and key == ctx.node.key else IdentityRole.IDENTITY)
        held = ctx.keys.path_for(key).exists()
        if any(b.key == key and b.vouch for b in ctx.trust.bindings()) or \
                key in ctx.trust.owner_keys:
            return Identity(normal, key, held, role, True)  # it may already
        owner_key = ctx.require_key(ctx.config.owner_key, ctx.config.owner)
        binding = make_binding(normal, key, now_timestamp(), owner_key, vouch=True)
        with commits.locked():
            self.add_binding(binding, f"vouch {normal} {key}")
            commits.flush()
        self._config_changed()  # facts that key signed in other names are vouched for now
        return Identity(normal, key, held, role, True)

    def create(self, source: str) -> Identity:
        """Create a key pair for ``source`` on this machine and bind it in the trust store."""
        ctx = self._ctx
        commits = self._queue()
        normal = normalize_source(source)
        if ctx.trust.keys_for(normal):
            raise IdentityError(f"identity {normal} already exists")
        owner_key = ctx.require_key(ctx.config.owner_key, ctx.config.owner)
        key = ctx.keys.generate()
        binding = make_binding(normal, key_id(key.verify_key), now_timestamp(), owner_key)
        with commits.locked():
            self.add_binding(binding, f"identity {normal} {binding.key}")
            commits.flush()
        return Identity(normal, binding.key, True, IdentityRole.IDENTITY)

    def rotate(self, source: str) -> Identity:
        """Give ``source`` a new key. Its old binding stays, so facts signed before still verify.

        Rotating the owner key also records the hand-over in vault.json, signed by the old key,
        so every binding the old owner key issued keeps counting.
        """
        ctx = self._ctx
        commits = self._queue()
        normal = normalize_source(source)
        old_key = ctx.signing_key_for(normal)
        old_id = key_id(old_key.verify_key)
        new_key = ctx.keys.generate()
        new_id = key_id(new_key.verify_key)
        with commits.locked():
            if normal == ctx.config.owner:
                handover = canonicalize(cfg.rotation_object(old_id, new_id))
                link = {"key": old_id, "signature": sign_bytes(old_key, handover),
                        "accepted": sign_bytes(new_key, handover)}
                ctx.config = replace(ctx.config, owner_key=new_id, previous_owner_keys=(
                    *ctx.config.previous_owner_keys, link))
                commits.add([(cfg.VAULT_FILE, cfg.write_vault_config(ctx.root, ctx.config))], [])
                ctx.reload_trust()
                issuer = new_key
            else:
                issuer = ctx.require_key(ctx.config.owner_key, ctx.config.owner)
            # A key allowed to vouch hands the grant on to its successor.
            vouch = any(b.key == old_id and b.vouch for b in ctx.trust.bindings())
            self.add_binding(make_binding(normal, new_id, now_timestamp(), issuer, vouch=vouch),
                             f"rotate {normal} {old_id} -> {new_id}")
            commits.flush()
        self._config_changed()
        role = IdentityRole.OWNER if normal == ctx.config.owner else IdentityRole.IDENTITY
        return Identity(normal, new_id, True, role)

    def add_binding(self, binding: Binding, note: str) -> None:
        """Add ``binding`` to the trust store, write it and queue it (with allowed_signers)."""
        ctx = self._ctx
        reason = ctx.trust.add(binding)
        if reason:
            raise IdentityError(f"binding for {binding.source} refused: {reason}")
        data = binding.to_json().encode()
        write_atomic(ctx.root / binding.relpath(), data)
        self._queue().add([(binding.relpath(), data)], [note])
        entries = [(b.source, verify_key_from_id(b.key)) for b in ctx.trust.bindings()]
        if write_allowed_signers(ctx.root / cfg.ALLOWED_SIGNERS, entries):
            self._queue().add([(cfg.ALLOWED_SIGNERS,
                                (ctx.root / cfg.ALLOWED_SIGNERS).read_bytes())], [])
