"""The index is a cache: for a random vault and random edits, deleting the index and running
reindex gives exactly the answers the live index gave (facts, liveness, conflicts, as_of)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from watch import support
from watch.support import draft_text, set_property, tick_sign, write_in_place, write_via_rename

from stigmem_vault.api.vault import Vault
from stigmem_vault.model.fact import Fact
from stigmem_vault.vault import index_lag
from stigmem_vault.watch import scan

IDENTITIES = ("user:alice", "agent:codex", "agent:claude")
KEYS = (("user:bob", "memory:role"), ("user:bob", "project:tag"),  # project:tag is multi-valued
        ("stigmem://acme/project/atlas", "codex:current_state"))
VALUES = ("a", "b")
UNTIL = {None: None, "past": "2001-01-01T00:00:00.000Z", "future": "2999-01-01T00:00:00.000Z"}

who = st.sampled_from(IDENTITIES)
pick = st.integers(0, 1000)
value = st.sampled_from(VALUES)
asserts = st.tuples(st.just("assert"), who, st.integers(0, len(KEYS) - 1), value,
                    st.sampled_from(list(UNTIL)))
edits = st.one_of(
    asserts,
    st.tuples(st.just("amend"), pick, who, value),
    st.tuples(st.just("retract"), pick, who),
    st.tuples(st.just("resolve"), pick, st.sampled_from(["a", "b", "value"])),
    st.tuples(st.just("edit-file"), pick, value),
    st.tuples(st.just("delete-file"), pick),
    st.tuples(st.just("draft"), st.integers(0, len(KEYS) - 1), value),
    # Another process, while the index is settled against git (watch/detect.py): a commit of
    # everything written, an edit of a fact file keeping its size and mtime second (racy for
    # git's stat cache), a rename, and a fact file signed elsewhere and dropped in. A commit
    # writes git's index at once or leaves it behind HEAD, as a node's timed commit does.
    st.tuples(st.just("commit"), st.booleans()),
    st.tuples(st.just("racy-edit"), pick),
    st.tuples(st.just("rename-file"), pick),
    st.tuples(st.just("drop-in"), who, value),
)
# A few facts first (so that edits have something to act on and conflicts arise), then edits.
operations = st.builds(lambda first, then: first + then, st.lists(asserts, min_size=2, max_size=6),
                       st.lists(edits, max_size=10))


def _run(vault: Vault, ops: list[tuple], written: list[Fact]) -> None:
    for op in ops:
        kind = op[0]
        if kind == "assert":
            _, source, k, v, until = op
            entity, relation = KEYS[k]
            written.append(vault.assert_fact(entity=entity, relation=relation, value=v, source=source,
                                             valid_until=UNTIL[until]))
        elif kind in ("amend", "retract", "edit-file", "delete-file") and written:
            target = written[op[1] % len(written)]
            path = vault.root / vault.path_of(target)
            if kind in ("edit-file", "delete-file") and not path.exists():
                continue  # renamed or deleted by an earlier operation
            if kind == "amend":
                written.append(vault.amend(target.id, source=op[2], value=op[3]))
            elif kind == "retract":
                written.append(vault.retract(target.id, source=op[2]))
            elif kind == "edit-file":  # a human edits the property in Obsidian, ticks `sign`
                write_in_place(path, tick_sign(set_property(path.read_text("utf-8"),
                                                            "value_string", f'"{op[2]}"')))
                vault.refresh()
            else:  # a human deletes the file
                os.unlink(path)
                vault.refresh()
        elif kind == "resolve":
            open_conflicts = vault.conflicts("open")
            if open_conflicts:
                record = open_conflicts[op[1] % len(open_conflicts)]
                choice = op[2]
                written.append(vault.resolve(record.id, winner=None if choice == "value" else choice,
                                             value="resolved" if choice == "value" else None))
        elif kind == "commit":
            vault.flush(git_index=op[1])
            vault.refresh()  # settles what the commit recorded
        elif kind in ("racy-edit", "rename-file") and written:
            path = vault.root / vault.path_of(written[op[1] % len(written)])
            if not path.exists():
                continue
            if kind == "racy-edit":
                # Committed first: an unsigned edit of a fact never committed loses its
                # original on a rebuild (there are no committed bytes to fall back on), with or
                # without detection through git.
                vault.flush()
                before = path.stat()
                text = path.read_text("utf-8")
                swapped = text.replace('value_string: "a"', 'value_string: "c"', 1)
                if swapped == text:
                    swapped = text.replace('value_string: "b"', 'value_string: "d"', 1)
                write_in_place(path, swapped)
                os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1))
            else:
                os.rename(path, path.with_name("renamed-" + path.name))
            vault.refresh()
        elif kind == "drop-in":
            _fact, rel, text = support.signed_elsewhere(vault, op[1], op[2])
            write_via_rename(vault.root / rel, text)
            vault.refresh()
        elif kind == "draft":
            entity, relation = KEYS[op[1]]
            write_via_rename(vault.root / "notes" / f"draft{len(written)}.md",
                             draft_text(op[2], entity=entity, relation=relation))
            vault.refresh()


def _answers(vault: Vault, stamps: list[str]) -> tuple[object, ...]:
    facts = [(i.fact.id, i.status, i.path, i.present, i.live, i.superseded_by, i.contradicted, i.expired)
             for i in vault.query(include_superseded=True, include_expired=True, include_unverified=True)]
    default = [i.fact.id for i in vault.query()]
    conflicts = sorted((c.id, c.entity, c.relation, c.scope, c.fact_a and c.fact_a.fact.id,
                        c.fact_b and c.fact_b.fact.id, c.opened_hlc, c.status, c.resolution)
                       for c in vault.conflicts())
    then = [[i.fact.id for i in vault.query(as_of=stamp)] for stamp in stamps]
    totals = vault.index.counts(), vault.index.fact_files_by_scope()
    assert totals == _counted(vault)  # the running totals the triggers keep, against a count
    return facts, default, conflicts, then, totals


def _counted(vault: Vault) -> tuple[dict[str, int], dict[str, int]]:
    rows = vault.index.db.read
    counts = {"files": rows("SELECT count(*) FROM files")[0][0],
              "facts": rows("SELECT count(*) FROM facts WHERE present = 1")[0][0],
              "live": rows("SELECT count(*) FROM facts WHERE live = 1")[0][0],
              "open_conflicts": rows("SELECT count(*) FROM conflicts WHERE status = 'open'")[0][0]}
    scopes: dict[str, int] = {}
    for (path,) in rows("SELECT path FROM files WHERE path LIKE 'facts/%/%'"):
        scope = path.split("/")[1]
        scopes[scope] = scopes.get(scope, 0) + 1
    return counts, scopes


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations)
def test_reindex_gives_the_same_answers_as_the_live_index(ops: list[tuple]) -> None:
    # git's index written behind the commits, as in a large vault (vault/index_lag.py).
    inline, index_lag.INLINE_BYTES = index_lag.INLINE_BYTES, -1
    # The rebuild inserts without the query indexes and creates them after, as a large one does.
    bulk, scan.BULK_FILES = scan.BULK_FILES, 1
    with tempfile.TemporaryDirectory() as tmp:
        vault = Vault.init(Path(tmp) / "vault", owner="user:alice", home=Path(tmp) / "home",
                           commit_delay=None)
        try:
            for source in IDENTITIES[1:]:
                vault.create_identity(source)
            schema = vault.root / ".stigmem/schemas/tag.yaml"
            schema.write_text("relation: project:tag\ntype: string\ncardinality: multi\n")
            vault.reload_config()
            assert vault.query() == []  # the index is open from here on: it is kept live
            written: list[Fact] = []
            _run(vault, ops, written)
            vault.refresh()
            stamps = sorted({f.hlc for f in written})
            live = _answers(vault, stamps)
            vault.reindex()
            rebuilt = _answers(vault, stamps)
            assert rebuilt == live
        finally:
            vault.close()
            index_lag.INLINE_BYTES = inline
            scan.BULK_FILES = bulk
