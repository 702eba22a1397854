"""The vault's configuration: ``.stigmem/vault.json`` (shared), ``.stigmem/local/`` (this
clone only), relation schemas, and the scan that refuses key material inside the vault."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from stigmem_vault.canonical.jcs import canonicalize
from stigmem_vault.canonical.signing import bytes_signature_valid
from stigmem_vault.errors import FormatError, InvalidFact, KeyMaterialInVault, VaultConfigError
from stigmem_vault.model.relations import RelationSchema, parse_schema
from stigmem_vault.vault import frontmatter
from stigmem_vault.vault.keys import looks_like_private_key
from stigmem_vault.vault.reading import read_regular
from stigmem_vault.vault.store import write_atomic

VAULT_FORMAT = "stigmem.vault/1"
VAULT_FILE = ".stigmem/vault.json"
NODE_FILE = ".stigmem/local/node.json"
SCHEMA_DIR = ".stigmem/schemas"
TRUST_DIR = ".stigmem/trust"
ALLOWED_SIGNERS = ".stigmem/allowed_signers"
CLOCK_FILE = ".stigmem/local/clock"
LOCK_FILE = ".stigmem/local/write.lock"
DIRTY_MARKER = ".stigmem/local/uncommitted"
SCRATCH_DIR = ".stigmem/local/tmp"

GITIGNORE = """\
# stigmem: this clone's state, caches and editor workspace never go into git
.stigmem/local/
.stigmem/index/
.obsidian/*
!.obsidian/types.json
!.obsidian/templates.json
.trash/
*.tmp
"""

_KEYISH_SUFFIXES = (".pem", ".key", ".ppk", ".p8", ".p12", ".pfx")
_KEYISH_NAMES = ("id_rsa", "id_ed25519", "id_ecdsa", "id_dsa")
# What a tracked path find_key_material looks at contains, in git's NUL-terminated listing:
# a suffix at the name's end or a name prefix (git_state.tracked_paths_containing).
KEYISH_NEEDLES = tuple(f"{suffix}\0".encode() for suffix in _KEYISH_SUFFIXES) \
    + tuple(name.encode() for name in _KEYISH_NAMES)
_SCAN_LIMIT = 1024 * 1024


@dataclass(frozen=True, slots=True)
class VaultConfig:
    owner: str
    owner_key: str
    created: str
    format: str = VAULT_FORMAT
    # Earlier owner keys, oldest first: {"key": old, "signature": the old key's signature of the
    # hand-over to the next key, "accepted": the next key's signature of the same hand-over}.
    previous_owner_keys: tuple[dict[str, str], ...] = ()

    def owner_keys(self) -> frozenset[str]:
        """The current owner key and every earlier one linked to it by verified hand-overs.

        Walked from the current key back: each link must be signed by both its keys, so nobody
        can graft a key of their own onto the chain without the newer owner key; the first
        broken link ends the chain (nothing older than it counts).
        """
        keys = [entry["key"] for entry in self.previous_owner_keys] + [self.owner_key]
        valid = {self.owner_key}
        for index in range(len(self.previous_owner_keys) - 1, -1, -1):
            entry = self.previous_owner_keys[index]
            body = canonicalize(rotation_object(entry["key"], keys[index + 1]))
            if not (bytes_signature_valid(entry["key"], body, entry.get("signature", ""))
                    and bytes_signature_valid(keys[index + 1], body, entry.get("accepted", ""))):
                break
            valid.add(entry["key"])
        return frozenset(valid)


def rotation_object(old_key: str, new_key: str) -> dict[str, str]:
    """What the old key signs when it hands over to the new one."""
    return {"format": "stigmem.rotate/1", "old_key": old_key, "new_key": new_key}


@dataclass(frozen=True, slots=True)
class NodeConfig:
    node_id: str
    key: str
    source: str


def _read_json(path: Path, what: str) -> dict[str, Any]:
    # Any, as json.loads gives it: the values are whatever the file holds, and each reader
    # below picks out the fields it needs (reporting a missing one).
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise VaultConfigError(
            f"no {what}; is this a stigmem vault?",
            path,
        ) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise VaultConfigError(f"unreadable {what}: {exc}", path) from None
    if not isinstance(data, dict):
        raise VaultConfigError(f"{what} must be a JSON object", path)
    return data


def read_vault_config(root: Path) -> VaultConfig:
    path = root / VAULT_FILE
    data = _read_json(path, "vault config")
    if data.get("format") != VAULT_FORMAT:
        raise VaultConfigError(f"format must be {VAULT_FORMAT!r}, got {data.get('format')!r}", path)
    try:
        previous = tuple({"key": str(e["key"]), "signature": str(e["signature"]),
                          "accepted": str(e.get("accepted", ""))}
                         for e in data.get("previous_owner_keys", []))
        return VaultConfig(**{k: data[k] for k in ("owner", "owner_key", "created")},
                           previous_owner_keys=previous)
    except (KeyError, TypeError) as exc:
        raise VaultConfigError(f"missing or malformed {exc.args[0]!r}", path) from None


def write_vault_config(root: Path, config: VaultConfig) -> bytes:
    """Write vault.json; returns the bytes written (they go into the next commit)."""
    data = (json.dumps(asdict(config), indent=2) + "\n").encode()
    write_atomic(root / VAULT_FILE, data)
    return data


def read_node_config(root: Path) -> NodeConfig:
    path = root / NODE_FILE
    data = _read_json(path, "node identity for this clone")
    try:
        return NodeConfig(**{k: data[k] for k in ("node_id", "key", "source")})
    except KeyError as exc:
        raise VaultConfigError(f"missing {exc.args[0]!r}", path) from None


def write_node_config(root: Path, node: NodeConfig) -> None:
    write_atomic(root / NODE_FILE, (json.dumps(asdict(node), indent=2) + "\n").encode(),
                 mode=0o600)  # this clone's own state: nobody else on the machine reads it


def load_schemas(root: Path) -> dict[str, RelationSchema]:
    """Every relation schema in .stigmem/schemas/, keyed by relation."""
    schemas: dict[str, RelationSchema] = {}
    schema_dir = root / SCHEMA_DIR
    if not schema_dir.is_dir():
        return schemas
    for path in sorted([*schema_dir.rglob("*.yaml"), *schema_dir.rglob("*.yml")]):
        rel = path.relative_to(root)
        try:  # YAML 1.2, as in notes; a FIFO or symlink is never opened
            data = frontmatter.load(read_regular(path, str(rel)).decode("utf-8"))
        except FormatError as exc:
            raise VaultConfigError(f"unreadable relation schema: {exc.reason}", rel) from None
        except (UnicodeDecodeError, frontmatter.FrontmatterError) as exc:
            raise VaultConfigError(f"unreadable relation schema: {exc}", rel) from None
        if not isinstance(data, dict):
            raise VaultConfigError("a relation schema must be a mapping", rel)
        try:
            schema = parse_schema(data)
        except InvalidFact as exc:
            raise VaultConfigError(f"{exc.field}: {exc.reason}", rel) from None
        if schema.relation in schemas:
            raise VaultConfigError(f"relation {schema.relation!r} has a second schema", rel)
        schemas[schema.relation] = schema
    return schemas


def find_key_material(root: Path, tracked: list[str]) -> list[str]:
    """Paths in the vault where a person has put private key material by mistake.

    Looked at: the vault's top-level files, the files people edit under ``.stigmem/`` (its
    top level, ``schemas/`` and ``trust/``), and any tracked file whose name looks like a key file. Never
    looked at: data that clients and peers control (``.stigmem/local/``: quarantined pushes,
    stored answers, the index; fact files and conflict notes), which holds whatever bytes
    were sent and would let one request refuse the vault to everyone. Fact values are
    checked when they are written. Only regular files are opened (a FIFO would block).
    """
    suspects: set[Path] = set(_regular_files(root))
    suspects.update(_regular_files(root / ".stigmem"))
    for config_dir in (root / SCHEMA_DIR, root / TRUST_DIR):
        if config_dir.is_dir() and not config_dir.is_symlink():
            for folder, _dirs, names in os.walk(config_dir):
                suspects.update(_regular_files(Path(folder), names))
    for rel in tracked:
        name = rel.rsplit("/", 1)[-1]
        if (name.endswith(_KEYISH_SUFFIXES) or name.startswith(_KEYISH_NAMES)) \
                and not rel.startswith(_CLIENT_DATA):
            suspects.add(root / rel)
    found = []
    for path in sorted(suspects):
        head = _read_head(path)
        if head is not None and looks_like_private_key(head):
            found.append(path.relative_to(root).as_posix())
    return found


# This clone's state: bytes that clients and peers sent live here (never scanned for keys).
_CLIENT_DATA = (".stigmem/local/", ".stigmem/index/")


def _regular_files(folder: Path, names: list[str] | None = None) -> list[Path]:
    """The regular files directly in ``folder`` (not following symlinks)."""
    try:
        names = os.listdir(folder) if names is None else names
    except OSError:
        return []
    found = []
    for name in names:
        try:
            if stat.S_ISREG(os.lstat(folder / name).st_mode):
                found.append(folder / name)
        except OSError:
            continue
    return found


def _read_head(path: Path) -> bytes | None:
    """The first _SCAN_LIMIT bytes of a regular file; None for anything else or on error.

    Opened non-blocking and checked after opening: a FIFO swapped in after the listing
    neither blocks the open nor gets read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return os.read(fd, _SCAN_LIMIT)
    except OSError:
        return None
    finally:
        os.close(fd)


def refuse_key_material(root: Path, tracked: list[str]) -> None:
    found = find_key_material(root, tracked)
    if found:
        raise KeyMaterialInVault(
            "private key material found inside the vault: " + ", ".join(found)
            + ". Move it out (keys belong under STIGMEM_HOME), remove it from git history, "
            "and rotate the key.",
            root,
        )
