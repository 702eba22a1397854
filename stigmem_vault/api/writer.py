"""Group writes: many callers' single-fact writes, made a group at a time, in two stages.

A node answers many clients at once. Each request writing its own fact made every write pay
for a whole index transaction and conflict-note pass, and the request threads spent their
time handing the GIL, the index connection and the commit lock back and forth. Here callers
queue their claims and wait on a future. One thread takes everything queued so far (up to
``max_group``), signs it and writes the files (each fsynced before its caller hears back);
a second thread indexes what the first has written (one transaction for all of it) and
answers the callers. The stages overlap: while one group is being indexed the next group's
files are on their way to the disk. Under light load a group is a single fact and nothing
waits longer than its own write; under heavy load groups grow and the cost per fact falls,
which is what keeps latency flat as clients are added.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from nacl.signing import SigningKey

from stigmem_vault.errors import MisuseError
from stigmem_vault.index.query import IndexedFact
from stigmem_vault.model.fact import Claim, Fact

if TYPE_CHECKING:
    from stigmem_vault.api.facts import FactWriter

MAX_GROUP = 64
T = TypeVar("T")


@dataclass(slots=True)
class _Request:
    claim: Claim
    key: SigningKey | None
    future: Future[IndexedFact]


class GroupWriter:
    """The writing threads of a vault; ``submit`` returns a future of the indexed fact."""

    def __init__(self, facts: FactWriter, max_group: int = MAX_GROUP) -> None:
        self._facts = facts
        self._max_group = max_group
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._written: queue.SimpleQueue[_Written | None] = queue.SimpleQueue()
        self._closed = False
        self._lock = threading.Lock()
        self._writer = threading.Thread(target=self._write_loop, name="stigmem-writer",
                                        daemon=True)
        self._indexer = threading.Thread(target=self._index_loop, name="stigmem-indexer",
                                         daemon=True)
        self._writer.start()
        self._indexer.start()

    def submit(self, claim: Claim, key: SigningKey | None = None) -> Future[IndexedFact]:
        future: Future[IndexedFact] = Future()
        with self._lock:
            if self._closed:
                raise MisuseError("this vault's writer is closed")
            self._queue.put(_Request(claim, key, future))
        return future

    def close(self) -> None:
        """Write and index what is queued, then stop both threads."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)
        self._writer.join()
        self._indexer.join()

    # ------------------------------------------------------------ stage 1: the files

    def _write_loop(self) -> None:
        try:
            while (group := _take(self._queue, self._max_group)) is not None:
                self._write(group)
                if group[-1] is None:
                    break
        finally:
            self._written.put(None)

    def _write(self, group: list[_Request | None]) -> None:
        live = [r for r in group if r is not None and r.future.set_running_or_notify_cancel()]
        if not live:
            return
        try:
            results, written = self._facts.write_files(
                [r.claim for r in live], [r.key for r in live], None)
        except Exception as exc:  # every caller hears about it; the thread goes on
            for request in live:
                request.future.set_exception(exc)
            return
        done: list[tuple[_Request, Fact]] = []
        for request, result in zip(live, results, strict=True):
            if isinstance(result, Exception):
                request.future.set_exception(result)
            else:
                done.append((request, result))
        if done:
            self._written.put(_Written(done, written))

    # ------------------------------------------------------------ stage 2: the index

    def _index_loop(self) -> None:
        while (batch := _take(self._written, 1 << 30)) is not None:
            stop = batch[-1] is None
            self._index([b for b in batch if b is not None])
            if stop:
                return

    def _index(self, batch: list[_Written]) -> None:
        requests = [pair for item in batch for pair in item.done]
        try:
            self._facts.index_written([w for item in batch for w in item.written])
            items = self._facts.indexed([fact.id for _request, fact in requests])
        except Exception as exc:  # the files are durable and committed; the index lags
            for request, _fact in requests:
                request.future.set_exception(exc)
            return
        for request, fact in requests:
            item = items.get(fact.id)
            if item is None:  # cannot happen: it was just written or found on disk
                request.future.set_exception(MisuseError(f"fact {fact.id} is not indexed"))
            else:
                request.future.set_result(item)


@dataclass(slots=True)
class _Written:
    done: list[tuple[_Request, Fact]]  # the requests of a group that succeeded, with their facts
    written: list[tuple[str, bytes, Fact]]  # the files that group newly wrote


def _take(source: queue.SimpleQueue[T | None], most: int) -> list[T | None] | None:
    """Block for one item, then take whatever else is queued (up to ``most``); a None (the
    end) is kept as the last item. None if the first item is the end."""
    first = source.get()
    if first is None:
        return None
    items: list[T | None] = [first]
    while len(items) < most:
        try:
            item = source.get_nowait()
        except queue.Empty:
            break
        items.append(item)
        if item is None:
            break
    return items
