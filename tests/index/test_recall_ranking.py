"""Recall ranks the best lexical matches among the facts that pass the filters, however many
better matches the filters leave out (the query first ranks the text alone, bounded)."""

from __future__ import annotations

from pathlib import Path

from index.support import add, fact, new_index
from stigmem_vault.index.query import Filters


def test_filtered_recall_finds_weak_matches_behind_many_strong_ones(tmp_path: Path) -> None:
    index = new_index(tmp_path / "index.sqlite3")
    # 150 strong matches in the local scope (the word three times, short values), then
    # three weak matches in the team scope: the text's best 100 matches are all local.
    strong = [fact("agent:codex", "deploy deploy deploy", i, scope="local",
                   entity=f"project:p{i}", relation="memory:note") for i in range(150)]
    weak = [fact("agent:codex", f"the deploy of service number {i} went fine after all", 200 + i,
                 scope="team", entity=f"service:s{i}", relation="memory:note") for i in range(3)]
    add(index, *strong, *weak)

    team_only = index.recall("deploy", Filters(scopes=("team",)), limit=10)
    assert sorted(r.item.fact.id for r in team_only) == sorted(f.id for f in weak)

    everything = index.recall("deploy", Filters(), limit=10)
    assert len(everything) == 10
    assert {r.item.fact.id for r in everything} <= {f.id for f in strong}
    scores = [r.score for r in everything]
    assert scores == sorted(scores, reverse=True)


def test_recall_matches_a_full_ranking_of_what_passes(tmp_path: Path) -> None:
    """The bounded first pass returns exactly what ranking every passing match would. (Each
    text has its own length, so no two lexical scores tie, and confidence and trust are the
    same for all: the final order is the lexical one.)"""
    index = new_index(tmp_path / "index.sqlite3")
    words = ["deploy", "cache", "rollback"]
    items = [fact("agent:codex", " ".join(words[: 1 + i % 3]) + " filler" * i, i,
                  scope=("local", "team")[i % 2], entity=f"project:p{i % 40}",
                  relation=f"memory:n{i}", value_type="text")
             for i in range(400)]
    add(index, *items)
    for text, scopes, limit in [("deploy", ("team",), 10), ("cache rollback", None, 25),
                                ("deploy cache", ("local",), 100)]:
        filters = Filters(scopes=scopes)
        got = [r.item.fact.id for r in index.recall(text, filters, limit)]
        everything = index.recall(text, filters, limit=10_000)  # every passing match ranked
        assert got == [r.item.fact.id for r in everything[:limit]]
        assert all(r.item.fact.scope.value in (scopes or ("local", "team")) for r in everything)
