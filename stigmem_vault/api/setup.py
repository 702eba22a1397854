"""Creating a vault: the one-time steps behind ``Vault.init`` / ``stigmem init``."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

from stigmem_vault.api.context import ProgressHook
from stigmem_vault.canonical.signing import format_timestamp, key_id, verify_key_from_id
from stigmem_vault.errors import InvalidFact
from stigmem_vault.model.identifiers import normalize_source, source_kind
from stigmem_vault.vault import config as cfg
from stigmem_vault.vault.git import GitRepo, write_allowed_signers
from stigmem_vault.vault.keys import KeyStore, looks_like_private_key
from stigmem_vault.vault.layout import FACTS_DIR, fact_relpath
from stigmem_vault.vault.markdown import OBSIDIAN_TYPES
from stigmem_vault.vault.obsidian import obsidian_files
from stigmem_vault.vault.store import write_atomic
from stigmem_vault.vault.trust import Binding, TrustStore, make_binding
from stigmem_vault.vault.verify import verify_file


def node_id_for(public_key: bytes) -> str:
    return hashlib.sha256(public_key).hexdigest()[:16]


def create_vault(root: Path, owner: str, keys: KeyStore, template: Path | None = None,
                 progress: ProgressHook | None = None) -> list[tuple[str, str]]:
    """Create the vault; return the template files that were not imported, with the reason.
    ``progress`` hears ("importing", done, total) while a template's facts are copied."""
    owner = normalize_source(owner, "owner")
    if source_kind(owner) != "user":
        raise InvalidFact("owner", f"must be a person (user:NAME), not {owner}")
    if (root / cfg.VAULT_FILE).exists():
        raise InvalidFact("path", f"{root} already holds a vault; open it instead")
    if root.exists() and (not root.is_dir() or any(p.name != ".git" for p in root.iterdir())):
        raise InvalidFact("path", f"{root} is not an empty directory; init a vault in a new "
                                  "or empty directory")
    if template is not None:
        # Refuse a bad template before anything is created, so a failed init leaves no
        # half-made vault behind. A template holding private keys is refused as opening it
        # would be: its schema files are copied verbatim into the new vault's first commit.
        cfg.read_vault_config(template)
        cfg.refuse_key_material(template, [])
        cfg.load_schemas(template)
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
    views = obsidian_files()  # Bases views, the fact template, the Templates plugin's folder
    for rel, data in views.items():
        write_atomic(root / rel, data)
    cfg.write_vault_config(root, cfg.VaultConfig(owner, key_id(owner_key.verify_key), now))
    cfg.write_node_config(root, cfg.NodeConfig(node_id, key_id(node_key.verify_key), node_source))

    bindings = [
        make_binding(owner, key_id(owner_key.verify_key), now, owner_key),
        make_binding(node_source, key_id(node_key.verify_key), now, owner_key),
    ]
    imported: list[str] = []
    skipped: list[tuple[str, str]] = []
    if template is not None:
        template_bindings, imported, skipped = _import_template(template, root, progress)
        # The new owner endorses the template's identities: same keys, re-signed bindings.
        bindings += [make_binding(b.source, b.key, now, owner_key) for b in template_bindings]
    for binding in bindings:
        write_atomic(root / binding.relpath(), binding.to_json().encode())
    write_allowed_signers(root / cfg.ALLOWED_SIGNERS,
                          [(b.source, verify_key_from_id(b.key)) for b in bindings])

    tracked = [".gitignore", f"{FACTS_DIR}/.gitkeep", f"{cfg.SCHEMA_DIR}/.gitkeep",
               ".obsidian/types.json", *views, cfg.VAULT_FILE, cfg.ALLOWED_SIGNERS,
               *(b.relpath() for b in bindings), *imported]
    origin = f"\nimported {len(imported)} file(s) from {template}\n" if template else ""
    with git.locked():
        git.commit([(rel, (root / rel).read_bytes()) for rel in tracked],
                   f"stigmem: init vault for {owner}\n\nnode {node_id}\n{origin}",
                   node_key, node_source, f"{node_id}@stigmem.invalid")
        git.write_index()
    return skipped


def _import_template(template: Path, root: Path, progress: ProgressHook | None = None,
                     ) -> tuple[list[Binding], list[str], list[tuple[str, str]]]:
    """Copy a template vault's valid facts and schemas; return its valid bindings too.

    Only what verifies against the template's own trust store is imported: facts are copied
    byte for byte to their canonical paths, so their signatures keep holding.
    """
    config = cfg.read_vault_config(template)
    trust = TrustStore.load(template, config.owner_keys(), config.owner)
    skipped = [(f"{template.name}/{path}", reason) for path, reason in trust.rejected]
    cfg.load_schemas(template)  # refuse a template whose schemas are broken
    imported: list[str] = []
    schema_dir = template / cfg.SCHEMA_DIR
    if schema_dir.is_dir():
        for path in sorted(schema_dir.rglob("*.y*ml")):
            rel = f"{cfg.SCHEMA_DIR}/{path.relative_to(schema_dir).as_posix()}"
            write_atomic(root / rel, path.read_bytes())
            imported.append(rel)
    facts_dir = template / FACTS_DIR
    paths = sorted(facts_dir.rglob("*.md")) if facts_dir.is_dir() else []
    for number, path in enumerate(paths, 1):
        if progress is not None and (number % 100 == 0 or number == len(paths)):
            progress("importing", number, len(paths))
        rel = path.relative_to(template).as_posix()
        item = verify_file(template, rel, trust)
        if not item.ok or item.fact is None:
            skipped.append((f"{template.name}/{rel}", f"{item.verdict}: {item.reason}"))
            continue
        if looks_like_private_key(path.read_bytes()):
            skipped.append((f"{template.name}/{rel}", "holds private key material"))
            continue
        target = str(fact_relpath(item.fact))
        write_atomic(root / target, path.read_bytes(), sync=False)
        imported.append(target)
    return trust.bindings(), imported, skipped
