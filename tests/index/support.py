"""Building signed facts and file records to feed an ``Index`` directly (no vault, no files).

The index never reads files: it receives ``FileRecord`` values. These helpers make facts with
explicit HLC stamps, so each test states the order of events instead of relying on a clock.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from nacl.signing import SigningKey

from stigmem_vault.canonical.signing import sign_claim
from stigmem_vault.index.index import Index
from stigmem_vault.index.ingest import FileRecord
from stigmem_vault.model.fact import Fact, make_claim
from stigmem_vault.model.hlc import HLC
from stigmem_vault.model.values import make_value

OWNER = "user:alice"
ENTITY = "stigmem://acme/project/atlas"
RELATION = "codex:current_state"
MULTI = "project:tag"
BASE_MS = 1_764_000_000_000
KEYS = {source: SigningKey(bytes([n]) * 32)
        for n, source in enumerate(("user:alice", "agent:codex", "agent:claude", "system:sync"), 1)}
_paths = itertools.count()


def fact(source: str, value: object, at: int, *, entity: str = ENTITY, relation: str = RELATION,
         scope: str = "team", confidence: float = 1.0, supersedes: str | None = None,
         derived_from: list[str] | None = None, valid_until: str | None = None,
         value_type: str | None = None) -> Fact:
    """A fact signed by ``source``'s key with HLC wall time BASE_MS + ``at``."""
    vtype = value_type or ("number" if isinstance(value, int | float) else "string")
    claim = make_claim(entity=entity, relation=relation, value=make_value(vtype, value),
                       source=source, confidence=confidence, scope=scope, valid_until=valid_until,
                       supersedes=supersedes, derived_from=derived_from)
    return sign_claim(claim, HLC(BASE_MS + at, 0, "node-a"), "2026-11-24T10:00:00.000Z", KEYS[source])


def record(item: Fact, status: str = "valid", path: str | None = None,
           vouched_by: str | None = None) -> FileRecord:
    return FileRecord(path or f"facts/team/f{next(_paths)}.md", 100, 1, None, status, "", item,
                      vouched_by)


def vouched(item: Fact, voucher: str) -> FileRecord:
    """``item`` as a fact ``voucher`` signed in its source's name and may vouch for (§9.5)."""
    return record(item, "vouched", vouched_by=voucher)


def new_index(path: Path, *, multi: frozenset[str] = frozenset({MULTI}),
              fingerprint: str = "fp-1", owner: str = OWNER) -> Index:
    return Index(path, owner=owner, multi_relations=multi, fingerprint=fingerprint)


def add(index: Index, *items: Fact) -> list[FileRecord]:
    records = [record(item) for item in items]
    index.apply(records, [])
    return records
