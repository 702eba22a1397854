"""What recall honours (issue 11, item 5): words inside identifiers, as_of, the graph walk from
the matches to their neighbours (depth, include_neighbors), and weights."""

from __future__ import annotations

from pathlib import Path

import pytest

from index.support import BASE_MS, add, fact, new_index
from stigmem_vault.index.index import Index
from stigmem_vault.index.query import Filters
from stigmem_vault.index.recall import resolved_weights, searchable
from stigmem_vault.model.hlc import HLC


def at(ms: int) -> str:
    """The as_of point BASE_MS + ms (the last stamp of that millisecond)."""
    return str(HLC(BASE_MS + ms, 999_999, "z" * 16))


def ids(index: Index, text: str, limit: int = 10, **options: object) -> list[str]:
    filters = options.pop("filters", Filters())
    assert isinstance(filters, Filters)
    return [hit.item.fact.id for hit in index.recall(text, filters, limit, **options)]


def test_words_inside_identifiers_are_found(tmp_path: Path) -> None:
    index = new_index(tmp_path / "index.sqlite3")
    latency = fact("agent:codex", 250, 0, entity="service:checkout",
                   relation="service:latency_p99_ms")
    incident = fact("agent:codex", "yes", 1, entity="service:checkout",
                    relation="service:open_incident")
    camel = fact("agent:codex", "see the runbookEntry for openIncidents", 2,
                 entity="service:billing", relation="memory:note")
    add(index, latency, incident, camel)

    assert ids(index, "latency") == [latency.id]
    assert ids(index, "p99") == [latency.id]
    assert ids(index, "recall latency") == [latency.id]
    assert ids(index, "latency_p99_ms") == [latency.id]  # the whole identifier, as a phrase
    assert ids(index, "p99_latency") == []  # a phrase keeps its order
    assert ids(index, "incident") == [incident.id]
    assert ids(index, "runbook entry") == [camel.id]
    assert ids(index, "runbookEntry") == [camel.id]
    assert sorted(ids(index, "checkout")) == sorted([latency.id, incident.id])
    assert ids(index, "p9") == []  # words, not prefixes


def test_searchable_adds_the_parts_of_camel_case_words() -> None:
    assert searchable("service:latency_p99_ms") == "service:latency_p99_ms"
    assert searchable("openIncident HTTPServer p99Latency") == \
        "openIncident HTTPServer p99Latency open Incident HTTP Server p99 Latency"
    assert searchable("ALLCAPS lower") == "ALLCAPS lower"


def test_as_of_recalls_the_vault_as_it_was(tmp_path: Path) -> None:
    index = new_index(tmp_path / "index.sqlite3")
    old = fact("agent:codex", "engineer", 1_000, entity="user:alice", relation="memory:role")
    new = fact("agent:codex", "manager", 5_000, entity="user:alice", relation="memory:role")
    add(index, old, new)  # one source, one key: the later replaces the earlier

    assert ids(index, "role") == [new.id]
    assert ids(index, "role", filters=Filters(as_of=at(500))) == []
    assert ids(index, "role", filters=Filters(as_of=at(1_000))) == [old.id]
    assert ids(index, "role", filters=Filters(as_of=at(4_999))) == [old.id]
    assert ids(index, "role", filters=Filters(as_of=at(5_000))) == [new.id]
    [then] = index.recall("role", Filters(as_of=at(1_000)), 10)
    assert then.breakdown["recency"] == 1.0  # aged from as_of, not from now


def test_as_of_counts_only_conflicts_that_stood_then(tmp_path: Path) -> None:
    index = new_index(tmp_path / "index.sqlite3")
    codex = fact("agent:codex", "engineer", 0, entity="user:alice", relation="memory:role")
    claude = fact("agent:claude", "manager", 100, entity="user:alice", relation="memory:role")
    taken_back = fact("agent:codex", "engineer", 200, entity="user:alice",
                      relation="memory:role", confidence=0.0)
    add(index, codex, claude, taken_back)

    def factors(as_of: str | None) -> dict[str, float]:
        return {hit.item.fact.id: hit.breakdown["contradicted_factor"]
                for hit in index.recall("role", Filters(as_of=as_of), 10)}

    assert factors(at(50)) == {codex.id: 1.0}  # claude had not spoken yet
    assert factors(at(150)) == {codex.id: 0.5, claude.id: 0.5}  # both stood, and disagreed
    assert factors(at(250)) == {claude.id: 1.0}  # codex had taken its word back
    assert factors(None) == {claude.id: 1.0}


def graph(tmp_path: Path) -> tuple[Index, dict[str, str]]:
    index = new_index(tmp_path / "index.sqlite3")
    made = {
        "owner": fact("agent:codex", "user:alice", 0, entity="project:atlas",
                      relation="rel:owner", value_type="ref"),
        "city": fact("agent:codex", "paris", 1, entity="user:alice", relation="memory:city"),
        "manager": fact("agent:codex", "user:bob", 2, entity="user:alice",
                        relation="memory:manager", value_type="ref"),
        "bob": fact("agent:codex", "lyon", 3, entity="user:bob", relation="memory:city"),
        "other": fact("agent:codex", "rome", 4, entity="user:zed", relation="memory:city"),
    }
    add(index, *made.values())
    return index, {name: item.id for name, item in made.items()}


def test_neighbours_come_with_their_hop_distance_and_graph_score(tmp_path: Path) -> None:
    index, made = graph(tmp_path)

    alone = index.recall("atlas", Filters(), 10, include_neighbors=False)
    assert [(h.item.fact.id, h.hops, h.breakdown["graph"]) for h in alone] == \
        [(made["owner"], 0, 1.0)]

    one = {h.item.fact.id: h for h in index.recall("atlas", Filters(), 10, depth=1)}
    assert set(one) == {made["owner"], made["city"], made["manager"]}
    assert (one[made["city"]].hops, one[made["city"]].breakdown["graph"]) == (1, 0.5)
    assert one[made["city"]].breakdown["lexical"] == 0.0
    assert one[made["owner"]].score > one[made["city"]].score

    two = {h.item.fact.id: h for h in index.recall("atlas", Filters(), 10, depth=2)}
    assert set(two) == {made["owner"], made["city"], made["manager"], made["bob"]}
    assert (two[made["bob"]].hops, two[made["bob"]].breakdown["graph"]) == (2, round(1 / 3, 6))
    assert made["other"] not in two


def test_the_graph_walk_keeps_to_the_filters(tmp_path: Path) -> None:
    index, made = graph(tmp_path)
    add(index, fact("agent:codex", "user:zed", 10, entity="project:atlas",
                    relation="rel:backup", value_type="ref", scope="company"))
    team = index.recall("atlas", Filters(scopes=("team",)), 10, depth=3)
    assert made["other"] not in {h.item.fact.id for h in team}  # reached only through company
    everyone = index.recall("atlas", Filters(), 10, depth=3)
    assert made["other"] in {h.item.fact.id for h in everyone}
    before_manager = index.recall("atlas", Filters(as_of=at(1)), 10, depth=3)
    assert {h.item.fact.id for h in before_manager} == {made["owner"], made["city"]}


def test_weights_are_applied(tmp_path: Path) -> None:
    index = new_index(tmp_path / "index.sqlite3")
    # The older fact matches better (the word twice, a short value); the newer is newer.
    better = fact("agent:codex", "deploy deploy", 0, entity="project:a", relation="memory:n")
    newer = fact("agent:codex", "the deploy of a service that went fine", 86_400_000 * 60,
                 entity="project:b", relation="memory:n")
    add(index, better, newer)
    lexical_only = {"lexical": 1.0, "semantic": 0.0, "graph": 0.0, "source_trust": 0.0,
                    "recency": 0.0}
    recency_only = {**lexical_only, "lexical": 0.0, "recency": 1.0}

    hits = index.recall("deploy", Filters(), 10, weights=lexical_only)
    assert [h.item.fact.id for h in hits] == [better.id, newer.id]
    assert hits[0].score == pytest.approx(hits[0].breakdown["lexical"])
    assert ids(index, "deploy", weights=recency_only) == [newer.id, better.id]
    # Only the given signals change; semantic is never used (no embeddings).
    assert resolved_weights({"recency": 1.0})["lexical"] == 0.35
    assert ids(index, "deploy", weights={**recency_only, "semantic": 1.0}) == [newer.id, better.id]


@pytest.mark.parametrize(("weights", "reason"), [
    ({"lexcial": 0.5}, "'lexcial' is not a signal"),
    ({"lexical": 1.5}, "from 0 to 1"),
    ({"graph": -0.1}, "from 0 to 1"),
    ({"recency": float("nan")}, "from 0 to 1"),
    ({"recency": True}, "from 0 to 1"),
    ({"lexical": 0, "graph": 0, "source_trust": 0, "recency": 0, "semantic": 1}, "semantic"),
])
def test_bad_weights_are_refused_with_the_reason(weights: dict[str, float], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        resolved_weights(weights)


def test_skipping_the_walk_when_matches_outrank_any_neighbour_changes_nothing(
        tmp_path: Path) -> None:
    """With enough strong matches the walk is skipped (no neighbour could rank): the answer is
    still exactly the head of a ranking that walked."""
    index = new_index(tmp_path / "index.sqlite3")
    items = [fact("agent:codex", "atlas " * (1 + i % 4) + "ships", i, entity=f"project:p{i}",
                  relation="memory:note") for i in range(30)]
    items += [fact("agent:codex", f"user:u{i}", 100 + i, entity=f"project:p{i}",
                   relation="rel:owner", value_type="ref") for i in range(30)]
    items += [fact("agent:codex", f"city {i}", 200 + i, entity=f"user:u{i}",
                   relation="memory:city") for i in range(30)]
    add(index, *items)
    everything = index.recall("atlas", Filters(), 1_000)  # few matches for that limit: walked
    assert any(hit.hops for hit in everything)
    for limit in (1, 5, 30, 45):
        assert [h.item.fact.id for h in index.recall("atlas", Filters(), limit)] == \
            [h.item.fact.id for h in everything[:limit]], limit
