"""``Vault``: the one Python API. The CLI (and later HTTP and MCP) call this and nothing below it.

    vault = Vault.init(path, owner="user:alice")        # or Vault.open(path)
    fact = vault.assert_fact(entity="user:alice", relation="memory:role", value="engineer",
                             source="agent:codex", scope="team")
    vault.close()                                        # commits what is pending

Writes are durable when ``assert_fact`` returns (fsynced file); commits are batched: one
commit per ``commit_every`` writes, after ``commit_delay`` seconds of quiet, or on ``flush()``
and ``close()``. A crash before the commit loses nothing: the next ``open`` commits the files.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from nacl.signing import SigningKey

from stigmem_vault.api.access import AccessMixin, BatchMixin
from stigmem_vault.api.commits import CommitQueue, Recovery, pid_alive
from stigmem_vault.api.memory import MemoryMixin
from stigmem_vault.api.results import Explanation, FactView, Identity, Status, VerifyReport
from stigmem_vault.api.sync import SyncMixin
from stigmem_vault.api.writer import GroupWriter
from stigmem_vault.canonical.jcs import canonicalize
from stigmem_vault.canonical.signing import (
    format_timestamp,
    key_id,
    sign_bytes,
    sign_claim,
    verify_key_from_id,
)
from stigmem_vault.errors import (
    IdentityError,
    InvalidFact,
    MisuseError,
    NotFound,
    StigmemError,
    VaultConfigError,
)
from stigmem_vault.index.index import Index
from stigmem_vault.index.query import IndexedFact
from stigmem_vault.model.fact import Claim, Fact, Scope, TrustClass, make_claim, parse_enum
from stigmem_vault.model.hlc import Clock
from stigmem_vault.model.identifiers import normalize_source
from stigmem_vault.model.relations import RelationSchema
from stigmem_vault.model.values import Value, ValueType, make_value
from stigmem_vault.vault import config as cfg
from stigmem_vault.vault import markdown
from stigmem_vault.vault.git import GitRepo, write_allowed_signers
from stigmem_vault.vault.keys import KeyStore, looks_like_private_key, stigmem_home
from stigmem_vault.vault.layout import FACTS_DIR, ID_PREFIX_LEN, fact_relpath
from stigmem_vault.vault.store import write_atomic
from stigmem_vault.vault.trust import Binding, TrustStore, make_binding
from stigmem_vault.vault.verify import FileVerdict, Verdict, judge, read_text, verify_bytes, verify_file

COMMIT_EVERY = 256
COMMIT_DELAY = 0.5
IO_THREADS = 8  # durable writes in flight at once within one group (write_claims)
_UNSET = object()


def infer_type(v: object) -> str:
    """The value type a plain Python value implies (bool before int: bool is an int)."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int | float):
        return "number"
    return "string"


class Vault(MemoryMixin, AccessMixin, BatchMixin, SyncMixin):
    """An open vault: its files, keys, trust store, schemas, clock, git history and index."""

    def __init__(self, root: Path, home: Path, *, commit_every: int = COMMIT_EVERY,
                 commit_delay: float | None = COMMIT_DELAY, read_only: bool = False) -> None:
        self.root = root
        self.read_only = read_only
        self.keys = KeyStore(home)
        self.config = cfg.read_vault_config(root)  # first: "not a vault" beats everything
        self.keys.check_outside(root)
        # Without a node identity this copy is read-only: anyone holding the vault can still
        # list and verify every fact, offline.
        self.node: cfg.NodeConfig | None = (
            cfg.read_node_config(root) if (root / cfg.NODE_FILE).exists() else None)
        self.git: GitRepo | None = (
            GitRepo.open(root, root / cfg.LOCK_FILE) if (root / ".git").exists() else None)
        if self.node is not None and self.git is None:
            raise VaultConfigError("the vault has a node identity but no git repository", root)
        cfg.refuse_key_material(root, self._all_paths())
        self.trust = TrustStore.load(root, self.config.owner_keys())
        self.schemas: dict[str, RelationSchema] = cfg.load_schemas(root)
        self.clock: Clock | None = None
        self._node_key: SigningKey | None = None
        if self.node is not None:
            self.clock = Clock(self.node.node_id, root / cfg.CLOCK_FILE)
            try:
                self._node_key = self._require_key(self.node.key, self.node.source)
            except IdentityError as exc:  # this clone cannot sign commits: the vault is unusable
                raise VaultConfigError(str(exc), root) from None
        # What the next commit contains, and only that (api/commits.py). A read-only open
        # has none: it never writes to the vault, takes its write lock or recovers.
        self.commits: CommitQueue | None = None
        if self.node is not None and self.git is not None and not read_only:
            self.commits = CommitQueue(root, self.git, self._commit_signer,
                                       every=commit_every, delay=commit_delay,
                                       on_error=self.notify)
        self._group: GroupWriter | None = None  # started by the first submit_claim
        self._io: ThreadPoolExecutor | None = None  # started by the first group write
        self._start_lock = threading.Lock()  # starts the group writer and the I/O pool once
        self._closed = False
        self._index: Index | None = None
        self._index_stale = False  # opened for a write, not yet brought up to date
        self._own_writes: dict[str, str | None] = {}  # path -> sha256 of what we last wrote
        self._own_lock = threading.Lock()
        self.init_report: list[tuple[str, str]] = []  # files `init --from` did not import
        # Temp files of durable writes, out of the watcher's sight (see vault/store.py).
        self.scratch = self.root / cfg.SCRATCH_DIR
        self.recovery: Recovery | None = None
        if self.commits is not None:
            self.recovery = self.commits.recover(self._verifies)
            self._clear_scratch()

    @property
    def writable(self) -> bool:
        return self.commits is not None

    def _queue(self) -> CommitQueue:
        """The commit queue of a writable vault (else the read-only error)."""
        self._writer()
        assert self.commits is not None
        return self.commits

    def _commit_signer(self) -> tuple[SigningKey, str, str]:
        node, _git, key, _clock = self._writer()
        return key, node.source, f"{node.node_id}@stigmem.invalid"

    def _verifies(self, rel: str, data: bytes) -> str | None:
        """Why ``data`` at ``rel`` does not verify (None: it does, or it is no fact file)."""
        if not rel.startswith(FACTS_DIR + "/"):
            return None
        item = verify_bytes(rel, data, self.trust)
        return None if item.verdict is Verdict.VALID else f"{item.verdict.value}: {item.reason}"

    def _all_paths(self) -> list[str]:
        if self.git is not None:
            return list(self.git.tracked_paths())
        return [p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file()]

    def _writer(self) -> tuple[cfg.NodeConfig, GitRepo, SigningKey, Clock]:
        self._check_open()
        if self.read_only:
            raise MisuseError("this vault was opened read-only; open it again without "
                              "read_only to write")
        if self.node is None or self.git is None or self._node_key is None or self.clock is None:
            raise VaultConfigError(
                "this copy of the vault is read-only: it has no node identity "
                f"({cfg.NODE_FILE}). Make a vault of your own from it with "
                f"`stigmem init NEW_PATH --owner user:NAME --from {self.root}`", self.root)
        return self.node, self.git, self._node_key, self.clock

    # ----------------------------------------------------------------- lifecycle

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, home: str | os.PathLike[str] | None = None,
             **options: object) -> Vault:
        root = Path(path).resolve()
        return cls(root, Path(home) if home else stigmem_home(), **options)  # type: ignore[arg-type]

    @classmethod
    def init(cls, path: str | os.PathLike[str], *, owner: str,
             home: str | os.PathLike[str] | None = None,
             template: str | os.PathLike[str] | None = None, **options: object) -> Vault:
        """Create a vault: git repo, .stigmem/, owner and node identities, first signed commit.

        With ``template`` (another vault's folder), its valid facts, schemas and identities
        are imported; the new owner endorses the template's keys by re-signing their bindings.
        """
        from stigmem_vault.api.setup import create_vault  # setup is only needed once

        root = Path(path).resolve()
        home_dir = Path(home) if home else stigmem_home()
        skipped = create_vault(root, owner, KeyStore(home_dir),
                               Path(template).resolve() if template else None)
        vault = cls(root, home_dir, **options)  # type: ignore[arg-type]
        vault.init_report = skipped
        return vault

    def close(self) -> None:
        if self._closed:
            return
        if self._group is not None:
            self._group.close()
        if self._io is not None:
            self._io.shutdown()
        if self.commits is not None:
            self.commits.close()
        if self._index is not None:
            self._index.close()
            self._index = None
        self._closed = True

    def __enter__(self) -> Vault:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise MisuseError("this Vault is closed; open it again with Vault.open(path)")

    # ----------------------------------------------------------------- identities

    def identities(self) -> list[Identity]:
        result = []
        for binding in sorted(self.trust.bindings(), key=lambda b: (b.source, b.key)):
            role = ("owner" if binding.key == self.config.owner_key else
                    "node" if self.node and binding.key == self.node.key else "identity")
            held = self.keys.path_for(binding.key).exists()
            result.append(Identity(binding.source, binding.key, held, role))
        return result

    def create_identity(self, source: str) -> Identity:
        """Create a key pair for ``source`` on this machine and bind it in the trust store."""
        self._writer()
        normal = normalize_source(source)
        if self.trust.keys_for(normal):
            raise IdentityError(f"identity {normal} already exists; see `stigmem identity list`")
        owner_key = self._require_key(self.config.owner_key, self.config.owner)
        key = self.keys.generate()
        binding = make_binding(normal, key_id(key.verify_key), _now_timestamp(), owner_key)
        with self._queue().locked():
            self._add_binding(binding, f"identity {normal} {binding.key}")
            self.flush()
        return Identity(normal, binding.key, True, "identity")

    def rotate_identity(self, source: str) -> Identity:
        """Give ``source`` a new key. Its old binding stays, so facts signed before still verify.

        Rotating the owner key also records the hand-over in vault.json, signed by the old key,
        so every binding the old owner key issued keeps counting.
        """
        self._writer()
        normal = normalize_source(source)
        old_key = self.signing_key_for(normal)
        old_id = key_id(old_key.verify_key)
        new_key = self.keys.generate()
        new_id = key_id(new_key.verify_key)
        with self._queue().locked():
            if normal == self.config.owner:
                handover = canonicalize(cfg.rotation_object(old_id, new_id))
                link = {"key": old_id, "signature": sign_bytes(old_key, handover),
                        "accepted": sign_bytes(new_key, handover)}
                self.config = replace(self.config, owner_key=new_id, previous_owner_keys=(
                    *self.config.previous_owner_keys, link))
                self._queue().add(
                    [(cfg.VAULT_FILE, cfg.write_vault_config(self.root, self.config))], [])
                self.trust = TrustStore.load(self.root, self.config.owner_keys())
                issuer = new_key
            else:
                issuer = self._require_key(self.config.owner_key, self.config.owner)
            self._add_binding(make_binding(normal, new_id, _now_timestamp(), issuer),
                              f"rotate {normal} {old_id} -> {new_id}")
            self.flush()
        if self._index is not None:
            self.reload_config()
        return Identity(normal, new_id, True, "owner" if normal == self.config.owner else "identity")

    def _add_binding(self, binding: Binding, note: str) -> None:
        reason = self.trust.add(binding)
        if reason:
            raise IdentityError(f"binding for {binding.source} refused: {reason}")
        data = binding.to_json().encode()
        write_atomic(self.root / binding.relpath(), data)
        self._queue().add([(binding.relpath(), data)], [note])
        entries = [(b.source, verify_key_from_id(b.key)) for b in self.trust.bindings()]
        if write_allowed_signers(self.root / cfg.ALLOWED_SIGNERS, entries):
            self._queue().add([(cfg.ALLOWED_SIGNERS,
                                (self.root / cfg.ALLOWED_SIGNERS).read_bytes())], [])

    def _require_key(self, kid: str, source: str) -> SigningKey:
        key = self.keys.load(kid)
        if key is None:
            raise IdentityError(
                f"the private key of {source} ({kid}) is not held on this machine "
                f"(looked in {self.keys.dir}); set STIGMEM_HOME to where it lives"
            )
        return key

    def signing_key_for(self, source: str) -> SigningKey:
        """The key this machine signs ``source``'s facts with; InvalidFact(source) if none."""
        keys = self.trust.keys_for(source)
        if not keys:
            raise InvalidFact(
                "source", f"no identity {source} in this vault; create it with "
                f"`stigmem identity create {source}`")
        for kid in keys:  # the newest binding first
            key = self.keys.load(kid)
            if key is not None:
                return key
        raise InvalidFact("source", f"identity {source} exists but its private key is not "
                                    f"held on this machine ({self.keys.dir})")

    # ----------------------------------------------------------------- writing facts

    def assert_fact(self, *, entity: str, relation: str, value: object = None,
                    value_type: str | None = None, source: str | None = None,
                    confidence: float = 1.0, trust: str | TrustClass = TrustClass.OBSERVED,
                    scope: str | Scope = Scope.LOCAL, valid_until: str | None = None,
                    supersedes: str | None = None,
                    derived_from: list[str] | tuple[str, ...] | None = None) -> Fact:
        """Validate, sign, durably write and queue for commit one fact. Returns the Fact."""
        typed = value if isinstance(value, Value) else make_value(
            value_type or infer_type(value), value)
        claim = make_claim(entity=entity, relation=relation, value=typed,
                           source=source or self.config.owner, confidence=confidence,
                           trust=trust, scope=scope, valid_until=valid_until,
                           supersedes=supersedes, derived_from=derived_from)
        return self.write_claim(claim)

    def write_claim(self, claim: Claim, *, key: SigningKey | None = None,
                    notes: str = "") -> Fact:
        """Sign ``claim`` (with ``key``, else the key of its source) and write it durably.

        ``notes`` (what a person typed in a draft's body) is kept in the file's unsigned body.
        """
        result = self.write_claims([claim], keys=[key], notes=[notes])[0]
        if isinstance(result, Exception):
            raise result
        return result

    def write_claims(self, claims: Sequence[Claim], *,
                     keys: Sequence[SigningKey | None] | None = None,
                     notes: Sequence[str] | None = None) -> list[Fact | StigmemError]:
        """Sign and durably write several claims; each result is its Fact or its error.

        One claim's error never stops the others. The files are written concurrently (each
        fsynced: their waits on the disk overlap), then indexed in one transaction with one
        pass over the conflict notes the group touched.
        """
        results, written = self._write_files(claims, keys, notes)
        self._index_written(written)
        return results

    def _write_files(self, claims: Sequence[Claim], keys: Sequence[SigningKey | None] | None,
                     notes: Sequence[str] | None,
                     ) -> tuple[list[Fact | StigmemError], list[tuple[str, bytes, Fact]]]:
        """The first half of write_claims: check, sign and durably write, and queue for the
        next commit. Returns each claim's result and the files newly written (to index)."""
        _node, _git, _node_key, clock = self._writer()
        results: list[Fact | StigmemError | None] = [None] * len(claims)
        staged: list[tuple[int, Fact, str, bytes]] = []
        for i, claim in enumerate(claims):
            try:
                fact, rel, data = self._prepare(
                    claim, keys[i] if keys else None, notes[i] if notes else "", clock)
            except StigmemError as exc:
                results[i] = exc
                continue
            staged.append((i, fact, rel, data))
        written: list[tuple[str, bytes, Fact]] = []
        try:
            stored = (map(self._store, staged) if len(staged) < 2
                      else self._io_pool().map(self._store, staged))
            for (i, fact, rel, data), outcome in zip(staged, stored, strict=True):
                results[i] = outcome if isinstance(outcome, StigmemError) else fact
                if outcome is True:
                    written.append((rel, data, fact))
        finally:  # whatever reached the disk goes into the next commit, even after a failure
            if written:
                self._queue().add([(rel, data) for rel, data, _fact in written], [
                    f"assert {f.id[:ID_PREFIX_LEN]} {f.source} {f.entity} {f.relation}"
                    for _rel, _data, f in written])
        return results, written  # type: ignore[return-value]  # every slot is filled

    def _index_written(self, written: list[tuple[str, bytes, Fact]]) -> None:
        """The second half of write_claims: index what was written, refresh conflict notes."""
        if written:
            self._after_writes(written)

    def _prepare(self, claim: Claim, key: SigningKey | None, notes: str,
                 clock: Clock) -> tuple[Fact, str, bytes]:
        """Check and sign one claim: the fact, its path and its file's bytes."""
        self._check_claim(claim)
        key = key or self.signing_key_for(claim.source)
        fact = sign_claim(claim, clock.now(), _now_timestamp(), key)
        text = markdown.render(fact)
        if notes:
            text += "\n## Notes\n\n" + notes.rstrip() + "\n"
        return fact, str(fact_relpath(fact)), text.encode("utf-8")

    def _store(self, item: tuple[int, Fact, str, bytes]) -> bool | StigmemError:
        """Write one signed fact durably: True if written, False if it was already there."""
        _i, fact, rel, data = item
        try:
            # No lock: the file is created exclusively, so concurrent writers never collide.
            write_atomic(self.root / rel, data, exclusive=True, scratch=self.scratch)
        except FileExistsError:
            existing = self._read_fact(rel)
            if existing is None or existing.id != fact.id:
                return InvalidFact("id", f"another fact already occupies {rel}")
            return False  # the same signed fact is already on disk
        except StigmemError as exc:
            return exc
        return True

    def _io_pool(self) -> ThreadPoolExecutor:
        with self._start_lock:
            if self._io is None:
                self._io = ThreadPoolExecutor(IO_THREADS, thread_name_prefix="stigmem-io")
            return self._io

    def submit_claim(self, claim: Claim, *,
                     key: SigningKey | None = None) -> Future[IndexedFact]:
        """Queue ``claim`` for the vault's group writer (api/writer.py) and return at once.

        The future holds the indexed fact once its file is durable, or the error that
        refused it. For many concurrent writers (the node); ``write_claim`` is the same write
        made on the caller's thread."""
        self._writer()
        with self._start_lock:
            if self._group is None:
                self._group = GroupWriter(self)
        return self._group.submit(claim, key)

    def path_of(self, fact: Fact) -> str:
        """The vault-relative path where ``fact`` is (or would be) stored."""
        return str(fact_relpath(fact))

    def _check_claim(self, claim: Claim) -> None:
        schema = self.schemas.get(claim.relation)
        if schema is not None:
            schema.check(claim.value)
        if isinstance(claim.value.v, str) and looks_like_private_key(claim.value.v.encode()):
            raise InvalidFact("value", "looks like private key material; refusing to write it "
                                       "into the vault")
        if claim.supersedes is not None:
            self.get(claim.supersedes)  # NotFound if it does not exist

    def amend(self, fact_id: str, *, source: str | None = None, **changes: object) -> Fact:
        """A new fact that supersedes ``fact_id``, with ``changes`` applied to its fields."""
        old = self.get(fact_id).fact
        fields: dict[str, object] = {
            "entity": old.entity, "relation": old.relation, "source": source or old.source,
            "confidence": old.confidence, "trust": old.trust, "scope": old.scope,
            "valid_until": old.valid_until, "derived_from": old.derived_from,
        }
        value = changes.pop("value", _UNSET)
        value_type = changes.pop("value_type", None)
        unknown = set(changes) - set(fields)
        if unknown:
            raise MisuseError(f"amend cannot change {', '.join(sorted(unknown))}")
        fields.update({k: v for k, v in changes.items() if v is not None})
        if value is _UNSET:
            typed = old.value if value_type is None else make_value(value_type, old.value.v)
        else:
            typed = value if isinstance(value, Value) else make_value(
                value_type or old.value.type.value, value)
        claim = make_claim(value=typed, supersedes=old.id, **fields)
        return self.write_claim(claim)

    def retract(self, fact_id: str, *, source: str | None = None) -> Fact:
        """Retract a fact: the same claim at confidence 0, superseding it."""
        old = self.get(fact_id).fact
        # make_claim, not dataclasses.replace: the new source must pass every rule again (a
        # user may not write a reserved stigmem:/rel: relation; replace() wrote such a file,
        # signed, that no reader would accept).
        claim = make_claim(entity=old.entity, relation=old.relation, value=old.value,
                           source=source or self.config.owner, confidence=0.0, trust=old.trust,
                           scope=old.scope, valid_until=old.valid_until, supersedes=old.id)
        return self.write_claim(claim)

    # ----------------------------------------------------------------- commits

    def flush(self) -> str | None:
        """Commit everything pending in one signed commit; returns the commit id or None."""
        return self._queue().flush()

    def _clear_scratch(self) -> None:
        """Remove temp files that writers which are gone (crashed mid-write) left behind."""
        try:
            names = os.listdir(self.scratch)
        except FileNotFoundError:
            return
        for name in names:  # .<file name>.<pid>.<thread>.tmp
            parts = name.rsplit(".", 3)
            if len(parts) == 4 and parts[1].isdigit() and not pid_alive(int(parts[1])):
                (self.scratch / name).unlink(missing_ok=True)

    # ----------------------------------------------------------------- reading

    def fact_paths(self) -> Iterator[str]:
        """Vault-relative paths of every fact file, in sorted order."""
        base = self.root / FACTS_DIR
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            rel_dir = PurePosixPath(Path(dirpath).relative_to(self.root).as_posix())
            for name in sorted(filenames):
                if name.endswith(".md") and not name.startswith("."):
                    yield str(rel_dir / name)

    def _read_fact(self, rel: str) -> Fact | None:
        item = verify_file(self.root, rel, self.trust)
        return item.fact

    def get(self, fact_id: str) -> FactView:
        """The fact with this id (or an unambiguous prefix of at least 8 hex digits)."""
        item = self.lookup(fact_id)
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
        items = self.query(entity=entity, relation=relation, source=source, scope=scope,
                           trust=trust, value_type=value_type, signer=signer,
                           min_confidence=min_confidence, supersedes=supersedes,
                           include_superseded=include_superseded, include_expired=include_expired)
        return [FactView(i.fact, i.path or str(fact_relpath(i.fact))) for i in items]

    # ----------------------------------------------------------------- verification

    def verify(self, paths: list[str] | None = None, *,
               progress: Callable[[int, int], None] | None = None) -> VerifyReport:
        """Verify every fact file (or the given files/folders); problems are data, not errors.

        ``progress(done, total)`` is called after each file (front ends draw progress bars).
        """
        rels = list(self.fact_paths()) if not paths else self._expand(paths)
        files = []
        for rel in rels:
            files.append(verify_file(self.root, rel, self.trust))
            if progress is not None:
                progress(len(files), len(rels))
        return VerifyReport(files, list(self.trust.rejected))

    def _expand(self, paths: list[str]) -> list[str]:
        rels: list[str] = []
        for raw in paths:
            target = Path(raw)
            target = (target if target.is_absolute() else Path.cwd() / target).resolve()
            try:
                rel = target.relative_to(self.root)
            except ValueError:
                raise InvalidFact("path", f"{raw} is outside the vault {self.root}") from None
            if target.is_dir():
                rels.extend(p for p in self.fact_paths() if p.startswith(rel.as_posix() + "/")
                            or rel.as_posix() == ".")
            elif target.exists() or target.is_symlink():
                rels.append(rel.as_posix())
            else:
                raise NotFound("file", raw)
        return rels

    def explain(self, path: str) -> Explanation:
        """Everything a human needs to check one fact file by hand."""
        rel = self._expand([path])
        if len(rel) != 1:
            raise InvalidFact("path", f"{path} is not a single fact file")
        item: FileVerdict = verify_file(self.root, rel[0], self.trust)
        if item.fact is None or item.canonical is None:
            return Explanation(rel[0], None, None, None, None, None, [], item.verdict, item.reason)
        parsed = markdown.parse(read_text(self.root / rel[0], rel[0]), rel[0])
        verdict, reason = judge(parsed, self.trust)
        try:
            key_hex = bytes(verify_key_from_id(parsed.fact.signer)).hex()
        except InvalidFact:
            key_hex = None
        return Explanation(
            rel[0], item.canonical.decode("utf-8"), parsed.fact.id, parsed.claimed_id,
            parsed.fact.signer, key_hex, sorted(self.trust.sources_for(parsed.fact.signer)),
            verdict, reason)

    # ----------------------------------------------------------------- status

    def status(self) -> Status:
        by_scope = {s.value: 0 for s in Scope}
        for rel in self.fact_paths():
            scope = rel.split("/", 2)[1]
            by_scope[scope] = by_scope.get(scope, 0) + 1
        head = None
        if self.git is not None and not self.git.repo.head_is_unborn:
            head = str(self.git.repo.head.target)
        return Status(str(self.root), self.config.owner,
                      self.node.node_id if self.node else None,
                      self.node.source if self.node else None,
                      by_scope, len(self.trust.bindings()), len(self.schemas), head,
                      len(self.commits) if self.commits is not None else 0)


def _now_timestamp() -> str:
    return format_timestamp(datetime.now(UTC))


__all__ = ["Vault", "VaultConfigError"]
