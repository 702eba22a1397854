"""This clone's federation state: remotes, per-remote sync state, the audit log, quarantine.

All of it lives under ``.stigmem/local/`` (never pushed): which remotes this clone talks to is
a local decision, like git's own remotes.

* ``remotes.json``          name -> url and the scopes the remote may carry
* ``sync/<remote>.json``    accepted branch tips (rewind detection), last sync, last error
* ``audit.jsonl``           one JSON object per rejected item or refused update (append-only)
* ``quarantine/<remote>/``  the bytes of every rejected file, kept for inspection
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from stigmem_vault.errors import InvalidFact, VaultConfigError
from stigmem_vault.model.fact import Scope
from stigmem_vault.vault.store import write_atomic

LOCAL = ".stigmem/local"
REMOTES_FILE = f"{LOCAL}/remotes.json"
AUDIT_FILE = f"{LOCAL}/audit.jsonl"
QUARANTINE_DIR = f"{LOCAL}/quarantine"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
SHAREABLE_SCOPES = (Scope.TEAM.value, Scope.COMPANY.value, Scope.PUBLIC.value)


@dataclass(frozen=True, slots=True)
class Remote:
    name: str
    url: str
    scopes: tuple[str, ...]


@dataclass
class SyncState:
    accepted: dict[str, str] = field(default_factory=dict)  # remote branch -> accepted tip
    pushed: dict[str, str] = field(default_factory=dict)  # scope -> last pushed projection
    last_sync: str | None = None
    last_error: str | None = None
    failures: int = 0  # consecutive, for backoff
    quarantined: int = 0
    imported: int = 0


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_remote(name: str, url: str, scopes: list[str]) -> Remote:
    name = name.strip().lower()
    if not _NAME.match(name):
        raise InvalidFact("name", f"{name!r}: a remote name is 1-64 of [a-z0-9_.-]")
    if not url.strip():
        raise InvalidFact("url", "must not be empty")
    parsed = []
    for raw in scopes:
        scope = raw.strip().lower()
        if scope == Scope.LOCAL.value:
            raise InvalidFact("scopes", "local facts never leave this machine; a remote cannot "
                                        "carry the local scope")
        if scope not in SHAREABLE_SCOPES:
            raise InvalidFact("scopes", f"{raw!r} is not one of: {', '.join(SHAREABLE_SCOPES)}")
        parsed.append(scope)
    if not parsed:
        raise InvalidFact("scopes", "a remote carries at least one scope (team, company, public)")
    return Remote(name, url.strip(), tuple(dict.fromkeys(parsed)))


def load_remotes(root: Path) -> dict[str, Remote]:
    path = root / REMOTES_FILE
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise VaultConfigError(f"unreadable remotes: {exc}", path) from None
    return {name: Remote(name, item["url"], tuple(item["scopes"])) for name, item in data.items()}


def save_remotes(root: Path, remotes: dict[str, Remote]) -> None:
    data = {r.name: {"url": r.url, "scopes": list(r.scopes)} for r in remotes.values()}
    write_atomic(root / REMOTES_FILE, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())


def load_state(root: Path, remote: str) -> SyncState:
    path = root / LOCAL / "sync" / f"{remote}.json"
    try:
        return SyncState(**json.loads(path.read_text("utf-8")))
    except FileNotFoundError:
        return SyncState()
    except (OSError, ValueError, TypeError) as exc:
        raise VaultConfigError(f"unreadable sync state: {exc}", path) from None


def save_state(root: Path, remote: str, state: SyncState) -> None:
    path = root / LOCAL / "sync" / f"{remote}.json"
    write_atomic(path, (json.dumps(asdict(state), indent=2, sort_keys=True) + "\n").encode())


@dataclass(frozen=True, slots=True)
class AuditEntry:
    ts: str
    remote: str
    kind: str  # rejected-fact, refused-update, forged-commit, peer-declaration, ...
    reason: str
    branch: str | None = None
    commit: str | None = None
    path: str | None = None
    quarantined: str | None = None  # where the rejected bytes were kept


def audit(root: Path, entry: AuditEntry) -> None:
    """Append to the audit log (fsynced: an audit record must survive a crash)."""
    path = root / AUDIT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(asdict(entry), sort_keys=True) + "\n"
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line)
        handle.flush()
        import os

        os.fsync(handle.fileno())


def read_audit(root: Path, limit: int | None = None) -> list[AuditEntry]:
    try:
        lines = (root / AUDIT_FILE).read_text("utf-8").splitlines()
    except FileNotFoundError:
        return []
    entries = []
    for line in lines[-limit:] if limit else lines:
        try:
            entries.append(AuditEntry(**json.loads(line)))
        except (ValueError, TypeError):
            continue  # a torn last line after a crash: skip it
    return entries


def quarantine(root: Path, remote: str, blob_id: str, data: bytes) -> str:
    rel = f"{QUARANTINE_DIR}/{remote}/{blob_id}.quarantined"
    write_atomic(root / rel, data, sync=False)
    return rel
