"""Wiring the vault to its index: opening it, keeping it in step, conflict notes.

Used by ``Vault`` only. The index's derived state depends on the owner, the trust store and
the relation cardinalities as well as on the facts, so those go into its fingerprint: change
any of them and the index is rebuilt on the next open.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from stigmem_vault.index.db import INDEX_FILE
from stigmem_vault.index.index import Index
from stigmem_vault.index.ingest import Key
from stigmem_vault.index.query import ConflictRecord
from stigmem_vault.model.relations import Cardinality
from stigmem_vault.vault.notes import ConflictView, conflict_note_relpath, render_conflict
from stigmem_vault.watch.scan import Progress, ScanReport, scan

if TYPE_CHECKING:
    from stigmem_vault.api.vault import Vault

# Bump when the rules that derive liveness/conflicts change: old indexes then rebuild.
RULES_VERSION = "rules/2"


def fingerprint(vault: Vault) -> str:
    state = {
        "rules": RULES_VERSION,
        "owner": vault.config.owner,
        "owner_key": vault.config.owner_key,
        "bindings": sorted((b.source, b.key, b.signature) for b in vault.trust.bindings()),
        "multi": sorted(multi_relations(vault)),
    }
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()


def multi_relations(vault: Vault) -> frozenset[str]:
    return frozenset(r for r, s in vault.schemas.items() if s.cardinality is Cardinality.MULTI)


def index_path(vault: Vault) -> Path:
    """Where the index lives: inside the vault (``.stigmem/index/``, this clone's cache, never
    committed), except for a copy without a node identity, whose index goes to the user's
    cache so that reading someone else's vault never writes into it."""
    if vault.node is not None:
        return vault.root / INDEX_FILE
    digest = hashlib.sha256(str(vault.root).encode()).hexdigest()[:16]
    return vault.keys.home / "cache" / digest / "index.sqlite3"


def open_index(vault: Vault) -> Index:
    return Index(index_path(vault), owner=vault.config.owner,
                 multi_relations=multi_relations(vault), fingerprint=fingerprint(vault))


def refresh(vault: Vault, index: Index, progress: Progress | None = None) -> ScanReport:
    """Incremental scan of the fact files, then the conflict notes of every touched key."""
    report = scan(vault.root, index, vault.trust, progress)
    sync_conflict_notes(vault, index, report.dirty_keys)
    return report


def sync_conflict_notes(vault: Vault, index: Index, keys: Iterable[Key]) -> int:
    """Write or update the conflict note of every conflict on ``keys``; return how many changed."""
    if not vault.writable:
        return 0
    changed = 0
    for record in index.conflicts_on(set(keys)):
        view = _view(index, record)
        if view is None:
            continue
        rel = str(conflict_note_relpath(record.id, record.entity, record.relation, record.scope))
        if vault.write_note(rel, render_conflict(view), f"conflict {record.id[:12]} {record.status}"):
            changed += 1
    return changed


def _view(index: Index, record: ConflictRecord) -> ConflictView | None:
    if record.fact_a is None or record.fact_b is None:
        return None
    resolution = index.get(record.resolution) if record.resolution else None
    return ConflictView(record.id, record.entity, record.relation, record.scope, record.status,
                        record.fact_a.fact, record.fact_b.fact,
                        resolution.fact if resolution else None)
