"""The trust store: which public keys may speak for which sources.

Each binding is one JSON file under ``.stigmem/trust/`` (one file per binding, so concurrent
additions merge cleanly in git)::

    {"format": "stigmem.binding/1", "source": "agent:codex", "key": "ed25519:...",
     "issued_at": "2026-11-24T10:00:00.000Z", "issuer": "ed25519:<owner key>",
     "signature": "<base64url Ed25519 over the RFC 8785 bytes of every other field>"}

A binding counts only if its signature verifies and its issuer is the vault owner's key
(the owner's own binding is self-signed). A binding may carry ``"vouch": true`` (then signed
with the rest): the owner lets that key vouch for facts naming other sources (docs/spec.md §9.3).
An owner key may always vouch: it could bind any source anyway.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from nacl.signing import SigningKey

from stigmem_vault.canonical.jcs import canonicalize
from stigmem_vault.canonical.signing import (
    bytes_signature_valid,
    key_id,
    sign_bytes,
    verify_key_from_id,
)
from stigmem_vault.errors import FormatError, InvalidFact, VaultConfigError
from stigmem_vault.model.identifiers import normalize_source
from stigmem_vault.model.values import parse_iso_datetime
from stigmem_vault.vault.layout import entity_segments
from stigmem_vault.vault.reading import read_regular

BINDING_FORMAT = "stigmem.binding/1"
TRUST_DIR = ".stigmem/trust"


@dataclass(frozen=True, slots=True)
class Binding:
    source: str
    key: str
    issued_at: str
    issuer: str
    signature: str
    vouch: bool = False  # may this key vouch for facts naming other sources (§9.3)

    def signed_object(self) -> dict[str, object]:
        signed: dict[str, object] = {"format": BINDING_FORMAT, "source": self.source,
                                     "key": self.key, "issued_at": self.issued_at,
                                     "issuer": self.issuer}
        if self.vouch:  # only when granted, so every earlier binding keeps its bytes
            signed["vouch"] = True
        return signed

    def to_json(self) -> str:
        return json.dumps({**self.signed_object(), "signature": self.signature}, indent=2) + "\n"

    def relpath(self) -> str:
        digest = hashlib.sha256(self.key.encode()).hexdigest()[:10]
        kind, *_rest, name = entity_segments(self.source)
        return f"{TRUST_DIR}/{kind}/{name}--{digest}.json"


def make_binding(source: str, subject_key: str, issued_at: str, issuer: SigningKey,
                 vouch: bool = False) -> Binding:
    unsigned = Binding(normalize_source(source), subject_key, issued_at,
                       key_id(issuer.verify_key), "", vouch)
    signature = sign_bytes(issuer, canonicalize(unsigned.signed_object()))
    return Binding(unsigned.source, subject_key, issued_at, unsigned.issuer, signature, vouch)


def parse_binding(text: str, path: str) -> Binding:
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("format") != BINDING_FORMAT:
            raise ValueError(f"not a {BINDING_FORMAT} record")
        fields = {k: data[k] for k in ("source", "key", "issued_at", "issuer", "signature")}
        if not all(isinstance(v, str) for v in fields.values()):
            raise ValueError("every field must be a string")
        if normalize_source(fields["source"]) != fields["source"]:
            raise ValueError("source is not in normal form")
        verify_key_from_id(fields["key"], "key")
        verify_key_from_id(fields["issuer"], "issuer")
        parse_iso_datetime(fields["issued_at"], "issued_at")
        vouch = data.get("vouch", False)
        if vouch is not True and vouch is not False:
            raise ValueError("vouch must be true or false")
    except KeyError as exc:
        raise VaultConfigError(f"trust binding is missing {exc.args[0]!r}", path) from None
    except (ValueError, InvalidFact) as exc:
        raise VaultConfigError(f"malformed trust binding: {exc}", path) from None
    return Binding(**fields, vouch=vouch)


class TrustStore:
    """Valid bindings of a vault, indexed both ways."""

    def __init__(self, owner_key: str | frozenset[str], owner: str | None = None) -> None:
        # Every key in the owner's rotation chain still vouches for what it signed.
        self.owner_keys = frozenset([owner_key]) if isinstance(owner_key, str) else owner_key
        self.owner = owner
        self._by_key: dict[str, set[str]] = {}
        self._vouchers: dict[str, set[str]] = {}  # key -> sources it may vouch as
        self._by_source: dict[str, list[Binding]] = {}
        self.rejected: list[tuple[str, str]] = []  # (path, reason) of bindings that do not count

    @classmethod
    def load(cls, root: Path, owner_key: str | frozenset[str],
             owner: str | None = None) -> TrustStore:
        store = cls(owner_key, owner)
        trust_dir = root / TRUST_DIR
        if not trust_dir.is_dir():
            return store
        for path in sorted(trust_dir.rglob("*.json")):
            rel = str(path.relative_to(root))
            try:
                binding = parse_binding(read_regular(path, rel).decode("utf-8"), rel)
            except FormatError as exc:  # a FIFO or symlink is never opened
                store.rejected.append((rel, f"unreadable: {exc.reason}"))
                continue
            except UnicodeDecodeError as exc:
                store.rejected.append((rel, f"unreadable: {exc}"))
                continue
            except VaultConfigError as exc:
                store.rejected.append((rel, str(exc)))
                continue
            reason = store.add(binding)
            if reason:
                store.rejected.append((rel, reason))
        return store

    def add(self, binding: Binding) -> str | None:
        """Admit a binding; return why it does not count, or None."""
        if binding.issuer not in self.owner_keys:
            return f"issued by {binding.issuer}, not by the vault owner's key"
        if not bytes_signature_valid(binding.issuer, canonicalize(binding.signed_object()),
                                     binding.signature):
            return "binding signature does not verify"
        self._by_key.setdefault(binding.key, set()).add(binding.source)
        self._by_source.setdefault(binding.source, []).append(binding)
        if binding.vouch or binding.key in self.owner_keys:
            self._vouchers.setdefault(binding.key, set()).add(binding.source)
        return None

    def knows_key(self, key: str) -> bool:
        return key in self._by_key

    def is_bound(self, source: str, key: str) -> bool:
        return source in self._by_key.get(key, ())

    def keys_for(self, source: str) -> list[str]:
        """Keys bound to ``source``, newest binding (by issued_at) first."""
        bindings = sorted(self._by_source.get(source, []), key=lambda b: b.issued_at, reverse=True)
        return [b.key for b in bindings]

    def voucher_for(self, key: str) -> str | None:
        """The principal a fact signed by ``key`` is vouched for by, or None if the key may not
        vouch: the owner when the key is bound to it, else the first source (by code point)
        whose binding to ``key`` may vouch (§9.5)."""
        vouchers = self._vouchers.get(key)
        if not vouchers:
            return None
        return self.owner if self.owner in vouchers else min(vouchers)

    def sources_for(self, key: str) -> set[str]:
        return set(self._by_key.get(key, ()))

    def bindings(self) -> list[Binding]:
        return [b for group in self._by_source.values() for b in group]
