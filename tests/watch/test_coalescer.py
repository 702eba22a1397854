"""The watcher's batching logic, fed synthetic times at its one seam (no file system, no sleeps)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from stigmem_vault.watch.filters import VaultFilter
from stigmem_vault.watch.watcher import DEBOUNCE, MAX_DELAY, Coalescer


def test_nothing_pending_means_no_deadline_and_no_batch() -> None:
    c = Coalescer(0.01, 0.1)
    assert c.deadline() is None
    assert c.take(1000.0) is None


def test_a_batch_is_ready_after_the_quiet_period() -> None:
    c = Coalescer(0.01, 0.1)
    c.add("a.md", 1.0)
    assert c.deadline() == 1.01
    assert c.take(1.005) is None
    assert c.take(1.01) == ["a.md"]
    assert c.deadline() is None
    assert c.take(2.0) is None  # taken once


def test_events_keep_extending_the_quiet_period_but_not_past_max_delay() -> None:
    c = Coalescer(10, 100)  # any unit works; whole numbers keep the arithmetic exact
    now = 1000
    for i in range(30):  # one event every 5 units: never 10 units of quiet
        c.add(f"n{i % 3}.md", now)
        batch = c.take(now)
        if batch is not None:
            break
        now += 5
    assert batch == ["n0.md", "n1.md", "n2.md"]  # deduplicated, in first-seen order
    assert now == 1100  # exactly at the first event + max_delay


def test_the_deadline_is_the_earlier_of_quiet_and_max_delay() -> None:
    c = Coalescer(0.01, 0.1)
    c.add("a.md", 1.0)
    c.add("b.md", 1.095)
    assert c.deadline() == 1.1  # max_delay, not 1.105
    c2 = Coalescer(0.01, 0.1)
    c2.add("a.md", 1.0)
    c2.add("b.md", 1.02)
    assert c2.deadline() == 1.03


def test_a_new_batch_starts_its_own_clock() -> None:
    c = Coalescer(0.01, 0.1)
    c.add("a.md", 1.0)
    assert c.take(1.2) == ["a.md"]
    c.add("b.md", 5.0)
    assert c.deadline() == 5.01
    assert c.take(5.01) == ["b.md"]


def test_the_defaults_are_milliseconds_not_seconds() -> None:
    assert 0 < DEBOUNCE <= MAX_DELAY <= 0.1


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 0.05), st.sampled_from("abcde")), min_size=1, max_size=40),
       st.floats(0.001, 0.02), st.floats(0.02, 0.2))
def test_every_path_comes_out_exactly_once_and_no_batch_waits_past_max_delay(
        steps: list[tuple[float, str]], debounce: float, max_delay: float) -> None:
    c = Coalescer(debounce, max_delay)
    now, batches, first = 0.0, [], None
    for gap, name in steps:
        # Take whatever is due before the next event arrives (as the worker would).
        deadline = c.deadline()
        if deadline is not None and deadline <= now + gap:
            batch = c.take(deadline)
            assert batch and deadline - first <= max_delay + 1e-9
            batches.append(batch)
        now += gap
        if c.deadline() is None:
            first = now
        c.add(name, now)
    batches.append(c.take(c.deadline()))
    flat = [p for batch in batches for p in batch]
    assert all(len(set(batch)) == len(batch) for batch in batches)
    assert set(flat) == {name for _, name in steps}


# ------------------------------------------------------------------ the filter


def test_the_filter_keeps_notes_and_config_and_drops_editor_and_tool_files() -> None:
    keep = VaultFilter()
    for rel in ("facts/team/user/ab/bob/memory.role--0123456789ab.md", "notes/idea.md",
                "inbox/agent-codex/draft.md", "conflicts/team/x--abc.md", ".stigmem/vault.json",
                ".stigmem/trust/abc.json", ".stigmem/schemas/tag.yaml", "notes/", "facts/team/"):
        assert keep(rel), rel
    for rel in (".git/index", ".obsidian/workspace.json", ".trash/old.md", ".stigmem/index/index.sqlite3",
                ".stigmem/local/clock", "notes/.idea.md.tmp", "notes/idea.md.tmp", "notes/.idea.md.swp",
                "notes/idea.md~", "notes/#idea.md#", "notes/~idea.md", "notes/picture.png",
                "notes/idea.md.part", "notes/.hidden.md", ".hidden/"):
        assert not keep(rel), rel
