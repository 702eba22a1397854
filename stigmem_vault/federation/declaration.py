"""Signed peer declarations: how a node introduces itself to other nodes.

A declaration lives at ``.stigmem/peers/<node_id>.json`` and travels in every projection a
node pushes, so peers can learn who it is before trusting anything it sent::

    {"format": "stigmem.peer/1", "node_id": "<16 hex>", "owner": "user:dana",
     "owner_key": "ed25519:…", "node_key": "ed25519:…", "scopes": ["team", "company"],
     "identities": [{"source": "agent:codex", "key": "ed25519:…"}, …],
     "signed_at": "2026-11-24T10:00:00.000Z", "signature": "<owner's Ed25519 over the RFC 8785
     bytes of every other field>"}

Admitting a peer pins the fingerprint of its owner key; its identities are then endorsed by
our owner into our own trust store (so verification never needs to know about peers). A key
rotation is a new declaration whose ``previous`` field carries the old owner key's signature
over the new one, so the pin can follow the chain.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace

from nacl.signing import SigningKey

from stigmem_vault.canonical.jcs import canonicalize
from stigmem_vault.canonical.signing import bytes_signature_valid, key_id, sign_bytes, verify_key_from_id
from stigmem_vault.errors import InvalidFact
from stigmem_vault.model.fact import Scope
from stigmem_vault.model.identifiers import normalize_source
from stigmem_vault.model.values import parse_iso_datetime

DECLARATION_FORMAT = "stigmem.peer/1"
PEERS_DIR = ".stigmem/peers"


@dataclass(frozen=True, slots=True)
class Rotation:
    """The old owner key vouching for the new one: signature over ``stigmem.rotate/1``."""

    old_key: str
    signature: str

    def signed_object(self, new_key: str) -> dict[str, str]:
        return {"format": "stigmem.rotate/1", "old_key": self.old_key, "new_key": new_key}


@dataclass(frozen=True, slots=True)
class Declaration:
    node_id: str
    owner: str
    owner_key: str
    node_key: str
    scopes: tuple[str, ...]
    identities: tuple[tuple[str, str], ...]  # (source, key), sorted
    signed_at: str
    signature: str
    previous: Rotation | None = None

    def signed_object(self) -> dict[str, object]:
        body: dict[str, object] = {
            "format": DECLARATION_FORMAT, "node_id": self.node_id, "owner": self.owner,
            "owner_key": self.owner_key, "node_key": self.node_key, "scopes": list(self.scopes),
            "identities": [{"source": s, "key": k} for s, k in self.identities],
            "signed_at": self.signed_at,
        }
        if self.previous is not None:
            body["previous"] = {"old_key": self.previous.old_key,
                                "signature": self.previous.signature}
        return body

    def to_json(self) -> str:
        return json.dumps({**self.signed_object(), "signature": self.signature}, indent=2,
                          sort_keys=True) + "\n"

    @property
    def relpath(self) -> str:
        return f"{PEERS_DIR}/{self.node_id}.json"

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.owner_key)


def fingerprint(key: str) -> str:
    """What an operator compares out of band: ``sha256:`` + hex of the key id's UTF-8."""
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


def node_id_for_key(node_key: str) -> str:
    return hashlib.sha256(bytes(verify_key_from_id(node_key, "node_key"))).hexdigest()[:16]


def make_declaration(*, owner: str, owner_key: SigningKey, node_key: str, scopes: list[str],
                     identities: list[tuple[str, str]], signed_at: str,
                     previous_key: SigningKey | None = None) -> Declaration:
    own = key_id(owner_key.verify_key)
    previous = None
    if previous_key is not None:
        old = key_id(previous_key.verify_key)
        previous = Rotation(old, "")
        previous = Rotation(old, sign_bytes(previous_key, canonicalize(previous.signed_object(own))))
    unsigned = Declaration(node_id_for_key(node_key), owner, own, node_key, tuple(scopes),
                           tuple(sorted(set(identities))), signed_at, "", previous)
    return replace(unsigned, signature=sign_bytes(owner_key, canonicalize(unsigned.signed_object())))


def parse_declaration(text: str, where: str) -> Declaration:
    """Parse and check a declaration: shape, signature, node id; InvalidFact says why not."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InvalidFact(where, f"not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != DECLARATION_FORMAT:
        raise InvalidFact(where, f"not a {DECLARATION_FORMAT} declaration")
    try:
        scopes = tuple(Scope(s).value for s in data["scopes"])
        identities = tuple(sorted((normalize_source(i["source"]), str(i["key"]))
                                  for i in data["identities"]))
        previous = None
        if data.get("previous") is not None:
            previous = Rotation(str(data["previous"]["old_key"]), str(data["previous"]["signature"]))
        declaration = Declaration(str(data["node_id"]), normalize_source(data["owner"]),
                                  str(data["owner_key"]), str(data["node_key"]), scopes, identities,
                                  str(data["signed_at"]), str(data["signature"]), previous)
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidFact(where, f"malformed declaration: {exc!r}") from None
    if Scope.LOCAL.value in declaration.scopes:
        raise InvalidFact(where, "a node never offers the local scope")
    for _source, key in declaration.identities:
        verify_key_from_id(key, f"{where}: identity key")
    parse_iso_datetime(declaration.signed_at, f"{where}: signed_at")
    if node_id_for_key(declaration.node_key) != declaration.node_id:
        raise InvalidFact(where, "node_id does not match the node key")
    if (f"system:node-{declaration.node_id}", declaration.node_key) not in declaration.identities:
        raise InvalidFact(where, "the node key is not among the declared identities")
    if not bytes_signature_valid(declaration.owner_key, canonicalize(declaration.signed_object()),
                                 declaration.signature):
        raise InvalidFact(where, "declaration signature does not verify with its owner key")
    if declaration.previous is not None:
        rotation = declaration.previous
        if not bytes_signature_valid(rotation.old_key,
                                     canonicalize(rotation.signed_object(declaration.owner_key)),
                                     rotation.signature):
            raise InvalidFact(where, "key rotation is not signed by the previous owner key")
    return declaration
