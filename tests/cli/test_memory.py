"""Index-backed commands on real vaults: query/list, recall, provenance, conflicts/resolve,
index/reindex and the index part of status."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stigmem_vault.index.db import INDEX_FILE

from .support import CliVault

STATE = ("--entity", "project:atlas", "--relation", "codex:state", "--scope", "team")


def _json(cli_vault: CliVault, *args: str) -> Any:
    result = cli_vault(*args, "--json")
    assert result.exit_code == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def _ids(cli_vault: CliVault, *args: str) -> list[str]:
    return [f["id"] for f in _json(cli_vault, *args)]


def _two_authors(cli_vault: CliVault) -> tuple[dict[str, object], dict[str, object]]:
    """agent:codex and agent:scribe assert different values for one entity/relation/scope."""
    assert cli_vault("identity", "create", "agent:scribe").exit_code == 0
    first = cli_vault.assert_ok("assert", *STATE, "--value", "draft", "--source", "agent:codex")
    second = cli_vault.assert_ok("assert", *STATE, "--value", "review", "--source", "agent:scribe")
    return first, second


# ----------------------------------------------------------------- query and list


def test_query_shows_live_facts_and_list_keeps_its_contract(cli_vault: CliVault,
                                                             fact: dict[str, object]) -> None:
    old = str(fact["id"])
    new = cli_vault.assert_ok("amend", old, "--value", "done")["id"]
    expired = cli_vault.assert_ok("assert", "--entity", "project:atlas", "--relation", "codex:due",
                                  "--value", "soon", "--valid-until", "2000-01-01T00:00:00Z")["id"]
    assert _ids(cli_vault, "query") == [new]
    assert _ids(cli_vault, "query", "--include-superseded") == [old, new]
    assert _ids(cli_vault, "query", "--include-expired") == [new, expired]
    # list: every verified fact unless --live, exactly as before query existed
    assert _ids(cli_vault, "list") == [old, new, expired]
    assert _ids(cli_vault, "list", "--live") == [new]
    assert _ids(cli_vault, "list", "--live", "--include-expired") == [new, expired]

    rows = {line.split()[0]: line for line in cli_vault("list").stdout.splitlines()[1:]}
    assert rows[old[:12]].rstrip().endswith("superseded")
    assert rows[str(expired)[:12]].rstrip().endswith("expired")
    assert rows[str(new)[:12]].rstrip().endswith("team")  # live: no flags

    listed = _json(cli_vault, "list", "--live")[0]
    assert listed["value"] == {"type": "string", "v": "done"}
    assert (listed["live"], listed["superseded_by"], listed["contradicted"]) == (True, None, False)
    assert _json(cli_vault, "list")[0]["superseded_by"] == new


def test_query_filters(cli_vault: CliVault, fact: dict[str, object]) -> None:
    other = cli_vault.assert_ok("assert", "--entity", "user:bob", "--relation", "memory:role",
                                "--value", "engineer", "--confidence", "0.4", "--trust", "inferred",
                                "--scope", "company")["id"]
    third = cli_vault.assert_ok("assert", "--entity", "user:bob", "--relation", "memory:age",
                                "--value", "40", "--type", "number", "--trust", "reported")["id"]
    fid = str(fact["id"])
    assert _ids(cli_vault, "query", "--entity", "project:atlas") == [fid]
    assert _ids(cli_vault, "query", "--relation", "memory:role") == [other]
    assert _ids(cli_vault, "query", "--source", "agent:codex") == [fid]
    assert _ids(cli_vault, "query", "--scope", "team", "--scope", "company") == [fid, other]
    assert _ids(cli_vault, "query", "--trust", "inferred", "--trust", "reported") == [other, third]
    assert _ids(cli_vault, "query", "--type", "Number") == [third]
    assert _ids(cli_vault, "query", "--signer", str(fact["signer"])) == [fid]
    assert _ids(cli_vault, "query", "--min-confidence", "0.5") == [fid, third]
    assert _ids(cli_vault, "query", "--limit", "2") == [fid, other]
    assert _ids(cli_vault, "query", "--as-of", str(fact["hlc"])) == [fid]
    assert cli_vault("query", "--relation", "nothing:here").stdout == "no matching facts\n"
    for bad in (("--scope", "galaxy"), ("--trust", "gossip"), ("--as-of", "yesterday"),
                ("--min-confidence", "2"), ("--type", "float")):
        result = cli_vault("query", *bad)
        assert result.exit_code == 2, bad
        assert result.stderr.startswith("error: ") and len(result.stderr.splitlines()) == 1
    assert cli_vault("query", "--limit", "0").exit_code == 2


def test_query_as_of_shows_the_past(cli_vault: CliVault, fact: dict[str, object]) -> None:
    new = cli_vault.assert_ok("amend", str(fact["id"]), "--value", "done")
    assert _ids(cli_vault, "query", "--as-of", str(fact["hlc"])) == [fact["id"]]
    assert _ids(cli_vault, "query", "--as-of", str(new["hlc"])) == [new["id"]]


def test_contradicted_and_unverified_facts(cli_vault: CliVault) -> None:
    first, second = _two_authors(cli_vault)
    both = [first["id"], second["id"]]
    assert _ids(cli_vault, "query") == both  # contradicted facts stay queryable ...
    assert all(f["contradicted"] for f in _json(cli_vault, "query"))
    assert "contradicted" in cli_vault("query").stdout
    assert _ids(cli_vault, "query", "--exclude-contradicted") == []  # ... unless excluded

    # A fact file that never verified (a forged copy, never committed) is hidden by default.
    # (An edit of a committed fact file is a pending edit instead: §14 keeps its original.)
    path = cli_vault.path / str(first["path"])
    forged = str(Path(str(first["path"])).with_name("forged.md"))
    (cli_vault.path / forged).write_text(
        path.read_text().replace('value_string: "draft"', 'value_string: "forged"'))
    assert cli_vault("reindex").exit_code == 0
    assert _ids(cli_vault, "query") == both
    unverified = _json(cli_vault, "query", "--include-unverified")
    assert sorted((f["path"], f["status"], f["value"]["v"]) for f in unverified) == sorted([
        (first["path"], "valid", "draft"), (forged, "id-mismatch", "forged"),
        (second["path"], "valid", "review")])
    assert "id-mismatch" in cli_vault("query", "--include-unverified").stdout


# ----------------------------------------------------------------- recall


def test_recall_ranks_an_exact_match_first_with_its_breakdown(cli_vault: CliVault) -> None:
    made = {}
    for entity, text in [("project:atlas", "the atlas project ships maps of the world"),
                         ("project:borealis", "borealis ships weather charts"),
                         ("project:cygnus", "cygnus maps nothing at all, it is a database"),
                         ("project:dorado", "dorado is an unrelated compiler")]:
        made[entity] = cli_vault.assert_ok("assert", "--entity", entity, "--relation",
                                           "codex:summary", "--value", text, "--type", "text")["id"]
    found = _json(cli_vault, "recall", "atlas ships maps")
    assert isinstance(found, list)
    assert found[0]["id"] == made["project:atlas"]
    assert made["project:dorado"] not in [f["id"] for f in found]
    assert [f["rank"] for f in found] == list(range(1, len(found) + 1))
    scores = [f["score"] for f in found]
    assert scores == sorted(scores, reverse=True)
    top = found[0]["breakdown"]
    assert set(top) == {"lexical", "semantic", "graph", "source_trust", "recency", "trust",
                        "confidence", "contradicted_factor", "score"}
    assert top["score"] == pytest.approx(found[0]["score"], abs=1e-6)
    assert found[0]["value"]["v"] == "the atlas project ships maps of the world"

    lines = cli_vault("recall", "atlas ships maps").stdout.splitlines()
    assert lines[0].split() == ["#", "SCORE", "LEXICAL", "RECENCY", "TRUST", "CONF", "CONTRA",
                                "ID", "ENTITY", "RELATION", "VALUE"]
    first = lines[1].split()
    assert first[0] == "1" and first[7] == str(made["project:atlas"])[:12]
    assert float(first[1]) == pytest.approx(found[0]["score"], abs=1e-3)
    assert float(first[2]) == pytest.approx(top["lexical"], abs=1e-3)

    assert len(_json(cli_vault, "recall", "ships", "--limit", "1")) == 1
    assert _json(cli_vault, "recall", "ships", "--trust", "inferred") == []
    assert cli_vault("recall", "zebra").stdout == "nothing recalled\n"
    empty = cli_vault("recall", "  ")
    assert empty.exit_code == 2 and "query: must not be empty" in empty.stderr


def test_recall_ranks_contradicted_facts_lower(cli_vault: CliVault) -> None:
    first, second = _two_authors(cli_vault)
    calm = cli_vault.assert_ok("assert", "--entity", "project:atlas", "--relation", "codex:phase",
                               "--value", "draft", "--scope", "team")
    found = _json(cli_vault, "recall", "draft")
    assert found[0]["id"] == calm["id"]  # the same words, but nobody contradicts it
    contradicted = next(f for f in found if f["id"] == first["id"])
    assert contradicted["breakdown"]["contradicted_factor"] == 0.5
    assert contradicted["score"] < found[0]["score"]
    calm_only = _json(cli_vault, "recall", "draft review", "--exclude-contradicted")
    assert [f["id"] for f in calm_only] == [calm["id"]]
    assert second["id"] in [f["id"] for f in _json(cli_vault, "recall", "review")]


def test_recall_as_of_and_without_neighbours(cli_vault: CliVault) -> None:
    before = cli_vault.assert_ok("assert", "--entity", "service:checkout", "--relation",
                                 "service:latency_p99_ms", "--value", "250", "--type", "number")
    cli_vault.assert_ok("assert", "--entity", "service:checkout", "--relation", "rel:owner",
                        "--value", "team:payments", "--type", "ref")
    cli_vault.assert_ok("assert", "--entity", "team:payments", "--relation", "memory:lead",
                        "--value", "alice")
    later = cli_vault.assert_ok("assert", "--entity", "service:checkout", "--relation",
                                "service:latency_p99_ms", "--value", "900", "--type", "number")

    assert [f["id"] for f in _json(cli_vault, "recall", "p99", "--no-neighbors")] == [later["id"]]
    then = _json(cli_vault, "recall", "p99", "--no-neighbors", "--as-of", str(before["hlc"]))
    assert [f["id"] for f in then] == [before["id"]]
    assert _json(cli_vault, "recall", "p99", "--as-of", "2020-01-01") == []
    walked = {f["entity"] for f in _json(cli_vault, "recall", "checkout", "--depth", "1")}
    assert walked == {"service:checkout", "team:payments"}
    alone = {f["entity"] for f in _json(cli_vault, "recall", "checkout", "--no-neighbors")}
    assert alone == {"service:checkout"}
    future = cli_vault("recall", "p99", "--as-of", "2100-01-01T00:00:00Z")
    assert future.exit_code == 2 and "as_of" in future.stderr and "future" in future.stderr


# ----------------------------------------------------------------- provenance


def test_provenance_of_an_amended_fact_shows_the_chain(cli_vault: CliVault,
                                                       fact: dict[str, object]) -> None:
    first = str(fact["id"])
    middle = str(cli_vault.assert_ok("amend", first, "--value", "review")["id"])
    last = str(cli_vault.assert_ok("amend", middle, "--value", "done")["id"])
    child = cli_vault.assert_ok("assert", "--entity", "project:atlas", "--relation", "codex:note",
                                "--value", "x", "--derived-from", middle,
                                "--derived-from", "sha256:" + "ab" * 32)

    prov = _json(cli_vault, "provenance", middle[:10])
    assert isinstance(prov, dict)
    assert prov["fact"]["id"] == middle
    assert prov["fact"]["live"] is False
    assert prov["signer"] == {"key": fact["signer"], "sources": ["agent:codex"]}
    assert prov["file"]["status"] == "valid" and prov["file"]["path"].startswith("facts/team/")
    assert [f["id"] for f in prov["replaced"]] == [first]
    assert [f["id"] for f in prov["replaced_by"]] == [last]
    assert prov["derived_by"] == [child["id"]]
    assert len(prov["commits"]) == 1 and prov["commits"][0]["message"].startswith("stigmem: ")
    assert prov["commits"][0]["commit"] in cli_vault.git("log", "--format=%H")

    assert [f["id"] for f in _json(cli_vault, "provenance", last)["replaced"]] == [middle, first]
    derived = _json(cli_vault, "provenance", str(child["id"]))["derived_from"]
    assert {(d["id"], d["exists"]) for d in derived} == {(middle, True), ("sha256:" + "ab" * 32, False)}

    out = cli_vault("provenance", middle).stdout
    shown = dict(line.split(None, 1) for line in out.splitlines()[:9])
    assert shown["fact"] == middle
    assert shown["signer"] == f"{fact['signer']} (bound to agent:codex)"
    assert shown["state"] == "not live (superseded)"
    sections = out.split("\n")
    replaces = sections.index("replaces (its supersedes chain, newest first):")
    assert sections[replaces + 1].startswith(f"  {first[:12]}  ")
    replaced_by = sections.index("replaced by (oldest first):")
    assert sections[replaced_by + 1].startswith(f"  {last[:12]}  ")
    assert f"  {child['id']}" in out
    assert "(not in this vault)" in cli_vault("provenance", str(child["id"])).stdout

    missing = cli_vault("provenance", "0123456789abcdef")
    assert missing.exit_code == 2 and missing.stderr.startswith("error: no fact ")


# ----------------------------------------------------------------- conflicts


def test_two_author_conflict_is_listed_and_resolved(cli_vault: CliVault) -> None:
    first, second = _two_authors(cli_vault)
    open_ = _json(cli_vault, "conflicts")
    assert isinstance(open_, list) and len(open_) == 1
    conflict = open_[0]
    assert (conflict["status"], conflict["entity"], conflict["relation"], conflict["scope"]) == (
        "open", "project:atlas", "codex:state", "team")
    sides = {conflict["a"]["id"]: conflict["a"], conflict["b"]["id"]: conflict["b"]}
    assert set(sides) == {first["id"], second["id"]}
    assert {s["value"]["v"] for s in sides.values()} == {"draft", "review"}
    assert {s["source"] for s in sides.values()} == {"agent:codex", "agent:scribe"}
    assert all(s["hlc"] and s["confidence"] == 1.0 and s["trust"] == "observed"
               for s in sides.values())
    assert _json(cli_vault, "conflicts", "--status", "open") == open_
    assert _json(cli_vault, "conflicts", "--status", "resolved") == []

    text = cli_vault("conflicts").stdout
    assert text.startswith(f"conflict {conflict['id'][:12]}  open  project:atlas  codex:state  (team)")
    assert "  a     " in text and "  b     " in text and "agent:scribe" in text
    assert "stigmem resolve" in text

    both = cli_vault("resolve", conflict["id"], "--winner", "a", "--value", "x")
    assert both.exit_code == 2 and "winner" in both.stderr
    nowhere = cli_vault("resolve", "0" * 12, "--winner", "a")
    assert nowhere.exit_code == 2 and "no conflict" in nowhere.stderr

    resolved = cli_vault("resolve", conflict["id"][:12], "--winner", "a")
    assert resolved.exit_code == 0, resolved.stderr
    verb, resolution, path = resolved.stdout.split()
    assert verb == "resolved" and (cli_vault.path / path).is_file()

    after = _json(cli_vault, "conflicts")
    assert [(c["id"], c["status"], c["resolution"]) for c in after] == [
        (conflict["id"], "resolved", resolution)]
    assert _json(cli_vault, "conflicts", "--status", "open") == []
    assert f"resolved by {resolution}" in cli_vault("conflicts").stdout
    live = _json(cli_vault, "query", "--entity", "project:atlas", "--relation", "codex:state")
    assert [(f["id"], f["live"], f["source"], f["value"]["v"]) for f in live] == [
        (resolution, True, "user:alice", conflict["a"]["value"]["v"])]
    again = cli_vault("resolve", conflict["id"], "--winner", "b")
    assert again.exit_code == 2 and "already resolved" in again.stderr
    assert cli_vault.git("status", "--porcelain") == ""  # the resolution and its note committed


def test_resolve_with_a_value_under_json(cli_vault: CliVault) -> None:
    _two_authors(cli_vault)
    conflict = _json(cli_vault, "conflicts")[0]
    made = _json(cli_vault, "resolve", conflict["id"], "--value", "shipped")
    assert isinstance(made, dict)
    assert (made["action"], made["conflict"], made["value"]) == (
        "resolved", conflict["id"], {"type": "string", "v": "shipped"})
    assert sorted(made["derived_from"]) == sorted([conflict["a"]["id"], conflict["b"]["id"]])
    assert _ids(cli_vault, "query", "--relation", "codex:state") == [made["id"]]
    assert cli_vault("conflicts", "--status", "open").stdout == "no open conflicts\n"


# ----------------------------------------------------------------- index and reindex


def _answers(cli_vault: CliVault) -> tuple[object, ...]:
    recalled = _json(cli_vault, "recall", "atlas draft review done")
    assert isinstance(recalled, list)
    # Recency is measured to the clock, which moves between the two runs (a fact stamped
    # less than the clock's lease ahead scores exactly 1, a second later a little less): it
    # is no answer of the index. Everything else is.
    timeless = [{**hit, "score": None, "breakdown": {**hit["breakdown"], "recency": None,
                                                     "score": None}} for hit in recalled]
    return (_json(cli_vault, "query"),
            _json(cli_vault, "query", "--include-superseded", "--include-expired",
                  "--include-unverified"),
            _json(cli_vault, "conflicts"), timeless)


def test_index_and_reindex_give_identical_answers(cli_vault: CliVault, fact: dict[str, object]) -> None:
    _two_authors(cli_vault)
    cli_vault.assert_ok("amend", str(fact["id"]), "--value", "done")
    gone = cli_vault.assert_ok("assert", "--entity", "user:bob", "--relation", "memory:role",
                               "--value", "engineer", "--scope", "company")
    cli_vault.assert_ok("retract", str(gone["id"]))
    cli_vault.assert_ok("assert", "--entity", "user:bob", "--relation", "memory:due",
                        "--value", "x", "--valid-until", "2001-01-01T00:00:00Z")
    bad = cli_vault.path / "facts" / "team" / "zz" / "broken.md"
    bad.parent.mkdir(parents=True)
    bad.write_text("---\nentity: [unclosed\n---\n")

    indexed = _json(cli_vault, "index")
    assert isinstance(indexed, dict)
    assert [p["path"] for p in indexed["problems"]] == ["facts/team/zz/broken.md"]
    incremental = _answers(cli_vault)
    again = _json(cli_vault, "index")
    assert again == {"scanned": indexed["scanned"], "unchanged": indexed["scanned"], "indexed": 0,
                     "removed": 0, "problems": [], "changes": []}

    rebuilt = _json(cli_vault, "reindex")
    assert isinstance(rebuilt, dict)
    assert rebuilt["unchanged"] == 0 and rebuilt["indexed"] == len(cli_vault.fact_files())
    assert [p["path"] for p in rebuilt["problems"]] == ["facts/team/zz/broken.md"]
    assert _answers(cli_vault) == incremental
    # After a rebuild, the conflict notes are known too: the next scan reads nothing.
    assert list((cli_vault.path / "conflicts").rglob("*.md"))
    assert _json(cli_vault, "index") == again
    for suffix in ("", "-wal", "-shm"):  # a deleted cache, too
        Path(f"{cli_vault.path / INDEX_FILE}{suffix}").unlink(missing_ok=True)
    assert _answers(cli_vault) == incremental
    assert cli_vault.git("status", "--porcelain", "--untracked-files=all").strip() == (
        "?? facts/team/zz/broken.md")


def test_index_human_output(cli_vault: CliVault, fact: dict[str, object]) -> None:
    assert cli_vault("index").exit_code == 0
    bad = cli_vault.path / "facts" / "team" / "zz" / "broken.md"
    bad.parent.mkdir(parents=True)
    bad.write_text("---\nentity: [unclosed\n---\n")
    out = cli_vault("index")
    assert out.exit_code == 0
    lines = out.stdout.splitlines()
    assert lines[0].startswith("index: scanned ") and "1 fact file(s) indexed, 0 removed" in lines[0]
    assert lines[1].startswith("facts/team/zz/broken.md: malformed: ")
    assert out.stderr == ""  # no progress bar without a terminal
    rebuilt = cli_vault("reindex").stdout.splitlines()
    assert rebuilt[0].startswith("reindex: scanned ") and "0 unchanged, 2 fact file(s)" in rebuilt[0]


# ----------------------------------------------------------------- status


def test_status_shows_index_counts_problems_and_notices(cli_vault: CliVault,
                                                        fact: dict[str, object]) -> None:
    _two_authors(cli_vault)
    bad = cli_vault.path / "facts" / "team" / "zz" / "broken.md"
    bad.parent.mkdir(parents=True)
    bad.write_text("---\nentity: [unclosed\n---\n")
    data = _json(cli_vault, "status")
    assert isinstance(data, dict)
    assert data["index"]["facts"] == 3 and data["index"]["live"] == 2
    assert data["index"]["open_conflicts"] == 1
    assert len(data["problems"]) == 1
    problem = data["problems"][0]
    assert (problem["path"], problem["status"]) == ("facts/team/zz/broken.md", "malformed")
    assert "YAML" in problem["reason"]
    assert data["notices"] == []

    # Deleting a fact that is no longer live is undone, with a notice for the human.
    replaced = cli_vault.path / str(fact["path"])
    replaced.unlink()
    assert cli_vault("index").exit_code == 0
    assert replaced.is_file()
    out = cli_vault("status").stdout
    assert "index       " in out and "2 live, 1 open conflict(s)" in out
    assert "1 file(s) with problems:\n  facts/team/zz/broken.md: malformed: " in out
    assert "recent notices:" in out and f"Restored {fact['path']}" in out
    assert f"Restored {fact['path']}" in _json(cli_vault, "status")["notices"][-1]


def test_status_counts_conflict_notes_as_no_problem(cli_vault: CliVault) -> None:
    _two_authors(cli_vault)
    assert cli_vault("index").exit_code == 0  # writes the conflict's note
    assert len(list((cli_vault.path / "conflicts").rglob("*.md"))) == 1
    status = _json(cli_vault, "status")
    assert isinstance(status, dict)
    assert status["index"]["files"] == 3  # two fact files and the note
    assert status["problems"] == []
