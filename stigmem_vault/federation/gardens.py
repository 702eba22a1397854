"""Garden authority on pull: a peer's garden records and garden facts, checked before import.

Every received fact has already passed its own signature and the receiver's trust store
(pull.py). For gardens (docs/spec.md §17) that is not enough: a record that changes a garden
must come from one of its admins, and a fact placed in a garden from one of its writers. This
check folds the garden's records as the receiver would hold them after the import (its own plus
the incoming ones) and moves every incoming garden record that would not apply, and every
garden fact whose source was not a writer or admin of its garden (in its scope) at the fact's
HLC, from accepted to rejected (``garden-unauthorized``, quarantined). The fold ignores such
records anyway; refusing them keeps them out of the vault and tells the operator.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from stigmem_vault.federation.pull import PullResult, Rejected
from stigmem_vault.model import gardens as g
from stigmem_vault.model.fact import Fact

KIND = "garden-unauthorized"


def judge_gardens(result: PullResult, local_records: Iterable[Fact]) -> None:
    """Move unauthorized garden records and garden facts of ``result`` to its rejected list."""
    if not any(item.fact.garden_id for item in result.accepted):
        return
    records: dict[str, list[Fact]] = defaultdict(list)
    for fact in local_records:
        records[fact.entity].append(fact)
    incoming = {item.fact.id: item for item in result.accepted}
    for item in result.accepted:
        if g.is_record_of(item.fact, item.fact.entity):
            records[item.fact.entity].append(item.fact)
    refused: dict[str, str] = {}
    for facts in records.values():
        for fact, reason in g.fold(facts).refused:
            if fact.id in incoming:
                refused[fact.id] = reason
    for item in result.accepted:
        fact = item.fact
        if fact.garden_id is None or fact.id in refused:
            continue
        if g.is_garden_relation(fact.relation) and not g.is_record_of(fact, fact.garden_id):
            refused[fact.id] = "a garden: relation on another entity than its garden"
        elif not g.is_garden_relation(fact.relation):
            why = _writer_refusal(fact, [r for r in records.get(fact.garden_id, [])
                                         if r.id not in refused])
            if why:
                refused[fact.id] = why
    if not refused:
        return
    result.accepted = [item for item in result.accepted if item.fact.id not in refused]
    for fid, reason in refused.items():
        item = incoming[fid]
        result.rejected.append(Rejected(item.branch, item.path, KIND, reason, item.blob,
                                        item.data, item.tip))


def _writer_refusal(fact: Fact, records: list[Fact]) -> str | None:
    """Why ``fact`` may not be in its garden: its source was not a writer then (or the
    garden did not exist, or has another scope)."""
    then = g.fold([r for r in records if (r.hlc, r.id) < (fact.hlc, fact.id)]).garden
    if then is None:
        return f"garden {fact.garden_id} did not exist at the fact's HLC {fact.hlc}"
    if then.scope != fact.scope.value:
        return f"scope {fact.scope.value} is not garden {then.slug}'s scope {then.scope}"
    if then.role(fact.source) not in g.WRITE_ROLES:
        return f"{fact.source} was not a writer of garden {then.slug} at {fact.hlc}"
    return None


__all__ = ["KIND", "judge_gardens"]
