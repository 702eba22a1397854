"""``Vault``: the one Python API. The CLI, the HTTP node and the MCP server call this and
nothing below it.

    vault = Vault.init(path, owner="user:alice")        # or Vault.open(path)
    fact = vault.assert_fact(entity="user:alice", relation="memory:role", value="engineer",
                             source="agent:codex", scope="team")
    vault.close()                                        # commits what is pending

Writes are durable when ``assert_fact`` returns (fsynced file); commits are batched: one
commit per ``commit_every`` writes, after ``commit_delay`` seconds of quiet, or on ``flush()``
and ``close()``. A crash before the commit loses nothing: the next writer to open the vault
commits the files (api/commits.py).

The façade only opens the vault and wires its services, each in a module of its own and
none aware of this class:

    context.py       VaultContext: folder, config, keys, trust store, schemas, clock, git
    commits.py       CommitQueue: what the next signed commit holds; recovery
    index_keeper.py  IndexKeeper: the index, scans, conflict notes, every query
    facts.py         FactWriter: check, sign, durably write (writer.py: group writes)
    identities.py    Identities: key pairs and trust bindings
    gestures.py      GestureApplier: edits of notes become new signed facts
    federation.py    Federation: remotes, sync, peers, audit
    access.py        AccessControl: tokens and principals; view.py: a principal's fenced view
    inspection.py    Inspector: fact files as they are on disk, verify, status
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from nacl.signing import SigningKey

from stigmem_vault.api.access import AccessControl, Principal
from stigmem_vault.api.commits import CommitQueue, Recovery, pid_alive
from stigmem_vault.api.context import ProgressHook, VaultContext
from stigmem_vault.api.facts import FactWriter, infer_type
from stigmem_vault.api.federation import Federation, PeerInfo, SyncReport
from stigmem_vault.api.gardens import Gardens
from stigmem_vault.api.gestures import GestureApplier, find_pending
from stigmem_vault.api.identities import Identities
from stigmem_vault.api.index_keeper import IndexKeeper
from stigmem_vault.api.inspection import Inspector
from stigmem_vault.api.results import (
    Change,
    Explanation,
    FactView,
    Identity,
    Neighbor,
    PendingNote,
    Provenance,
    RemoteStatus,
    Status,
    VerifyReport,
)
from stigmem_vault.api.view import PrincipalView
from stigmem_vault.errors import IdentityError, MisuseError, StigmemError, VaultConfigError
from stigmem_vault.federation import state as fed
from stigmem_vault.index.index import Index
from stigmem_vault.index.ingest import FileRecord
from stigmem_vault.index.query import ConflictRecord, Filters, IndexedFact, Recalled
from stigmem_vault.model.fact import Claim, Fact, Scope, TrustClass, make_claim, parse_enum
from stigmem_vault.model.relations import RelationSchema
from stigmem_vault.model.values import ValueType, make_value
from stigmem_vault.vault import config as cfg
from stigmem_vault.vault import tokens as token_store
from stigmem_vault.vault.clock import Clock
from stigmem_vault.vault.git import GitRepo
from stigmem_vault.vault.git_state import tracked_paths_containing
from stigmem_vault.vault.keys import KeyStore, stigmem_home
from stigmem_vault.vault.layout import FACTS_DIR, fact_relpath
from stigmem_vault.vault.trust import TrustStore
from stigmem_vault.vault.verify import verify_bytes
from stigmem_vault.watch.scan import Progress, ScanReport, is_fact_path
from stigmem_vault.watch.watcher import Watcher

COMMIT_EVERY = 256
COMMIT_DELAY = 0.5

__all__ = ["COMMIT_DELAY", "COMMIT_EVERY", "Vault", "VaultConfigError", "infer_type"]


class Vault:
    """An open vault: its files, keys, trust store, schemas, clock, git history and index."""

    def __init__(self, root: Path, home: Path, *, commit_every: int = COMMIT_EVERY,
                 commit_delay: float | None = COMMIT_DELAY, read_only: bool = False,
                 progress: ProgressHook | None = None) -> None:
        keys = KeyStore(home)
        config = cfg.read_vault_config(root)  # first: "not a vault" beats everything
        keys.check_outside(root)
        # Without a node identity this copy is read-only: anyone holding the vault can still
        # list and verify every fact, offline.
        node = cfg.read_node_config(root) if (root / cfg.NODE_FILE).exists() else None
        git = GitRepo.open(root, root / cfg.LOCK_FILE) if (root / ".git").exists() else None
        if node is not None and git is None:
            raise VaultConfigError("the vault has a node identity but no git repository", root)
        cfg.refuse_key_material(root, _all_paths(root, git))
        ctx = VaultContext(root, keys, config, node, git,
                           TrustStore.load(root, config.owner_keys(), config.owner),
                           cfg.load_schemas(root),
                           None, None, read_only, progress=progress)
        if node is not None:
            ctx.clock = Clock(node.node_id, root / cfg.CLOCK_FILE)
            try:
                ctx.node_key = ctx.require_key(node.key, node.source)
            except IdentityError as exc:
                # Reading needs no private key: a read-only open lists and verifies without
                # one. Writing does (this clone cannot sign commits without it).
                if not read_only:
                    raise VaultConfigError(str(exc), root) from None
        self._ctx = ctx
        # What the next commit contains, and only that. A read-only open has none: it never
        # writes to the vault, takes its write lock or recovers.
        self.commits: CommitQueue | None = None
        if node is not None and git is not None and not read_only:
            self.commits = CommitQueue(root, git, self._commit_signer, every=commit_every,
                                       delay=commit_delay, on_error=ctx.notify)
        self._keeper = IndexKeeper(ctx, self.commits)
        self._facts = FactWriter(ctx, self.commits, self._keeper)
        self._identities = Identities(ctx, self.commits, self.reload_config)
        self._inspector = Inspector(ctx)
        self._access = AccessControl(ctx, self._facts)
        self._gardens = Gardens(ctx, self._keeper, self._facts)
        self._federation = Federation(ctx, self.commits, self._keeper, self._identities,
                                      self.reload_config)
        self._gestures: GestureApplier | None = None
        if self.commits is not None:
            self._gestures = GestureApplier(ctx, self.commits, self._keeper, self._facts,
                                            self._identities, self.reload_config)
            self._keeper.carry_out = self._gestures.apply
        self.init_report: list[tuple[str, str]] = []  # files `init --from` did not import
        self.recovery: Recovery | None = None
        if self.commits is not None:
            self.recovery = self.commits.recover(self._verifies)
            _clear_scratch(ctx.scratch)

    # ----------------------------------------------------------------- lifecycle

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, home: str | os.PathLike[str] | None = None,
             commit_every: int = COMMIT_EVERY, commit_delay: float | None = COMMIT_DELAY,
             read_only: bool = False, progress: ProgressHook | None = None) -> Vault:
        """Open the vault at ``path``. ``progress(what, done, total)`` hears about long work
        (the first index of a fresh clone, a sync's import); the API itself never prints."""
        return cls(Path(path).resolve(), Path(home) if home else stigmem_home(),
                   commit_every=commit_every, commit_delay=commit_delay, read_only=read_only,
                   progress=progress)

    @classmethod
    def init(cls, path: str | os.PathLike[str], *, owner: str,
             home: str | os.PathLike[str] | None = None,
             template: str | os.PathLike[str] | None = None,
             commit_every: int = COMMIT_EVERY, commit_delay: float | None = COMMIT_DELAY,
             progress: ProgressHook | None = None) -> Vault:
        """Create a vault: git repo, .stigmem/, owner and node identities, first signed commit.

        With ``template`` (another vault's folder), its valid facts, schemas and identities
        are imported; the new owner endorses the template's keys by re-signing their bindings.
        The imported facts are then indexed and their entity and conflict notes committed.
        """
        from stigmem_vault.api.setup import create_vault  # setup is only needed once

        root = Path(path).resolve()
        home_dir = Path(home) if home else stigmem_home()
        skipped = create_vault(root, owner, KeyStore(home_dir),
                               Path(template).resolve() if template else None, progress)
        vault = cls(root, home_dir, commit_every=commit_every, commit_delay=commit_delay,
                    progress=progress)
        vault.init_report = skipped
        if template is not None:
            # Index the imported facts now and commit their entity and conflict notes, so the
            # links in the imported fact notes resolve in the vault a person opens next.
            vault.refresh()
            vault.flush()
        return vault

    def close(self) -> None:
        if self._ctx.closed:
            return
        self._facts.close()
        if self.commits is not None:
            self._keeper.flush_entity_notes()
            git = self._ctx.git
            try:
                self.commits.close()
            except BaseException:
                if git is not None:  # stop its timer; the commit's error is the one to report
                    with contextlib.suppress(StigmemError):
                        git.close()
                raise
            if git is not None:
                git.close()  # git's index, written behind the commits
        self._keeper.close()
        self._ctx.closed = True

    def __enter__(self) -> Vault:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _commit_signer(self) -> tuple[SigningKey, str, str]:
        node, _git, key, _clock = self._ctx.writer()
        return key, node.source, f"{node.node_id}@stigmem.invalid"

    def _verifies(self, rel: str, data: bytes) -> str | None:
        """Why ``data`` at ``rel`` does not verify (None: it does, or it is no fact file)."""
        if not rel.startswith(FACTS_DIR + "/"):
            return None
        item = verify_bytes(rel, data, self._ctx.trust)
        return None if item.acceptable else f"{item.verdict.value}: {item.reason}"

    # ----------------------------------------------------------------- what it is

    @property
    def root(self) -> Path:
        return self._ctx.root

    @property
    def keys(self) -> KeyStore:
        return self._ctx.keys

    @property
    def config(self) -> cfg.VaultConfig:
        return self._ctx.config

    @property
    def node(self) -> cfg.NodeConfig | None:
        return self._ctx.node

    @property
    def git(self) -> GitRepo | None:
        return self._ctx.git

    @property
    def trust(self) -> TrustStore:
        return self._ctx.trust

    @property
    def schemas(self) -> dict[str, RelationSchema]:
        return self._ctx.schemas

    @property
    def clock(self) -> Clock | None:
        return self._ctx.clock

    @property
    def read_only(self) -> bool:
        return self._ctx.read_only

    @property
    def writable(self) -> bool:
        return self.commits is not None

    @property
    def index(self) -> Index:
        """The vault's index, opened (and brought up to date) on first use."""
        return self._keeper.index

    def status(self) -> Status:
        return self._inspector.status(len(self.commits) if self.commits is not None else 0,
                                      self._keeper.fact_files_by_scope())

    def notify(self, message: str) -> None:
        """Record a notice for the human (shown in the vault's status)."""
        self._ctx.notify(message)

    def notices(self, limit: int = 20) -> list[str]:
        return self._ctx.notices(limit)

    # ----------------------------------------------------------------- identities

    def identities(self) -> list[Identity]:
        return self._identities.list()

    def create_identity(self, source: str) -> Identity:
        """Create a key pair for ``source`` on this machine and bind it in the trust store."""
        return self._identities.create(source)

    def grant_vouch(self, source: str) -> Identity:
        """Let ``source``'s key vouch for facts naming other sources (a signed grant). Facts
        quarantined from peers that verify now (vouched for by that key) are imported."""
        identity = self._identities.grant_vouch(source)
        self._federation.recheck_quarantine()
        return identity

    def rotate_identity(self, source: str) -> Identity:
        """Give ``source`` a new key; its old binding stays, so older facts still verify."""
        return self._identities.rotate(source)

    def signing_key_for(self, source: str) -> SigningKey:
        """The key this machine signs ``source``'s facts with; InvalidFact(source) if none."""
        return self._ctx.signing_key_for(source)

    # ----------------------------------------------------------------- writing facts

    def assert_fact(self, *, entity: str, relation: str, value: object = None,
                    value_type: str | None = None, source: str | None = None,
                    confidence: float = 1.0, trust: str | TrustClass = TrustClass.OBSERVED,
                    scope: str | Scope = Scope.LOCAL, valid_until: str | None = None,
                    supersedes: str | None = None,
                    derived_from: list[str] | tuple[str, ...] | None = None,
                    garden: str | None = None) -> Fact:
        """Validate, sign, durably write and queue for commit one fact. Returns the Fact.

        ``garden`` (a slug or garden id): the fact goes into that garden, under the garden's
        rules (spec §17) for its source, who must be a writer or admin of it."""
        if garden is None:
            return self._facts.assert_fact(
                entity=entity, relation=relation, value=value, value_type=value_type,
                source=source, confidence=confidence, trust=trust, scope=scope,
                valid_until=valid_until, supersedes=supersedes, derived_from=derived_from)
        typed = make_value(value_type or infer_type(value), value)
        claim = make_claim(entity=entity, relation=relation, value=typed,
                           source=source or self.config.owner, confidence=confidence, trust=trust,
                           scope=scope, valid_until=valid_until, supersedes=supersedes,
                           derived_from=derived_from)
        operator = self.operator()  # this process holds the keys: acting as the source itself
        view = self.as_principal(Principal(claim.source, operator.scopes, operator.perms))
        return view.write(view.in_garden(claim, garden))[0].fact

    def write_claim(self, claim: Claim, *, key: SigningKey | None = None,
                    notes: str = "") -> Fact:
        """Sign ``claim`` (with ``key``, else the key of its source) and write it durably."""
        return self._facts.write_claim(claim, key=key, notes=notes)

    def write_claims(self, claims: Sequence[Claim], *,
                     keys: Sequence[SigningKey | None] | None = None,
                     notes: Sequence[str] | None = None) -> list[Fact | StigmemError]:
        """Sign and durably write several claims; each result is its Fact or its error."""
        return self._facts.write_claims(claims, keys=keys, notes=notes)

    def submit_claim(self, claim: Claim, *,
                     key: SigningKey | None = None) -> Future[IndexedFact]:
        """Queue ``claim`` for the group writer and return at once (for many concurrent
        writers, as the node has); the future holds the indexed fact or the refusal."""
        return self._facts.submit(claim, key=key)

    def amend(self, fact_id: str, *, source: str | None = None, **changes: object) -> Fact:
        """A new fact that supersedes ``fact_id``, with ``changes`` applied to its fields."""
        return self._facts.amend(fact_id, source=source, **changes)

    def retract(self, fact_id: str, *, source: str | None = None) -> Fact:
        """Retract a fact: the same claim at confidence 0, superseding it."""
        return self._facts.retract(fact_id, source=source)

    def resolve(self, conflict_id: str, *, winner: str | None = None, value: object = None,
                source: str | None = None) -> Fact:
        """Resolve an open conflict with a signed fact (by the owner unless ``source`` says)."""
        return self._facts.resolve(conflict_id, winner=winner, value=value, source=source)

    def path_of(self, fact: Fact) -> str:
        """The vault-relative path where ``fact`` is (or would be) stored."""
        return str(fact_relpath(fact))

    def flush(self, *, git_index: bool = True) -> str | None:
        """Commit everything pending in one signed commit; returns the commit id or None.

        With ``git_index`` (the default) git's index file is written too, so that ``git
        status`` is clean at once; timed commits leave it to its timer (vault/index_lag.py),
        as a node does."""
        self._ctx.writer()
        assert self.commits is not None
        self._keeper.flush_entity_notes()
        return self.commits.flush(git_index=git_index)

    # ----------------------------------------------------------------- the index

    def refresh(self, progress: Progress | None = None) -> ScanReport:
        """Bring the index in step with the files; a writer also carries out the gestures
        made while nobody watched (an edited or deleted signed fact, a draft)."""
        return self._keeper.refresh(progress)

    def reindex(self, progress: Progress | None = None) -> ScanReport:
        """Throw the index away and build it again from the files."""
        return self._keeper.reindex(progress)

    def reload_config(self) -> ScanReport | None:
        """Re-read the trust store and schemas (changed on disk); re-index if they matter."""
        self._ctx.reload_trust()
        self._ctx.schemas = cfg.load_schemas(self._ctx.root)
        return self._keeper.config_changed()

    def index_paths(self, rels: list[str]) -> list[Change]:
        """(Re)index fact files as they are now, without any gesture."""
        return self._keeper.index_paths(rels)

    def ingest(self, records: list[FileRecord], removed: list[str]) -> None:
        """Apply file records to the index and refresh the conflict notes they touch."""
        self._keeper.ingest(records, removed)

    def apply_changes(self, paths: list[str]) -> list[Change]:
        """What the watcher does with changed files (gestures, §14); a read-only vault only
        indexes them."""
        if self._gestures is None:
            return self._keeper.index_paths([p for p in paths if is_fact_path(p)])
        return self._gestures.apply(paths)

    def pending(self) -> list[PendingNote]:
        """People's drafts and edits of signed facts waiting for their `sign` checkbox (§14).
        Reads only: a read-only vault lists them too."""
        return find_pending(self._ctx, self._keeper.index, self._keeper.pending_candidates())

    def revert(self, target: str) -> str:
        """Give a pending edit of a signed fact (its path or fact id) its signed bytes back."""
        if self._gestures is None:
            raise MisuseError("revert needs a writable vault (not opened read-only)")
        return self._gestures.revert(target)

    def write_note(self, rel: str, text: str, note: str) -> bool:
        """Write a generated or annotated note (not a fact); False if it was already so."""
        return self._keeper.write_note(rel, text, note)

    def watch(self, on_change: Callable[[list[Change]], None] | None = None,
              on_error: Callable[[BaseException], None] | None = None,
              on_batch: Callable[[list[str], float], None] | None = None) -> Watcher:
        """A started watcher that turns file changes into index updates and signed facts.

        ``on_change`` hears what it carried out, starting with what the catch-up scan did
        about the changes made while nobody watched. ``on_batch`` hears every batch of paths
        once it was handled, said or not (a pending note saved again says nothing), with the
        ``time.monotonic()`` at which handling began, before any of its files was read."""
        keeper, gestures, git = self._keeper, self._gestures, self._ctx.git

        def handle(batch: list[str]) -> None:
            started = time.monotonic()
            # Files already indexed as they are now (this process's own new fact files, or
            # another writer's that it indexed itself): nothing to do, and no reason to wait
            # for git's lock, which a commit may hold for a while, to find that out.
            paths = [p for p in batch if not keeper.indexed_as_is(p)]
            done: list[Change] = []
            if paths and gestures is not None and git is not None:
                with git.locked():
                    done = gestures.apply(paths)
            elif paths:
                done = keeper.index_paths([p for p in paths if is_fact_path(p)])
            if on_change is not None and done:
                on_change(done)
            if on_batch is not None:
                on_batch(batch, started)

        watcher = Watcher(self.root, handle,
                          on_error or (lambda exc: self.notify(f"watcher: {exc}")))
        watcher.listen()  # before the scan: a change made during it is handled after it
        try:
            # The scan finds what changed while nobody watched.
            caught_up = keeper.catch_up()
        except BaseException:
            watcher.stop()
            raise
        if on_change is not None and caught_up:
            on_change(caught_up)
        watcher.start()
        return watcher

    def open_index_as_is(self) -> bool:
        """Open the index as the last process left it, without the scan that brings it up to
        date, so that a node answers at once while its watcher catches up (``watch``). False,
        and nothing gained, if the index is new, rebuilt or was never brought up to date: its
        answers would be missing facts, not merely a few seconds behind."""
        return self._keeper.open_as_is()

    # ----------------------------------------------------------------- reading

    def query(self, **filters: Any) -> list[IndexedFact]:
        """Facts from the index; by default only live ones (see IndexKeeper.query)."""
        return self._keeper.query(**filters)

    def filters(self, **filters: Any) -> Filters:
        """Normalize user-given filter values exactly as the fields themselves are normalized."""
        return self._keeper.filters(**filters)

    def recall(self, text: str, **options: Any) -> list[Recalled]:
        """Ranked recall over live facts: BM25 blended with recency and trust."""
        return self._keeper.recall(text, **options)

    def lookup(self, fact_id: str) -> IndexedFact:
        """The indexed fact with this id, or an unambiguous prefix of 8+ hex digits."""
        return self._keeper.lookup(fact_id)

    def get(self, fact_id: str) -> FactView:
        """The fact with this id (or an unambiguous prefix of at least 8 hex digits)."""
        item = self._keeper.lookup(fact_id)
        return FactView(item.fact, item.path or str(fact_relpath(item.fact)))

    def list_facts(self, *, entity: str | None = None, relation: str | None = None,
                   source: str | None = None, scope: str | None = None,
                   trust: str | None = None, value_type: str | None = None,
                   signer: str | None = None, min_confidence: float | None = None,
                   supersedes: str | None = None, include_superseded: bool = True,
                   include_expired: bool = True) -> list[FactView]:
        """Verified facts matching all given filters, ordered by HLC (from the index)."""
        if value_type:
            value_type = parse_enum(ValueType, value_type, "value_type").value
        items = self._keeper.query(
            entity=entity, relation=relation, source=source, scope=scope, trust=trust,
            value_type=value_type, signer=signer, min_confidence=min_confidence,
            supersedes=supersedes, include_superseded=include_superseded,
            include_expired=include_expired)
        return [FactView(i.fact, i.path or str(fact_relpath(i.fact))) for i in items]

    def provenance(self, fact_id: str) -> Provenance:
        return self._keeper.provenance(fact_id)

    def neighbors(self, entity: str, **options: Any) -> list[Neighbor]:
        """Entities reachable through live ``ref`` facts (either direction), breadth first."""
        return self._keeper.neighbors(entity, **options)

    def conflicts(self, status: str | None = None) -> list[ConflictRecord]:
        return self._keeper.conflicts(status)

    def fact_paths(self) -> Iterator[str]:
        """Vault-relative paths of every fact file, in sorted order."""
        return self._inspector.fact_paths()

    def verify(self, paths: list[str] | None = None, *,
               progress: Callable[[int, int], None] | None = None) -> VerifyReport:
        """Verify every fact file (or the given files/folders); problems are data, not errors."""
        return self._inspector.verify(paths, progress=progress)

    def explain(self, path: str) -> Explanation:
        """Everything a human needs to check one fact file by hand. ``path`` is the file, or a
        fact id (or an unambiguous prefix of 8+ hex digits) when no such file exists."""
        if not Path(path).exists() and _looks_like_id(path):
            item = self._keeper.lookup(path)
            path = str(self.root / (item.path or fact_relpath(item.fact)))
        return self._inspector.explain(path)

    # ----------------------------------------------------------------- access

    def operator(self) -> Principal:
        """The principal of an unauthenticated local node: the vault owner, every scope."""
        return self._access.operator()

    def as_principal(self, principal: Principal) -> PrincipalView:
        """The vault as ``principal`` sees it: every read and write a front end offers, with
        the principal's permissions and scopes enforced (api/view.py)."""
        return PrincipalView(principal, self._keeper, self._facts, self._access,
                             self._inspector.verify_files, self._gardens,
                             federation=self._federation, pending=self.pending,
                             revert=self.revert)

    def authenticate(self, raw: str) -> Principal | None:
        return self._access.authenticate(raw)

    def create_token(self, principal: str, *, scopes: list[str] | tuple[str, ...],
                     perms: list[str] | tuple[str, ...] = ("read",),
                     ) -> tuple[str, token_store.Token]:
        """A new bearer token for ``principal``; returns (raw token, record). Shown once."""
        return self._access.create_token(principal, scopes=scopes, perms=perms)

    def tokens(self) -> list[token_store.Token]:
        return self._access.tokens()

    def revoke_token(self, token_id: str) -> None:
        self._access.revoke_token(token_id)

    # ----------------------------------------------------------------- federation

    def remotes(self) -> list[fed.Remote]:
        return self._federation.remotes()

    def add_remote(self, name: str, url: str, scopes: list[str]) -> fed.Remote:
        return self._federation.add_remote(name, url, scopes)

    def remove_remote(self, name: str) -> None:
        self._federation.remove_remote(name)

    def sync(self, name: str | None = None) -> list[SyncReport]:
        """Pull, verify and import from every remote (or ``name``), then push."""
        return self._federation.sync(name)

    def peers(self) -> list[PeerInfo]:
        return self._federation.peers()

    def trust_peer(self, node_id: str, fingerprint: str | None = None) -> PeerInfo:
        return self._federation.trust_peer(node_id, fingerprint)

    def revoke_peer(self, node_id: str) -> None:
        self._federation.revoke_peer(node_id)

    def audit_log(self, limit: int | None = None) -> list[fed.AuditEntry]:
        return self._federation.audit_log(limit)

    def sync_status(self) -> list[RemoteStatus]:
        return self._federation.sync_status()

    def background_sync(self, interval: float = 30.0,
                        max_backoff: float = 300.0) -> threading.Event:
        """Sync every ``interval`` seconds in a thread; a failing remote backs off
        exponentially (with ±20% jitter) up to ``max_backoff``. Set the event to stop."""
        stop = threading.Event()

        def loop() -> None:
            delay = interval
            while not stop.wait(delay):
                delay = self._federation.next_delay(self.sync(), interval, max_backoff)

        threading.Thread(target=loop, name="stigmem-sync", daemon=True).start()
        return stop


def _all_paths(root: Path, git: GitRepo | None) -> list[str]:
    if git is not None:
        # Only the tracked files with a key-like name are looked at (vault/config.py): git
        # lists them, for a fraction of reading git's index entry by entry here.
        listed = tracked_paths_containing(root, cfg.KEYISH_NEEDLES)
        return listed if listed is not None else list(git.tracked_paths())
    return [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]


def _clear_scratch(scratch: Path) -> None:
    """Remove temp files that writers which are gone (crashed mid-write) left behind."""
    try:
        names = os.listdir(scratch)
    except FileNotFoundError:
        return
    for name in names:  # .<file name>.<pid>.<thread>.tmp
        parts = name.rsplit(".", 3)
        if len(parts) == 4 and parts[1].isdigit() and not pid_alive(int(parts[1])):
            (scratch / name).unlink(missing_ok=True)


def _looks_like_id(text: str) -> bool:
    """A fact id or a prefix of one (8-64 hex digits), as ``get`` and ``provenance`` take."""
    wanted = text.strip().lower()
    return 8 <= len(wanted) <= 64 and all(c in "0123456789abcdef" for c in wanted)
