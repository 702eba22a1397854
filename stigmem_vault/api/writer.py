"""Group writes: many callers' single-fact writes, made by one thread a group at a time.

A node answers many clients at once. Each request writing its own fact made every write pay
for a whole index transaction and conflict-note pass, and the request threads spent their
time handing the GIL, the index connection and the commit lock back and forth. Here callers
queue their claims and wait on a future; one thread takes everything queued so far (up to
``max_group``) and writes it with ``Vault.write_claims``: each file still signed and fsynced
before its caller hears back, but one index transaction per group. Under light load a group
is a single fact and nothing waits longer than its own write; under heavy load groups grow
and the cost per fact falls, which is what keeps latency flat as clients are added.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nacl.signing import SigningKey

from stigmem_vault.errors import MisuseError
from stigmem_vault.index.query import IndexedFact
from stigmem_vault.model.fact import Claim

if TYPE_CHECKING:
    from stigmem_vault.api.vault import Vault

MAX_GROUP = 64


@dataclass(slots=True)
class _Request:
    claim: Claim
    key: SigningKey | None
    future: Future[IndexedFact]


class GroupWriter:
    """One writer thread for a vault; ``submit`` returns a future of the indexed fact."""

    def __init__(self, vault: Vault, max_group: int = MAX_GROUP) -> None:
        self._vault = vault
        self._max_group = max_group
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._closed = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="stigmem-writer", daemon=True)
        self._thread.start()

    def submit(self, claim: Claim, key: SigningKey | None = None) -> Future[IndexedFact]:
        future: Future[IndexedFact] = Future()
        with self._lock:
            if self._closed:
                raise MisuseError("this vault's writer is closed")
            self._queue.put(_Request(claim, key, future))
        return future

    def close(self) -> None:
        """Write what is queued, then stop the thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            while len(group) < self._max_group:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                group.append(item)
            self._write(group)

    def _write(self, group: list[_Request]) -> None:
        live = [r for r in group if r.future.set_running_or_notify_cancel()]
        import os
        import sys
        import time
        _t0 = time.perf_counter()
        try:
            results = self._vault.write_claims([r.claim for r in live],
                                               keys=[r.key for r in live])
            for request, result in zip(live, results, strict=True):
                if isinstance(result, Exception):
                    request.future.set_exception(result)
                    continue
                item = self._vault.index.get(result.id)
                if item is None:  # cannot happen: write_claims indexed it
                    request.future.set_exception(MisuseError(f"fact {result.id} not indexed"))
                else:
                    request.future.set_result(item)
        except Exception as exc:  # every caller hears about it; the thread goes on
            for request in live:
                if not request.future.done():
                    request.future.set_exception(exc)
