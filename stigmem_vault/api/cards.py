"""Entity cards: what the vault holds about one entity now (upstream's ``GET /v1/cards/{entity}``).

Upstream materialises a card per entity and scope and refreshes it on writes; here a card is
computed from the index on every read, so it is never stale (``is_stale`` is always false and
``refreshed_at`` is the time of the read) and ``refresh`` changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from stigmem_vault.index.query import IndexedFact

CARD_MAX_FACTS = 50  # the newest live facts a card folds in


@dataclass(frozen=True, slots=True)
class Card:
    entity: str
    scope: str
    facts: list[IndexedFact]  # live facts, newest first
    refreshed_at: str

    @property
    def avg_confidence(self) -> float:
        return round(sum(i.fact.confidence for i in self.facts) / len(self.facts), 6) \
            if self.facts else 0.0

    @property
    def has_contradictions(self) -> bool:
        return any(item.contradicted for item in self.facts)

    @property
    def summary(self) -> str:
        """Upstream's plain-text rendering: one line per live fact (stored text, as data)."""
        lines = [f"Entity: {self.entity}", "Facts:"]
        for item in self.facts:
            value = item.fact.value.v
            shown = "null" if value is None else str(value).lower() if isinstance(value, bool) \
                else str(value)
            lines.append(f"  {item.fact.relation}: {shown} (conf={item.fact.confidence:.2f})")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, object]:
        """Upstream's MemoryCardResponse keys (``fact_hashes`` are the facts' cids)."""
        return {"entity_uri": self.entity, "scope": self.scope, "summary": self.summary,
                "fact_hashes": [item.cid for item in self.facts],
                "avg_confidence": self.avg_confidence, "refreshed_at": self.refreshed_at,
                "is_stale": False, "has_contradictions": self.has_contradictions}


def make_card(entity: str, scope: str, facts: list[IndexedFact]) -> Card:
    return Card(entity, scope, facts, datetime.now(UTC).isoformat())


__all__ = ["CARD_MAX_FACTS", "Card", "make_card"]
