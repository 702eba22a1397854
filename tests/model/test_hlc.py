"""The hybrid logical clock: string order is the total order; the clock never goes back."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.factgen import hlcs, node_ids
from stigmem_vault.errors import InvalidFact, StorageError
from stigmem_vault.model.hlc import (
    HLC,
    LEASE_MS,
    MAX_COUNTER,
    MAX_FUTURE_SKEW_MS,
    MAX_PAST_SKEW_MS,
    skew_violation,
    validate_node_id,
)
from stigmem_vault.vault.clock import Clock

NODE = "9f86d081884c7d65"


def walls(values: list[int]) -> Callable[[], int]:
    """A wall clock that returns ``values`` in turn, then repeats the last one."""
    it: Iterator[int] = iter(values)
    last = [values[0] if values else 0]

    def wall() -> int:
        last[0] = next(it, last[0])
        return last[0]

    return wall


@settings(max_examples=500)
@given(hlcs, hlcs)
def test_string_order_is_wall_counter_node_order(a: HLC, b: HLC) -> None:
    assert (str(a) < str(b)) == ((a.wall_ms, a.counter, a.node) < (b.wall_ms, b.counter, b.node))
    assert (str(a) == str(b)) == (a == b)
    assert (str(a) < str(b)) == (a < b)


@given(hlcs)
def test_parse_format_round_trip(stamp: HLC) -> None:
    text = str(stamp)
    assert len(text.split(".")[0]) == 13 and len(text.split(".")[1]) == 6
    assert HLC.parse(text) == stamp
    assert str(HLC.parse(text)) == text


def test_format_example() -> None:
    assert str(HLC(1764000000000, 3, NODE)) == "1764000000000.000003.9f86d081884c7d65"
    assert str(HLC(5, 0, "a")) == "0000000000005.000000.a"


@pytest.mark.parametrize("text", [
    "1764000000000.3.abc",                      # unpadded counter (the upstream defect)
    "176400000000.000003.abc",                  # 12-digit wall
    "1764000000000.000003.",                    # no node
    "1764000000000.000003.ABC",                 # uppercase node
    "1764000000000.000003.-abc",                # node starts with '-'
    "1764000000000.000003.abc\n",               # trailing newline
    "1764000000000.000003.abc ",
    " 1764000000000.000003.abc",
    "1764000000000.000003.abc.def",
    "1764000000000.0000003.abc",
    "",
])
def test_malformed_stamps_are_refused(text: str) -> None:
    with pytest.raises(InvalidFact) as info:
        HLC.parse(text)
    assert info.value.field == "hlc"


def test_non_string_stamp_is_refused() -> None:
    with pytest.raises(InvalidFact, match="must be a string"):
        HLC.parse(1764000000000.000003)


@pytest.mark.parametrize("node", ["", "-a", "A", "a_b", "a" * 65, "a\n", "a.b"])
def test_bad_node_ids(node: str) -> None:
    with pytest.raises(InvalidFact):
        validate_node_id(node)
    with pytest.raises(InvalidFact):
        Clock(node)


@given(node_ids)
def test_good_node_ids(node: str) -> None:
    assert validate_node_id(node) == node


# ----------------------------------------------------------------- Clock


@settings(max_examples=200)
@given(st.lists(st.integers(0, 10**12), min_size=1, max_size=300))
def test_clock_is_strictly_monotonic_whatever_the_wall_does(wall_values: list[int]) -> None:
    clock = Clock(NODE, wall=walls(wall_values))
    stamps = [clock.now() for _ in range(len(wall_values) + 5)]
    assert all(a < b for a, b in itertools.pairwise(stamps))
    assert all(str(a) < str(b) for a, b in itertools.pairwise(stamps))
    assert clock.last == stamps[-1]


def test_clock_follows_the_wall_when_it_advances() -> None:
    clock = Clock(NODE, wall=walls([1000, 1000, 1000, 2000, 1500]))
    assert [str(clock.now()) for _ in range(5)] == [
        "0000000001000.000000." + NODE, "0000000001000.000001." + NODE,
        "0000000001000.000002." + NODE, "0000000002000.000000." + NODE,
        "0000000002000.000001." + NODE,
    ]


def test_clock_under_many_threads_issues_unique_increasing_stamps() -> None:
    clock = Clock(NODE, wall=lambda: 1000)
    results: list[list[HLC]] = [[] for _ in range(8)]

    def work(out: list[HLC]) -> None:
        for _ in range(500):
            out.append(clock.now())

    threads = [threading.Thread(target=work, args=(out,)) for out in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [stamp for out in results for stamp in out]
    assert len(set(every)) == 4000
    for out in results:  # each thread sees its own stamps increase
        assert out == sorted(out)


@settings(max_examples=200)
@given(st.integers(0, 10**12), hlcs)
def test_receive_moves_past_the_remote_stamp(local_wall: int, remote: HLC) -> None:
    clock = Clock(NODE, wall=lambda: local_wall)
    before = clock.now()
    merged = clock.receive(remote)
    after = clock.now()
    assert merged > before
    assert (merged.wall_ms, merged.counter) > (remote.wall_ms, remote.counter)
    assert after > merged
    assert merged.node == NODE


def test_receive_same_wall_takes_the_larger_counter() -> None:
    clock = Clock(NODE, wall=lambda: 1000)
    clock.now()  # (1000, 0)
    assert clock.receive(HLC(1000, 41, "other")) == HLC(1000, 42, NODE)
    assert clock.receive(HLC(999, 500, "other")) == HLC(1000, 43, NODE)
    assert clock.receive(HLC(1200, 7, "other")) == HLC(1200, 8, NODE)
    assert clock.now() == HLC(1200, 9, NODE)


def test_counter_overflow_borrows_from_the_wall() -> None:
    clock = Clock(NODE, wall=lambda: 1000)
    merged = clock.receive(HLC(1000, MAX_COUNTER, "other"))
    assert merged == HLC(1001, 0, NODE)  # width kept: the counter never reaches 7 digits
    assert len(str(merged).split(".")[1]) == 6
    nxt = clock.now()  # the wall is still 1000, behind the borrowed millisecond
    assert nxt == HLC(1001, 1, NODE)


def test_counter_overflow_on_now() -> None:
    clock = Clock(NODE, wall=lambda: 7)
    clock.receive(HLC(7, MAX_COUNTER - 1, "other"))  # -> (7, MAX)
    assert clock.last == HLC(7, MAX_COUNTER, NODE)
    assert clock.now() == HLC(8, 0, NODE)


def test_clock_is_monotonic_across_a_restart_with_the_wall_going_back(tmp_path: Path) -> None:
    state = tmp_path / "local" / "clock"
    first = Clock(NODE, state, wall=walls([5_000_000 + i for i in range(0, 5000, 7)]))
    issued = [first.now() for _ in range(700)]  # crosses several leases
    assert int(state.read_text()) >= issued[-1].wall_ms
    assert sorted(p.name for p in state.parent.iterdir()) == ["clock", "clock.lock"]  # no temp files

    # "Restart" with a wall clock that jumped back an hour.
    second = Clock(NODE, state, wall=lambda: 5_000_000 - 3_600_000)
    after = [second.now() for _ in range(10)]
    assert after[0] > issued[-1]
    assert str(after[0]) > str(issued[-1])
    assert after == sorted(after)


def test_two_clocks_leasing_one_state_file_at_once(tmp_path: Path) -> None:
    # Regression: both clocks wrote "clock.tmp"; one's rename took the other's temp file away
    # and the other's write failed with StorageError (two processes writing one vault).
    state = tmp_path / "clock"
    errors: list[BaseException] = []

    def run(clock: Clock) -> None:
        try:
            for _ in range(300):
                clock.now()
        except BaseException as exc:
            errors.append(exc)

    def stepping() -> Callable[[], int]:
        now = [0]

        def wall() -> int:
            now[0] += LEASE_MS  # every stamp crosses the lease: every call writes the file
            return now[0]
        return wall

    threads = [threading.Thread(target=run, args=(Clock(NODE, state, wall=stepping()),))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clock", "clock.lock"]


def test_lease_is_written_ahead_and_rarely(tmp_path: Path) -> None:
    state = tmp_path / "clock"
    clock = Clock(NODE, state, wall=lambda: 10_000)
    clock.now()
    assert int(state.read_text()) == 10_000 + LEASE_MS
    state.write_text("garbage-that-would-fail-if-reread")
    clock.now()  # inside the lease: the file is not rewritten
    assert state.read_text() == "garbage-that-would-fail-if-reread"


def test_unreadable_clock_state_is_a_storage_error(tmp_path: Path) -> None:
    state = tmp_path / "clock"
    state.write_text("not a number\n")
    with pytest.raises(StorageError, match="unreadable clock state"):
        Clock(NODE, state)


def test_empty_clock_state_starts_from_zero(tmp_path: Path) -> None:
    state = tmp_path / "clock"
    state.write_text("")
    assert Clock(NODE, state, wall=lambda: 50).now() == HLC(50, 0, NODE)


# ----------------------------------------------------------------- skew


def test_skew_within_bounds() -> None:
    now = 10**12
    assert skew_violation(HLC(now, 0, "a"), now) is None
    assert skew_violation(HLC(now + MAX_FUTURE_SKEW_MS, 0, "a"), now) is None
    assert skew_violation(HLC(now - MAX_PAST_SKEW_MS, 0, "a"), now) is None


def test_skew_beyond_bounds() -> None:
    now = 10**12
    future = skew_violation(HLC(now + MAX_FUTURE_SKEW_MS + 1, 0, "a"), now)
    assert future == f"HLC is {MAX_FUTURE_SKEW_MS + 1} ms in the future (bound {MAX_FUTURE_SKEW_MS} ms)"
    past = skew_violation(HLC(now - MAX_PAST_SKEW_MS - 1, 0, "a"), now)
    assert past is not None and "in the past" in past


def test_skew_custom_and_disabled_bounds() -> None:
    now = 10**12
    assert skew_violation(HLC(now + 11, 0, "a"), now, max_future_ms=10) is not None
    assert skew_violation(HLC(now + 10**9, 0, "a"), now, max_future_ms=0) is None
    assert skew_violation(HLC(0, 0, "a"), now, max_past_ms=0) is None
    assert skew_violation(HLC(now - 11, 0, "a"), now, max_past_ms=10) is not None


def test_a_lagging_clock_never_lowers_the_shared_lease(tmp_path: Path) -> None:
    # Two processes of one node share the lease file; the one whose wall is behind must not
    # write a lower lease, or a restart could reissue stamps the other already used.
    state = tmp_path / "clock"
    behind = Clock(NODE, state, wall=lambda: 1_000_000)  # opened before the other wrote
    ahead = Clock(NODE, state, wall=lambda: 5_000_000)
    ahead.now()
    behind.now()
    assert int(state.read_text()) >= 5_000_000 + LEASE_MS
    assert Clock(NODE, state, wall=lambda: 0).now().wall_ms > 5_000_000


def test_processes_started_one_after_another_keep_the_lease_near_the_wall(tmp_path: Path) -> None:
    # Every CLI command is a process of the node that starts from the shared lease. A hundred
    # of them within one second of wall time (agents running `stigmem assert` in a loop) must
    # neither push the lease nor their stamps seconds ahead of the wall: stamps over 5 minutes
    # ahead are refused by every peer (§5.3). Each still begins above the one before it.
    state = tmp_path / "clock"
    wall = 10_000_000
    Clock(NODE, state, wall=lambda: wall).now()  # the node, running
    stamps = [Clock(NODE, state, wall=lambda: wall).now() for _ in range(100)]
    assert all(a < b for a, b in itertools.pairwise(stamps))
    assert stamps[-1].wall_ms <= wall + LEASE_MS + 2 * len(stamps)
    assert int(state.read_text()) <= wall + LEASE_MS + 2 * len(stamps)
