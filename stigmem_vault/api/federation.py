"""Federation, wired: remotes, sync (pull → verify → import, then push), peers, audit.

A service of the vault (api/vault.py wires it). The rules are in federation/ (what may be
accepted, what is pushed); this module carries them out against the vault: files, commits,
index, trust store.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TypedDict

from stigmem_vault.api.commits import CommitQueue
from stigmem_vault.api.context import VaultContext
from stigmem_vault.api.identities import Identities
from stigmem_vault.api.index_keeper import IndexKeeper
from stigmem_vault.api.results import RemoteStatus
from stigmem_vault.canonical.signing import format_timestamp
from stigmem_vault.errors import FormatError, InvalidFact, NotFound, StigmemError
from stigmem_vault.federation import state as fed
from stigmem_vault.federation.declaration import Declaration, make_declaration, parse_declaration
from stigmem_vault.federation.gardens import judge_gardens
from stigmem_vault.federation.projection import (
    PROJECTION_REF,
    REMOTE_BRANCH,
    TRACKING_REF,
    Tampered,
    check_remote_branch,
    update_projection,
)
from stigmem_vault.federation.pull import Incoming, Rejected, examine, recheck, tracking_branches
from stigmem_vault.federation.transport import fetch, push
from stigmem_vault.index.ingest import FileRecord
from stigmem_vault.model.hlc import HLC
from stigmem_vault.vault import markdown
from stigmem_vault.vault.git import ref_oid
from stigmem_vault.vault.layout import inside
from stigmem_vault.vault.reading import read_regular
from stigmem_vault.vault.store import write_atomic
from stigmem_vault.vault.trust import make_binding
from stigmem_vault.vault.verify import attestation, vouched_by
from stigmem_vault.watch.scan import ScanReport

PEERS_FILE = ".stigmem/local/peers.json"


@dataclass
class SyncReport:
    remote: str
    imported: int = 0
    quarantined: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)
    forged_commits: int = 0
    new_peers: list[str] = field(default_factory=list)
    pushed: list[str] = field(default_factory=list)
    tampered: list[Tampered] = field(default_factory=list)  # our branches put back, audited
    error: str | None = None


class PeerRecord(TypedDict):
    """What this node keeps about a peer (PEERS_FILE maps node ids to these)."""

    status: str  # pending | trusted | revoked
    owner: str
    owner_key: str  # the owner key pinned: the one of the declaration last followed
    node_key: str
    fingerprint: str
    declaration: str  # that declaration, as JSON text
    seen_via: str  # the remote it came from first
    endorsed: Sequence[Sequence[str]]  # (source, key) pairs our owner endorsed for it


@dataclass(frozen=True, slots=True)
class PeerInfo:
    node_id: str
    owner: str
    fingerprint: str
    status: str  # pending | trusted | revoked
    scopes: tuple[str, ...]
    identities: tuple[tuple[str, str], ...]
    seen_via: str = ""  # the remote its declaration came from first


class Federation:
    """Remotes, sync, peers and the audit log of one open vault."""

    def __init__(self, ctx: VaultContext, commits: CommitQueue | None, keeper: IndexKeeper,
                 identities: Identities, reload_config: Callable[[], ScanReport | None]) -> None:
        self._ctx = ctx
        self._commits_or_none = commits
        self._keeper = keeper
        self._identities = identities
        self._reload_config = reload_config

    @property
    def _commits(self) -> CommitQueue:
        self._ctx.writer()
        assert self._commits_or_none is not None
        return self._commits_or_none

    # ------------------------------------------------------------- remotes

    def remotes(self) -> list[fed.Remote]:
        return sorted(fed.load_remotes(self._ctx.root).values(), key=lambda r: r.name)

    def add_remote(self, name: str, url: str, scopes: list[str]) -> fed.Remote:
        self._ctx.writer()
        remote = fed.parse_remote(name, url, scopes)
        remotes = fed.load_remotes(self._ctx.root)
        if remote.name in remotes:
            raise InvalidFact("name", f"remote {remote.name!r} exists; remove it first")
        remotes[remote.name] = remote
        fed.save_remotes(self._ctx.root, remotes)
        return remote

    def remove_remote(self, name: str) -> None:
        remotes = fed.load_remotes(self._ctx.root)
        if name not in remotes:
            raise NotFound("remote", name)
        del remotes[name]
        fed.save_remotes(self._ctx.root, remotes)

    def _remote(self, name: str) -> fed.Remote:
        remotes = fed.load_remotes(self._ctx.root)
        if name not in remotes:
            raise NotFound("remote", name)
        return remotes[name]

    # ------------------------------------------------------------- sync

    def sync(self, name: str | None = None) -> list[SyncReport]:
        """Pull, verify and import from each remote (or ``name``), then push our projections."""
        _node, git, _key, _clock = self._ctx.writer()
        targets = [self._remote(name)] if name else self.remotes()
        reports = []
        for remote in targets:
            report = SyncReport(remote.name)
            sync_state = fed.load_state(self._ctx.root, remote.name)
            try:
                with git.locked():
                    self._pull(remote, sync_state, report)
                    self._push(remote, sync_state, report)
                sync_state.failures, sync_state.last_error = 0, None
            except StigmemError as exc:
                sync_state.failures += 1
                sync_state.last_error = report.error = str(exc)
            sync_state.last_sync = fed.now_iso()
            fed.save_state(self._ctx.root, remote.name, sync_state)
            reports.append(report)
        return reports

    def _pull(self, remote: fed.Remote, sync_state: fed.SyncState,
              report: SyncReport) -> None:
        node, git, _key, clock = self._ctx.writer()
        unfetchable = fetch(git.repo, remote)
        peers = self._peers_state()
        node_keys = {nid: p["node_key"] for nid, p in peers.items() if p["status"] == "trusted"}
        result = examine(git.repo, remote, sync_state.accepted, self._ctx.trust,
                         lambda fid: self._keeper.index.get(fid) is not None, node_keys, node.node_id)
        trust_before = self._ctx.trust
        for declaration in result.declarations:
            if self._note_declaration(declaration, remote.name):
                report.new_peers.append(declaration.node_id)
        if self._ctx.trust is not trust_before:
            # A trusted peer's new declaration was followed (a key rotation): judge the facts
            # again with the keys it endorsed (examine only reads git objects).
            node_keys = {nid: p["node_key"] for nid, p in self._peers_state().items()
                         if p["status"] == "trusted"}
            result = examine(git.repo, remote, sync_state.accepted, self._ctx.trust,
                             lambda fid: self._keeper.index.get(fid) is not None, node_keys, node.node_id)
        judge_gardens(result, [item.fact for item in self._keeper.index.garden_records()])
        for rejected in result.rejected:
            self._reject(remote.name, rejected)
        for branch, commit, why in result.forged_commits:
            fed.audit(self._ctx.root, fed.AuditEntry(fed.now_iso(), remote.name, "forged-commit", why,
                                                branch, commit))
        for branch, old, base in result.overwritten:
            fed.audit(self._ctx.root, fed.AuditEntry(
                fed.now_iso(), remote.name, "overwritten-by-owner",
                f"its node replaced commits it did not sign (up to our accepted {old}) with its "
                f"own history; examined from its last own commit {base}", branch, old))
        result.refused.extend(unfetchable)
        for branch, why in result.refused:
            fed.audit(self._ctx.root, fed.AuditEntry(fed.now_iso(), remote.name, "refused-update", why,
                                                branch))
        report.imported = self._import(result.accepted, f"sync: from {remote.name}")
        report.quarantined = sum(1 for r in result.rejected if r.data is not None)
        report.refused = result.refused
        report.forged_commits = len(result.forged_commits)
        sync_state.accepted.update(result.tips)
        sync_state.quarantined += report.quarantined
        sync_state.imported += report.imported
        if result.accepted:
            clock.receive(max(HLC.parse(i.fact.hlc) for i in result.accepted))

    def _push(self, remote: fed.Remote, sync_state: fed.SyncState,
              report: SyncReport) -> None:
        node, git, node_key, _clock = self._ctx.writer()
        self._publish_declaration()
        self._commits.flush()  # projections are built from HEAD
        specs, leases, repairs = [], {}, []
        for scope in remote.scopes:
            tip = update_projection(git, scope, node_key, node.source,
                                    f"{node.node_id}@stigmem.invalid", self._ctx.trust)
            if tip is None:
                continue
            # We are the only writer of our branch: whatever the fetch just found there that is
            # not ours is put right (and audited); every push is leased on what was fetched.
            dst = REMOTE_BRANCH.format(scope=scope, node=node.node_id)
            branch = dst.removeprefix("refs/heads/")
            tracking = git.repo.references.get(
                TRACKING_REF.format(remote=remote.name, scope=scope, node=node.node_id))
            found = ref_oid(tracking) if tracking is not None else None
            if found == tip:
                sync_state.pushed[scope] = str(tip)
                continue
            tampered = check_remote_branch(git.repo, branch, tip, found,
                                           sync_state.pushed.get(scope))
            force = "+" if tampered is not None and tampered.action == "overwrote" else ""
            specs.append((scope, str(tip), f"{force}{PROJECTION_REF.format(scope=scope)}:{dst}"))
            leases[dst] = str(found) if found is not None else None
            if tampered is not None:
                repairs.append(tampered)
        push(git.repo, remote, [spec for _, _, spec in specs], leases)
        for scope, pushed_tip, _spec in specs:
            sync_state.pushed[scope] = pushed_tip
            report.pushed.append(scope)
        for tampered in repairs:
            fed.audit(self._ctx.root, fed.AuditEntry(fed.now_iso(), remote.name, "projection-tampered",
                                                tampered.describe(), tampered.branch,
                                                tampered.found))
            report.tampered.append(tampered)

    def _import(self, incoming: list[Incoming], note: str) -> int:
        """Write verified facts at their paths, commit them together and index them."""
        records: list[FileRecord] = []
        data: dict[str, bytes] = {}
        safe_dirs: set[PurePosixPath] = set()
        hook = self._ctx.progress
        for number, item in enumerate(incoming, 1):
            if hook is not None and (number % 100 == 0 or number == len(incoming)):
                hook("importing", number, len(incoming))
            # The pull refused unsafe names; resolving each folder once keeps symlinked folders
            # from redirecting a write outside the vault.
            parent = PurePosixPath(item.path).parent
            if parent not in safe_dirs:
                inside(self._ctx.root, parent)
                safe_dirs.add(parent)
            target = self._ctx.root / item.path
            try:
                # No fsync per file: an import is repeatable (nothing is marked accepted until
                # after the commit and one os.sync below), so a torn file is rewritten next time.
                write_atomic(target, item.data, exclusive=True, sync=False,
                             scratch=self._ctx.scratch)
            except FileExistsError:
                if not _keep_existing(target, item):
                    write_atomic(target, item.data, sync=False,  # a torn earlier import
                                 scratch=self._ctx.scratch)
                continue
            self._keeper.remember_write(item.path, item.data)
            data[item.path] = item.data
            st = target.stat()
            verdict, reason = attestation(item.fact, self._ctx.trust)  # verified on import
            records.append(FileRecord(item.path, st.st_size, st.st_mtime_ns, None, verdict.value,
                                      f"verified on import: {reason}", item.fact,
                                      vouched_by(verdict, item.fact, self._ctx.trust)))
        if records:
            os.sync()
            self._keeper.ingest(records, [])
            # One commit for the whole import, not one per 256 files.
            with self._commits.locked():
                self._commits.add([(r.path, data[r.path]) for r in records],
                                  [f"{note}: {len(records)} fact(s)"])
                self._commits.flush()
        return len(records)

    def _reject(self, remote: str, rejected: Rejected) -> None:
        kept = None
        if rejected.data is not None and rejected.blob is not None:
            kept = fed.quarantine(self._ctx.root, remote, rejected.blob, rejected.data)
        fed.audit(self._ctx.root, fed.AuditEntry(fed.now_iso(), remote, rejected.kind, rejected.reason,
                                            rejected.branch, rejected.commit, rejected.path, kept))

    # ------------------------------------------------------------- peers

    def _peers_state(self) -> dict[str, PeerRecord]:
        try:
            text = (self._ctx.root / PEERS_FILE).read_text("utf-8")
        except FileNotFoundError:
            return {}
        peers: dict[str, PeerRecord] = json.loads(text)  # as _save_peers wrote it
        return peers

    def _save_peers(self, peers: dict[str, PeerRecord]) -> None:
        text = json.dumps(peers, indent=2, sort_keys=True) + "\n"
        write_atomic(self._ctx.root / PEERS_FILE, text.encode())

    def _note_declaration(self, declaration: Declaration, remote: str) -> bool:
        """Remember a peer's declaration; True if it is new (pending the operator's decision)."""
        if self._ctx.node is not None and declaration.node_id == self._ctx.node.node_id:
            return False
        peers = self._peers_state()
        known = peers.get(declaration.node_id)
        if known is not None and known["declaration"] == declaration.to_json():
            return False
        if known is not None and known["status"] == "trusted":
            # A trusted peer changed its declaration: follow it only along its own key chain.
            if declaration.owner_key != known["owner_key"] and (
                    declaration.previous is None
                    or declaration.previous.old_key != known["owner_key"]):
                fed.audit(self._ctx.root, fed.AuditEntry(
                    fed.now_iso(), remote, "peer-declaration",
                    f"{declaration.node_id} presents a new owner key without a rotation signed "
                    "by the pinned key; ignored"))
                return False
            known.update({"declaration": declaration.to_json(), "owner_key": declaration.owner_key,
                          "node_key": declaration.node_key})
            self._save_peers(peers)
            self._endorse(declaration)
            return False
        peers[declaration.node_id] = {
            "status": "pending", "owner": declaration.owner, "owner_key": declaration.owner_key,
            "node_key": declaration.node_key, "fingerprint": declaration.fingerprint,
            "declaration": declaration.to_json(), "seen_via": remote, "endorsed": [],
        }
        self._save_peers(peers)
        return True

    def peers(self) -> list[PeerInfo]:
        result = []
        for node_id, info in sorted(self._peers_state().items()):
            declaration = parse_declaration(info["declaration"], node_id)
            result.append(PeerInfo(node_id, declaration.owner, declaration.fingerprint,
                                   info["status"], declaration.scopes, declaration.identities,
                                   info.get("seen_via", "")))
        return result

    def trust_peer(self, node_id: str, fingerprint: str | None = None) -> PeerInfo:
        """Admit a peer: pin its owner key and endorse its identities; re-check quarantine."""
        self._ctx.writer()
        peers = self._peers_state()
        info = peers.get(node_id)
        if info is None:
            raise NotFound("peer", node_id, "sync with a remote that carries its projection first")
        declaration = parse_declaration(info["declaration"], node_id)
        if fingerprint is not None and fingerprint != declaration.fingerprint:
            raise InvalidFact("fingerprint", f"{fingerprint} does not match the declared owner key "
                                             f"({declaration.fingerprint}); do not trust this peer")
        info["status"] = "trusted"
        self._save_peers(peers)
        self._endorse(declaration)
        self.recheck_quarantine()
        return next(p for p in self.peers() if p.node_id == node_id)

    def _endorse(self, declaration: Declaration) -> None:
        """Our owner vouches for the peer's identities, except sources already bound here."""
        owner_key = self._ctx.require_key(self._ctx.config.owner_key, self._ctx.config.owner)
        peers = self._peers_state()
        info = peers[declaration.node_id]
        endorsed = {tuple(pair) for pair in info.get("endorsed", [])}
        now = format_timestamp(datetime.now(UTC))
        with self._commits.locked():
            for source, key in declaration.identities:
                if (source, key) in endorsed or self._ctx.trust.is_bound(source, key):
                    continue
                if self._ctx.trust.keys_for(source) and not _from_peer(peers, source):
                    fed.audit(self._ctx.root, fed.AuditEntry(
                        fed.now_iso(), info.get("seen_via", ""), "peer-identity",
                        f"{declaration.node_id} claims {source}, which is bound here to another key; "
                        "not endorsed"))
                    continue
                self._identities.add_binding(make_binding(source, key, now, owner_key),
                                  f"endorse {source} via {declaration.node_id}")
                endorsed.add((source, key))
            # The declaration itself travels on in our projections, so others can admit the peer.
            text = declaration.to_json().encode()
            write_atomic(self._ctx.root / declaration.relpath, text)
            self._commits.add([(declaration.relpath, text)],
                              [f"peer {declaration.node_id} trusted"])
            self._commits.flush()
        info["endorsed"] = sorted(endorsed)
        self._save_peers(peers)
        self._reload_config()

    def revoke_peer(self, node_id: str) -> None:
        """Withdraw trust: remove the bindings endorsed for the peer; its facts stop verifying."""
        peers = self._peers_state()
        info = peers.get(node_id)
        if info is None:
            raise NotFound("peer", node_id)
        endorsed = {tuple(pair) for pair in info.get("endorsed", [])}
        with self._commits.locked():
            for binding in self._ctx.trust.bindings():
                if (binding.source, binding.key) in endorsed:
                    (self._ctx.root / binding.relpath()).unlink(missing_ok=True)
                    self._commits.remove(binding.relpath(), f"revoke {binding.source} via {node_id}")
            self._commits.flush()
        info["status"], info["endorsed"] = "revoked", []
        self._save_peers(peers)
        self._ctx.reload_trust()
        self._reload_config()

    def recheck_quarantine(self) -> int:
        """Import quarantined facts that verify now (their signer was admitted since, or its
        key may now vouch, §9.3)."""
        incoming: list[Incoming] = []
        for entry in fed.read_audit(self._ctx.root):
            if entry.kind != "untrusted-signer" or not entry.quarantined or not entry.path:
                continue
            path = self._ctx.root / entry.quarantined
            branch_scope = (entry.branch or "").split("/")[1:2]
            if not path.exists() or not branch_scope or not entry.path.startswith(
                    f"facts/{branch_scope[0]}/"):
                continue  # only what came on a branch of that very scope
            remote = fed.load_remotes(self._ctx.root).get(entry.remote)
            if remote is None or branch_scope[0] not in remote.scopes:
                continue  # the remote was removed, or no longer carries that scope
            try:
                data = read_regular(path, entry.quarantined)
            except FormatError:
                continue  # not a regular file (never opened), or unreadable
            fact, _reason = recheck(data, entry.path, self._ctx.trust)
            if fact is not None and self._keeper.index.get(fact.id) is None:
                incoming.append(Incoming(entry.path, data, fact))
                path.unlink()
        return self._import(incoming, "sync: quarantined facts now verify")

    def _publish_declaration(self) -> None:
        node, _git, _key, _clock = self._ctx.writer()
        owner_key = self._ctx.require_key(self._ctx.config.owner_key, self._ctx.config.owner)
        endorsed = {tuple(pair) for info in self._peers_state().values()
                    for pair in info.get("endorsed", [])}
        identities = sorted({(b.source, b.key) for b in self._ctx.trust.bindings()} - endorsed)
        scopes = sorted({s for r in self.remotes() for s in r.scopes})
        rel = f".stigmem/peers/{node.node_id}.json"
        current = None
        with contextlib.suppress(OSError, InvalidFact):
            current = parse_declaration((self._ctx.root / rel).read_text("utf-8"), rel)
        if current is not None and (current.identities, current.scopes, current.owner_key) == (
                tuple(identities), tuple(scopes), self._ctx.config.owner_key):
            return
        # After an owner-key rotation, the previous owner key vouches for the new one, so a
        # peer that pinned the old key can follow (the key stays in this machine's key store).
        previous_key = (self._ctx.keys.load(self._ctx.config.previous_owner_keys[-1]["key"])
                        if self._ctx.config.previous_owner_keys else None)
        declaration = make_declaration(owner=self._ctx.config.owner, owner_key=owner_key,
                                       node_key=node.key, scopes=scopes, identities=identities,
                                       signed_at=fed.now_iso(), previous_key=previous_key)
        with self._commits.locked():
            text = declaration.to_json().encode()
            write_atomic(self._ctx.root / rel, text)
            self._commits.add([(rel, text)], ["publish peer declaration"])
            self._commits.flush()

    # ------------------------------------------------------------- status

    def audit_log(self, limit: int | None = None) -> list[fed.AuditEntry]:
        return fed.read_audit(self._ctx.root, limit)

    def sync_status(self) -> list[RemoteStatus]:
        rows = []
        git = self._ctx.git
        for remote in self.remotes():
            st = fed.load_state(self._ctx.root, remote.name)
            behind = 0
            if git is not None:
                for ref, scope, node_id in tracking_branches(git.repo, remote):
                    if self._ctx.node is not None and node_id == self._ctx.node.node_id:
                        continue  # our own projection, echoed back by the fetch
                    if st.accepted.get(f"stigmem/{scope}/{node_id}") != str(git.repo.references[ref].target):
                        behind += 1
            ahead = 0
            if git is not None:
                for scope in remote.scopes:
                    try:
                        tip = str(git.repo.references[PROJECTION_REF.format(scope=scope)].target)
                    except KeyError:
                        continue
                    ahead += int(st.pushed.get(scope) != tip)
            rows.append(RemoteStatus(
                remote=remote.name, url=remote.url, scopes=list(remote.scopes),
                last_sync=st.last_sync, last_error=st.last_error, ahead=ahead, behind=behind,
                imported=st.imported, failures=st.failures,
                quarantined=_count_files(self._ctx.root / fed.QUARANTINE_DIR / remote.name)))
        return rows

    def next_delay(self, reports: list[SyncReport], interval: float,
                   max_backoff: float) -> float:
        """How long a background sync waits after ``reports``: ``interval``, or while a
        remote fails, exponentially longer (±20% jitter) up to ``max_backoff``."""
        failures = max((fed.load_state(self._ctx.root, r.remote).failures for r in reports),
                       default=0)
        base = min(max_backoff, interval * (2 ** failures)) if failures else interval
        return base * random.uniform(0.8, 1.2)


def _keep_existing(target: Path, item: Incoming) -> bool:
    """Whether the file already at ``target`` stays: the same bytes, or a readable fact other
    than ``item``'s (never overwritten). False for a torn, unreadable copy: rewrite it."""
    try:
        existing = read_regular(target, str(target))
    except FormatError:  # a FIFO or symlink (never opened) is no fact: put the fact there
        return target.is_file() and not target.is_symlink()
    if existing == item.data:
        return True  # the same bytes: nothing to do
    try:
        return markdown.parse(existing.decode("utf-8"), str(target)).fact.id != item.fact.id
    except (UnicodeDecodeError, FormatError):
        return False


def _count_files(directory: Path) -> int:
    return sum(1 for p in directory.iterdir() if p.is_file()) if directory.is_dir() else 0


def _from_peer(peers: dict[str, PeerRecord], source: str) -> bool:
    return any(pair[0] == source for info in peers.values()
               for pair in info.get("endorsed", []))

