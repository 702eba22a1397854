"""Where things live in a vault, and the guard that keeps every path inside it.

    <vault>/
      facts/<scope>/<entity dir>/<relation slug>--<id[:12]>.md   one signed fact per file
      entities/<entity dir>.md                                   entity notes (for Obsidian)
      .stigmem/vault.json, trust/, schemas/, allowed_signers     tracked vault config
      .stigmem/local/                                            this clone's state (ignored)
      .obsidian/types.json, templates.json                       property types, template folder
      conflicts/, inbox/, templates/, views/                     for people (unsigned; spec §8.1)

The entity dir is the entity's path segments with a two-hex-digit bucket (from the SHA-256 of
the entity) before the last segment: ``user:alice`` → ``user/2b/alice``. The bucket keeps any
one folder to a few thousand entries at a million facts while the path stays readable.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from pathlib import Path, PurePosixPath

from stigmem_vault.errors import FormatError
from stigmem_vault.model.fact import Fact

FACTS_DIR = "facts"
ENTITIES_DIR = "entities"
CONFIG_DIR = ".stigmem"
LOCAL_DIR = ".stigmem/local"
ID_PREFIX_LEN = 12
MAX_SEGMENT = 80
# A file name may have 255 bytes (ext4, APFS, NTFS in UTF-16 units, ...); the longest name made
# from a segment is the segment plus ".md" (an entity note), so a segment keeps to 252 bytes.
MAX_SEGMENT_BYTES = 255 - len(".md")

_UNSAFE = re.compile(r"[^\w.@+~-]", re.UNICODE)


def _segment(text: str) -> str:
    """One safe path segment: no separators, no leading dot, bounded length (80 code points
    and 252 bytes of UTF-8: 70 four-byte letters are 280 bytes, too long for a file name)."""
    clean = _UNSAFE.sub("_", unicodedata.normalize("NFC", text))
    if not clean or clean.strip(".") == "":
        clean = "_" + clean
    if clean.startswith("."):
        clean = "_" + clean[1:]
    if len(clean) > MAX_SEGMENT or len(clean.encode("utf-8")) > MAX_SEGMENT_BYTES:
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
        head = clean[: MAX_SEGMENT - 9]
        while len(head.encode("utf-8")) > MAX_SEGMENT_BYTES - 9:
            head = head[:-1]
        clean = head + "~" + digest
    return clean


@functools.lru_cache(maxsize=65536)  # entities repeat across facts; this is on the scan path
def entity_segments(entity: str) -> tuple[str, ...]:
    """The entity's directory segments, bucket included."""
    if entity.startswith("stigmem://"):
        parts = entity[len("stigmem://"):].split("/")
    else:
        kind, _, name = entity.partition(":")
        parts = [kind, *name.split("/")]
    parts = [p for p in parts if p] or ["_"]
    bucket = hashlib.sha256(entity.encode("utf-8")).hexdigest()[:2]
    segments = [_segment(p) for p in parts]
    return (*segments[:-1], bucket, segments[-1])


@functools.lru_cache(maxsize=4096)
def relation_slug(relation: str) -> str:
    return _segment(relation.replace(":", ".").replace("/", "_"))


def fact_relpath(fact: Fact) -> PurePosixPath:
    """The canonical vault-relative path of a fact file."""
    name = f"{relation_slug(fact.relation)}--{fact.id[:ID_PREFIX_LEN]}.md"
    return PurePosixPath(FACTS_DIR, fact.scope.value, *entity_segments(fact.entity), name)


@functools.lru_cache(maxsize=65536)  # every note links several entities: a hot path
def entity_note_relpath(entity: str) -> PurePosixPath:
    segments = entity_segments(entity)
    return PurePosixPath(ENTITIES_DIR, *segments[:-1], segments[-1] + ".md")


def wikilink(relpath: PurePosixPath | str, label: str, in_table: bool = False) -> str:
    """An Obsidian wikilink to a vault note; '|' and ']' in labels would break it. Inside a
    Markdown table cell the alias separator is escaped (``[[target\\|alias]]``), or the table
    would split the link into two cells."""
    path = str(relpath)
    target = path[:-3] if path.endswith(".md") else path  # Obsidian adds .md itself
    safe_label = label.replace("|", "/").replace("]", ")").replace("[", "(")
    bar = "\\|" if in_table else "|"
    return f"[[{target}{bar}{safe_label}]]"


def inside(root: Path, relpath: str | PurePosixPath) -> Path:
    """Resolve ``relpath`` under ``root``, refusing traversal, absolute paths and symlinks out."""
    rel = PurePosixPath(relpath)
    if rel.is_absolute() or any(part in ("..", "") for part in rel.parts):
        raise FormatError(str(relpath), "path escapes the vault (absolute or '..')")
    candidate = root / rel
    resolved_root = root.resolve()
    try:
        candidate.resolve().relative_to(resolved_root)
    except ValueError:
        raise FormatError(str(relpath), "path resolves outside the vault (symlink?)") from None
    return candidate


def is_fact_path(relpath: PurePosixPath) -> bool:
    return len(relpath.parts) > 2 and relpath.parts[0] == FACTS_DIR and relpath.suffix == ".md"
