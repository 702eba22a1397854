"""Creating a vault: the one-time steps behind ``Vault.init`` / ``stigmem init``."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

from stigmem_vault.canonical.signing import format_timestamp, key_id, verify_key_from_id
from stigmem_vault.errors import VaultConfigError
from stigmem_vault.model.identifiers import normalize_source, source_kind
from stigmem_vault.vault import config as cfg
from stigmem_vault.vault.git import GitRepo, write_allowed_signers
from stigmem_vault.vault.keys import KeyStore
from stigmem_vault.vault.layout import FACTS_DIR
from stigmem_vault.vault.markdown import OBSIDIAN_TYPES
from stigmem_vault.vault.store import write_atomic
from stigmem_vault.vault.trust import make_binding


def node_id_for(public_key: bytes) -> str:
    return hashlib.sha256(public_key).hexdigest()[:16]


def create_vault(root: Path, owner: str, keys: KeyStore) -> None:
    owner = normalize_source(owner, "owner")
    if source_kind(owner) != "user":
        raise VaultConfigError(f"the owner must be a person (user:NAME), not {owner}")
    if (root / cfg.VAULT_FILE).exists():
        raise VaultConfigError("a vault already exists here; open it instead", root)
    if root.exists() and any(p.name not in (".git",) for p in root.iterdir()):
        raise VaultConfigError("directory is not empty; init a vault in a new or empty directory",
                               root)
    root.mkdir(parents=True, exist_ok=True)
    keys.check_outside(root)

    git = GitRepo.init(root, root / cfg.LOCK_FILE)
    now = format_timestamp(datetime.now(UTC))
    owner_key = keys.generate()
    node_key = keys.generate()
    node_id = node_id_for(bytes(node_key.verify_key))
    node_source = f"system:node-{node_id}"

    (root / FACTS_DIR).mkdir(exist_ok=True)
    (root / cfg.SCHEMA_DIR).mkdir(parents=True, exist_ok=True)
    write_atomic(root / ".gitignore", cfg.GITIGNORE.encode())
    write_atomic(root / FACTS_DIR / ".gitkeep", b"")
    write_atomic(root / cfg.SCHEMA_DIR / ".gitkeep", b"")
    obsidian_types = {"types": OBSIDIAN_TYPES}
    write_atomic(root / ".obsidian/types.json",
                 (json.dumps(obsidian_types, indent=2) + "\n").encode())
    cfg.write_vault_config(root, cfg.VaultConfig(owner, key_id(owner_key.verify_key), now))
    cfg.write_node_config(root, cfg.NodeConfig(node_id, key_id(node_key.verify_key), node_source))

    bindings = [
        make_binding(owner, key_id(owner_key.verify_key), now, owner_key),
        make_binding(node_source, key_id(node_key.verify_key), now, owner_key),
    ]
    for binding in bindings:
        write_atomic(root / binding.relpath(), binding.to_json().encode())
    write_allowed_signers(root / cfg.ALLOWED_SIGNERS,
                          [(b.source, verify_key_from_id(b.key)) for b in bindings])

    tracked = [".gitignore", f"{FACTS_DIR}/.gitkeep", f"{cfg.SCHEMA_DIR}/.gitkeep",
               ".obsidian/types.json", cfg.VAULT_FILE, cfg.ALLOWED_SIGNERS,
               *(b.relpath() for b in bindings)]
    with git.locked():
        git.commit(tracked, [], f"stigmem: init vault for {owner}\n\nnode {node_id}\n",
                   node_key, node_source, f"{node_id}@stigmem.invalid")
