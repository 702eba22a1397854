"""Lint: a read-only health sweep of one scope (upstream's ``POST /v1/lint``, MCP's ``lint_scope``).

Upstream's five checks, with its severities, plus two of ours:

* ``contradiction`` (error): an open conflict (spec §13.3) between two live facts.
* ``stale`` (warning when expired, info when it expires within ``stale_lookahead_s``): a fact
  that would be live but for its ``valid_until``.
* ``orphan`` (info): an entity that has facts in the scope but none live.
* ``broken_ref`` (warning; error for ``intent:handoff_to`` and ``intent:context_ref``, whose
  target an agent is told to follow): a live ``ref`` fact whose target is neither an entity
  with a live fact nor a live fact's id, among the facts the caller may read.
* ``namespacing`` (warning): live facts whose relation has no ``prefix:`` namespace.
* ``schema`` (error, ours): a live fact whose value breaks its relation's schema (§10) — a
  schema added or tightened after the fact was written, or a fact that arrived from a peer.
* ``low_confidence`` (info, ours): a live fact below ``min_confidence`` (default 0.3).

Every check looks only at facts the caller may read (``PrincipalView.lint`` fences the scope).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from stigmem_vault.errors import InvalidFact
from stigmem_vault.index import health
from stigmem_vault.index.index import Index
from stigmem_vault.index.query import ConflictRecord, IndexedFact, now_ms
from stigmem_vault.model.relations import RelationSchema

LINT_CHECKS = ("contradiction", "stale", "orphan", "broken_ref", "namespacing", "schema",
               "low_confidence")
SEVERITIES = ("error", "warning", "info")
FOLLOWED_REFS = frozenset({"intent:handoff_to", "intent:context_ref"})
LOW_CONFIDENCE = 0.3
MAX_LOOKAHEAD_S = 10 * 365 * 86_400  # ten years: far enough for any real question


@dataclass(frozen=True, slots=True)
class LintFinding:
    check: str
    severity: str
    entity: str
    relation: str | None
    fact_ids: tuple[str, ...]
    detail: str

    def as_dict(self) -> dict[str, object]:
        return {"check": self.check, "severity": self.severity, "entity": self.entity,
                "relation": self.relation, "fact_ids": list(self.fact_ids),
                "detail": self.detail}


@dataclass(frozen=True, slots=True)
class LintReport:
    scope: str
    checks_run: tuple[str, ...]
    fact_count: int
    checked_at: str
    findings: list[LintFinding] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        """Upstream's LintResult (its keys, in its order)."""
        return {"findings": [f.as_dict() for f in self.findings], "checked_at": self.checked_at,
                "scope": self.scope, "checks_run": list(self.checks_run),
                "fact_count": self.fact_count}


def parse_checks(checks: Sequence[str] | None) -> tuple[str, ...]:
    """The checks asked for, in their canonical order; all of them for None or empty."""
    if not checks:
        return LINT_CHECKS
    unknown = [c for c in checks if c not in LINT_CHECKS]
    if unknown:
        raise InvalidFact("checks", f"{unknown[0]!r} is not one of: {', '.join(LINT_CHECKS)}")
    return tuple(c for c in LINT_CHECKS if c in checks)


@dataclass(frozen=True, slots=True)
class LintScope:
    """What one sweep covers: the index, one scope, the verdicts listed, optional narrowing."""

    index: Index
    scope: str
    statuses: tuple[str, ...]
    entity: str | None
    relation: str | None
    readable: tuple[str, ...]  # every scope the caller may read: where ref targets may live


def lint(where: LintScope, checks: Sequence[str] | None, *, stale_lookahead_s: int = 0,
         min_confidence: float = LOW_CONFIDENCE,
         conflicts: Callable[[], list[ConflictRecord]],
         schemas: Mapping[str, RelationSchema]) -> LintReport:
    """Run ``checks`` (default: all) over ``where``; ``conflicts`` lists the open conflicts the
    caller may see, ``schemas`` are the vault's relation schemas."""
    run = parse_checks(checks)
    if not 0 <= stale_lookahead_s <= MAX_LOOKAHEAD_S:
        raise InvalidFact("stale_lookahead_s", f"{stale_lookahead_s} is outside 0-{MAX_LOOKAHEAD_S}")
    if not 0.0 <= min_confidence <= 1.0:
        raise InvalidFact("min_confidence", f"{min_confidence!r} is outside 0.0-1.0")
    checked_at = datetime.now(UTC).isoformat()
    findings: list[LintFinding] = []
    for check in run:
        if check == "contradiction":
            findings += _contradictions(where, conflicts())
        elif check == "stale":
            findings += _stale(where, stale_lookahead_s)
        elif check == "orphan":
            findings += _orphans(where)
        elif check == "broken_ref":
            findings += _broken_refs(where)
        elif check == "namespacing":
            findings += _namespacing(where)
        elif check == "schema":
            findings += _schema(where, schemas)
        else:
            findings += _low_confidence(where, min_confidence)
    count = health.count(where.index, (where.scope,), where.statuses, where.entity, where.relation)
    return LintReport(where.scope, run, count, checked_at, findings)


def _live(where: LintScope, extra: str = "1",
          params: dict[str, object] | None = None) -> list[IndexedFact]:
    return health.live(where.index, (where.scope,), where.statuses, where.entity, where.relation,
                       extra, params)


def _contradictions(where: LintScope, records: list[ConflictRecord]) -> list[LintFinding]:
    return [LintFinding("contradiction", "error", c.entity, c.relation,
                        tuple(f.fact.id for f in (c.fact_a, c.fact_b) if f is not None),
                        f"open conflict {c.id}: resolve it with one side or a new value")
            for c in records
            if c.scope == where.scope and where.entity in (None, c.entity)
            and where.relation in (None, c.relation)]


def _stale(where: LintScope, lookahead_s: int) -> list[LintFinding]:
    now = now_ms()
    found = []
    for item in health.expiring(where.index, (where.scope,), where.statuses, where.entity,
                                where.relation, now + lookahead_s * 1000):
        until = item.fact.claim.valid_until
        if item.expired:
            found.append(LintFinding("stale", "warning", item.fact.entity, item.fact.relation,
                                     (item.fact.id,), f"expired at {until}"))
        else:
            found.append(LintFinding("stale", "info", item.fact.entity, item.fact.relation,
                                     (item.fact.id,),
                                     f"expires at {until} (within {lookahead_s}s)"))
    return found


def _orphans(where: LintScope) -> list[LintFinding]:
    return [LintFinding("orphan", "info", entity, None, (),
                        f"entity {entity!r} has no live facts in scope {scope}")
            for entity, scope in health.orphans(where.index, (where.scope,), where.statuses,
                                                where.entity)]


def _broken_refs(where: LintScope) -> list[LintFinding]:
    refs = _live(where, "f.value_type = 'ref'")
    targets = sorted({str(item.fact.value.v) for item in refs})
    alive = health.with_live_facts(where.index, targets, where.readable, where.statuses)
    return [LintFinding("broken_ref", "error" if item.fact.relation in FOLLOWED_REFS else "warning",
                        item.fact.entity, item.fact.relation, (item.fact.id,),
                        f"ref target {item.fact.value.v!r} has no live facts")
            for item in refs if str(item.fact.value.v) not in alive]


def _namespacing(where: LintScope) -> list[LintFinding]:
    grouped: dict[tuple[str, str], list[str]] = {}
    for item in _live(where, "instr(f.relation, ':') = 0"):
        grouped.setdefault((item.fact.entity, item.fact.relation), []).append(item.fact.id)
    return [LintFinding("namespacing", "warning", entity, relation, tuple(ids),
                        f"bare relation {relation!r} has no namespace prefix; rename it to "
                        f"'your-prefix:{relation}' to avoid silent collisions")
            for (entity, relation), ids in sorted(grouped.items())]


def _schema(where: LintScope, schemas: Mapping[str, RelationSchema]) -> list[LintFinding]:
    names = sorted(schemas)
    marks = ",".join(f":r{i}" for i in range(len(names))) or "NULL"
    found = []
    for item in _live(where, f"f.relation IN ({marks})",
                      {f"r{i}": name for i, name in enumerate(names)}):
        schema = schemas[item.fact.relation]
        try:
            schema.check(item.fact.value)
        except InvalidFact as exc:
            found.append(LintFinding("schema", "error", item.fact.entity, item.fact.relation,
                                     (item.fact.id,), f"breaks the relation's schema: {exc.reason}"))
    return found


def _low_confidence(where: LintScope, threshold: float) -> list[LintFinding]:
    return [LintFinding("low_confidence", "info", item.fact.entity, item.fact.relation,
                        (item.fact.id,), f"confidence {item.fact.confidence} is below {threshold}")
            for item in _live(where, "f.confidence < :below", {"below": threshold})]


__all__ = ["LINT_CHECKS", "LintFinding", "LintReport", "LintScope", "lint", "parse_checks"]
