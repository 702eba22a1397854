"""Writing facts: check, sign, durably write, queue for commit, index.

A write is durable when it returns (the file is fsynced); commits are batched by the commit
queue (api/commits.py). Many writers at once go through the group writer (api/writer.py),
which calls ``write_files`` and ``index_written`` a group at a time.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime

from nacl.signing import SigningKey

from stigmem_vault.api.commits import CommitQueue
from stigmem_vault.api.context import VaultContext
from stigmem_vault.api.index_keeper import IndexKeeper
from stigmem_vault.api.writer import GroupWriter
from stigmem_vault.canonical.signing import format_timestamp, sign_claim
from stigmem_vault.errors import AccessDenied, InvalidFact, MisuseError, NotFound, StigmemError
from stigmem_vault.index.query import IndexedFact
from stigmem_vault.model.fact import Claim, Fact, Scope, TrustClass, make_claim
from stigmem_vault.model.hlc import HLC
from stigmem_vault.model.identifiers import is_system_source
from stigmem_vault.model.values import Value, make_value, parse_cli_value
from stigmem_vault.vault import markdown
from stigmem_vault.vault.clock import Clock
from stigmem_vault.vault.frontmatter import Flat
from stigmem_vault.vault.keys import looks_like_private_key
from stigmem_vault.vault.layout import ID_PREFIX_LEN, fact_relpath
from stigmem_vault.vault.store import write_atomic
from stigmem_vault.vault.verify import verify_file

IO_THREADS = 8  # durable writes in flight at once within one group (write_claims)
_UNSET = object()

Written = tuple[str, bytes, Fact]  # (path, the bytes written, the fact)


def infer_type(v: object) -> str:
    """The value type a plain Python value implies (bool before int: bool is an int)."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int | float):
        return "number"
    return "string"


def now_timestamp() -> str:
    return format_timestamp(datetime.now(UTC))


class FactWriter:
    """Signs and writes the facts of one open vault."""

    def __init__(self, ctx: VaultContext, commits: CommitQueue | None,
                 keeper: IndexKeeper) -> None:
        self._ctx = ctx
        self._commits = commits
        self._keeper = keeper
        self._group: GroupWriter | None = None  # started by the first submit
        self._io: ThreadPoolExecutor | None = None  # started by the first group write
        self._start_lock = threading.Lock()

    def close(self) -> None:
        if self._group is not None:
            self._group.close()
        if self._io is not None:
            self._io.shutdown()

    def _queue(self) -> CommitQueue:
        self._ctx.writer()
        assert self._commits is not None
        return self._commits

    # ------------------------------------------------------------- one fact, or many

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
                           source=source or self._ctx.config.owner, confidence=confidence,
                           trust=trust, scope=scope, valid_until=valid_until,
                           supersedes=supersedes, derived_from=derived_from)
        return self.write_claim(claim)

    def write_claim(self, claim: Claim, *, key: SigningKey | None = None,
                    notes: str = "", unsigned: dict[str, Flat] | None = None) -> Fact:
        """Sign ``claim`` (with ``key``, else the key of its source) and write it durably.

        ``notes`` (what a person typed in a draft's body) is kept in the file's unsigned body;
        ``unsigned`` properties (a person's tags, aliases) in its frontmatter, outside the
        signature.
        """
        results, written = self.write_files([claim], [key], [notes], [unsigned or {}])
        self.index_written(written)
        result = results[0]
        if isinstance(result, StigmemError):
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
        results, written = self.write_files(claims, keys, notes)
        self.index_written(written)
        return results

    def submit(self, claim: Claim, *, key: SigningKey | None = None) -> Future[IndexedFact]:
        """Queue ``claim`` for the group writer and return at once; the future holds the
        indexed fact once its file is durable, or the error that refused it."""
        self._ctx.writer()
        with self._start_lock:
            if self._group is None:
                self._group = GroupWriter(self)
        return self._group.submit(claim, key)

    def write_files(self, claims: Sequence[Claim], keys: Sequence[SigningKey | None] | None,
                    notes: Sequence[str] | None,
                    unsigned: Sequence[dict[str, Flat]] | None = None,
                    ) -> tuple[list[Fact | StigmemError], list[Written]]:
        """The first half of write_claims: check, sign and durably write, and queue for the
        next commit. Returns each claim's result and the files newly written (to index)."""
        _node, _git, _node_key, clock = self._ctx.writer()
        results: list[Fact | StigmemError] = [
            MisuseError("not written") for _ in range(len(claims))]
        staged: list[tuple[int, Fact, str, bytes]] = []
        for i, claim in enumerate(claims):
            try:
                fact, rel, data = self._prepare(
                    claim, keys[i] if keys else None, notes[i] if notes else "", clock,
                    unsigned[i] if unsigned else None)
            except StigmemError as exc:
                results[i] = exc
                continue
            staged.append((i, fact, rel, data))
        written: list[Written] = []
        queue = self._queue()
        # Journaled before any is written: a writer killed mid-batch leaves no written file
        # its journal does not name (recovery commits those that verify).
        intended = [(rel, data) for _i, _fact, rel, data in staged]
        queue.intend(intended)
        try:
            stored = (map(self._store, staged) if len(staged) < 2
                      else self._io_pool().map(self._store, staged))
            for (i, fact, rel, data), outcome in zip(staged, stored, strict=True):
                results[i] = outcome if isinstance(outcome, StigmemError) else fact
                if outcome is True:
                    written.append((rel, data, fact))
        finally:  # whatever reached the disk goes into the next commit, even after a failure
            if written:
                queue.add([(rel, data) for rel, data, _fact in written], [
                    f"assert {f.id[:ID_PREFIX_LEN]} {f.source} {f.entity} {f.relation}"
                    for _rel, _data, f in written])
            if len(written) < len(intended):
                done = {rel for rel, _data, _fact in written}
                queue.abandon([(rel, data) for rel, data in intended if rel not in done])
        return results, written

    def index_written(self, written: list[Written]) -> None:
        """The second half of write_claims: index what was written, refresh conflict notes."""
        if written:
            self._keeper.record_written(written)

    def indexed(self, ids: list[str]) -> dict[str, IndexedFact]:
        return self._keeper.index.get_many(ids)

    def _prepare(self, claim: Claim, key: SigningKey | None, notes: str,
                 clock: Clock, unsigned: dict[str, Flat] | None = None) -> tuple[Fact, str, bytes]:
        """Check and sign one claim: the fact, its path and its file's bytes."""
        self.check_claim(claim)
        key = key or self._ctx.signing_key_for(claim.source)
        if claim.supersedes is not None:
            # A replacement happens after what it replaces, whichever process stamped that
            # (several processes of one node keep separate clocks, ~1 s apart at most).
            replaced = self._keeper.index.get(claim.supersedes)
            if replaced is not None:
                clock.receive(HLC.parse(replaced.fact.hlc))
        fact = sign_claim(claim, clock.now(), now_timestamp(), key)
        if unsigned:
            fact = dataclasses.replace(fact, extra=tuple(
                (k, v) for k, v in unsigned.items() if v is not None))
        text = markdown.render(fact)
        if notes:
            text += "\n## Notes\n\n" + notes.rstrip() + "\n"
        return fact, str(fact_relpath(fact)), text.encode("utf-8")

    def _store(self, item: tuple[int, Fact, str, bytes]) -> bool | StigmemError:
        """Write one signed fact durably: True if written, False if it was already there."""
        _i, fact, rel, data = item
        try:
            # No lock: the file is created exclusively, so concurrent writers never collide.
            write_atomic(self._ctx.root / rel, data, exclusive=True, scratch=self._ctx.scratch)
        except FileExistsError:
            existing = verify_file(self._ctx.root, rel, self._ctx.trust).fact
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

    def check_claim(self, claim: Claim) -> None:
        """The vault's own rules for a claim: its relation's schema, no key material, and a
        ``supersedes`` that names a fact this vault has."""
        schema = self._ctx.schemas.get(claim.relation)
        if schema is not None:
            schema.check(claim.value)
        if isinstance(claim.value.v, str) and looks_like_private_key(claim.value.v.encode()):
            raise InvalidFact("value", "looks like private key material; refusing to write it "
                                       "into the vault")
        if claim.supersedes is not None and self._keeper.index.get(claim.supersedes) is None:
            raise NotFound("fact", claim.supersedes)

    # ------------------------------------------------------------- facts from facts

    def amend(self, fact_id: str, *, source: str | None = None, **changes: object) -> Fact:
        """A new fact that supersedes ``fact_id``, with ``changes`` applied to its fields."""
        old = self._keeper.lookup(fact_id).fact
        fields: dict[str, object] = {
            "entity": old.entity, "relation": old.relation, "source": source or old.source,
            "confidence": old.confidence, "trust": old.trust, "scope": old.scope,
            "valid_until": old.valid_until, "derived_from": old.derived_from,
            "garden_id": old.garden_id,
        }
        value = changes.pop("value", _UNSET)
        value_type = changes.pop("value_type", None)
        unknown = set(changes) - set(fields)
        if unknown:
            raise MisuseError(f"amend cannot change {', '.join(sorted(unknown))}")
        fields.update({k: v for k, v in changes.items() if v is not None})
        if value is _UNSET:
            typed = old.value if value_type is None else make_value(str(value_type), old.value.v)
        else:
            typed = value if isinstance(value, Value) else make_value(
                str(value_type or old.value.type.value), value)
        claim = make_claim(value=typed, supersedes=old.id, **fields)
        return self.write_claim(claim)

    def retract(self, fact_id: str, *, source: str | None = None) -> Fact:
        """Retract a fact: the same claim at confidence 0, superseding it."""
        old = self._keeper.lookup(fact_id).fact
        # make_claim, not dataclasses.replace: the new source must pass every rule again (a
        # user may not write a reserved stigmem:/rel: relation; replace() wrote such a file,
        # signed, that no reader would accept).
        claim = make_claim(entity=old.entity, relation=old.relation, value=old.value,
                           source=source or self._ctx.config.owner, confidence=0.0,
                           trust=old.trust, scope=old.scope, valid_until=old.valid_until,
                           supersedes=old.id, garden_id=old.garden_id)
        return self.write_claim(claim)

    def resolve(self, conflict_id: str, *, winner: str | None = None, value: object = None,
                source: str | None = None) -> Fact:
        """Resolve an open conflict with a signed fact (by the owner unless ``source`` says)."""
        owner = self._ctx.config.owner
        record = self._keeper.index.conflict(conflict_id.strip().lower())
        if record is None:
            raise NotFound("conflict", conflict_id)
        if record.status != "open":
            raise InvalidFact("conflict", f"{record.id} is already {record.status}")
        if record.fact_a is None or record.fact_b is None:
            raise InvalidFact("conflict", f"{record.id} refers to facts the index no longer has")
        a, b = record.fact_a.fact, record.fact_b.fact
        author = source or owner
        if author != owner and not is_system_source(author):
            raise AccessDenied("resolution_requires_owner",
                               f"only the vault owner ({owner}) can resolve a conflict "
                               f"between other authors; {author} cannot")
        if (winner is None) == (value is None):
            raise InvalidFact("winner", "give exactly one of a winner (a, b or a fact id) or a value")
        if winner is not None:
            choice = winner.strip().lower()
            chosen = (a if choice in ("a", a.id) or (len(choice) >= 8 and a.id.startswith(choice))
                      else b if choice in ("b", b.id) or (len(choice) >= 8 and b.id.startswith(choice))
                      else None)
            if chosen is None:
                raise InvalidFact("winner", f"{winner!r} is neither a, b, {a.id[:12]} nor {b.id[:12]}")
            typed: Value = chosen.value
        else:
            typed = _typed_like(value, a.value)
        claim = make_claim(entity=record.entity, relation=record.relation, value=typed,
                           source=author, confidence=1.0, trust=TrustClass.OBSERVED,
                           scope=record.scope, derived_from=[a.id, b.id], garden_id=a.garden_id)
        return self.write_claim(claim)


def _typed_like(value: object, like: Value) -> Value:
    """A resolution value typed like the conflicting facts (text typed in a note is coerced)."""
    if isinstance(value, Value):
        return value
    if isinstance(value, str) and like.type.value in ("number", "boolean", "null"):
        value = parse_cli_value(like.type.value, value)
    return make_value(like.type.value, value)
