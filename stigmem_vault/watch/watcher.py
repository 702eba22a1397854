"""The watcher: file-system events in, small coalesced batches of changed paths out.

watchdog delivers events on its own thread; we reduce each to vault-relative paths (both ends
of a move), drop what the filter ignores, and hand them to a worker thread. The worker waits
for a short quiet period (``debounce``, milliseconds, not a second) but never longer than
``max_delay`` after the first event, then calls ``on_batch(paths)``. Whatever ``on_batch``
raises is reported through ``on_error`` and the watcher keeps going: a bad file never stops it.

The batching logic is the pure ``Coalescer`` so it can be tested without a file system.
"""

from __future__ import annotations

import os
import queue
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import watchdog.events
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from stigmem_vault.watch.filters import VaultFilter

# watchdog >= 7 warns when a folder created inside a watched tree gets its watch re-added (for
# example mkdir -p of several levels); re-adding is harmless (gorakhargosh/watchdog#1278).
warnings.filterwarnings("ignore", message="Callback with id .* already exists for watch",
                        category=RuntimeWarning)

DEBOUNCE = 0.004
MAX_DELAY = 0.040

# The event types the handler can use: every one but "opened" and "closed_no_write", which it
# drops anyway. Asking inotify only for these keeps plain reads silent: with IN_OPEN and
# IN_CLOSE_NOWRITE, walking a large vault (watchdog re-adding its watches after the kernel
# queue overflowed, a scan, git, the index) raised more events than the queue holds, so
# watchdog walked the whole tree again, and again: a node on a 100,000-fact vault spent half
# a core on that, idle.
#
# Nor "a folder was modified": watchdog makes one up for the parent folder of every file
# created, deleted or moved, half of all events while the node writes, and the handler never
# used them (a folder's files bring their own events).
_EVENT_FILTER = [cls for cls in vars(watchdog.events).values()
                 if isinstance(cls, type) and issubclass(cls, FileSystemEvent)
                 and cls.event_type not in ("opened", "closed_no_write")
                 and cls not in (FileSystemEvent, watchdog.events.DirModifiedEvent)]


class Coalescer:
    """Collects paths; a batch is ready after ``debounce`` of quiet or ``max_delay`` in total."""

    def __init__(self, debounce: float = DEBOUNCE, max_delay: float = MAX_DELAY) -> None:
        self.debounce = debounce
        self.max_delay = max_delay
        self._paths: dict[str, None] = {}  # insertion-ordered set
        self._first = 0.0
        self._last = 0.0

    def add(self, path: str, now: float) -> None:
        if not self._paths:
            self._first = now
        self._paths[path] = None
        self._last = now

    def deadline(self) -> float | None:
        """When the pending batch becomes ready, or None if nothing is pending."""
        if not self._paths:
            return None
        return min(self._last + self.debounce, self._first + self.max_delay)

    def take(self, now: float) -> list[str] | None:
        deadline = self.deadline()
        if deadline is None or now < deadline:
            return None
        batch = list(self._paths)
        self._paths.clear()
        return batch


# Folders never watched: git's objects and refs, Obsidian's workspace, the trash, and the
# index and local state under .stigmem/ churn on every write and commit. Only
# .stigmem/trust/ and .stigmem/schemas/ (and .stigmem/vault.json) matter to the watcher.
UNWATCHED_TOP = frozenset({".git", ".obsidian", ".trash", ".stigmem"})
WATCHED_CONFIG = (".stigmem/trust", ".stigmem/schemas")


class _Handler(FileSystemEventHandler):
    def __init__(self, root: Path, keep: VaultFilter, sink: queue.SimpleQueue[str | None],
                 on_new_folder: Callable[[str], None]) -> None:
        self._root = str(root)
        self._prefix = len(self._root) + 1
        self._keep = keep
        self._sink = sink
        self._on_new_folder = on_new_folder

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        if event.is_directory and event.event_type in ("created", "moved"):
            target = os.fsdecode(getattr(event, "dest_path", "") or event.src_path)
            rel = target[self._prefix:].replace(os.sep, "/") if target.startswith(
                self._root + os.sep) else ""
            if rel and ("/" not in rel or rel in WATCHED_CONFIG):
                self._on_new_folder(rel)  # a new top-level folder: watch it too
        if event.is_directory and event.event_type not in ("moved", "deleted"):
            return  # a new or touched folder: the files in it bring their own events
        for raw in (event.src_path, getattr(event, "dest_path", "")):
            path = os.fsdecode(raw)
            if not path.startswith(self._root + os.sep):
                continue
            rel = path[self._prefix:].replace(os.sep, "/")
            if event.is_directory:
                rel += "/"
            if self._keep(rel):
                self._sink.put(rel)


class Watcher:
    """Run ``on_batch`` for every coalesced batch of changed vault paths until ``stop()``."""

    def __init__(self, root: Path, on_batch: Callable[[list[str]], None],
                 on_error: Callable[[BaseException], None], *, keep: VaultFilter | None = None,
                 debounce: float = DEBOUNCE, max_delay: float = MAX_DELAY) -> None:
        self.root = root
        self._on_batch = on_batch
        self._on_error = on_error
        self._events: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._coalescer = Coalescer(debounce, max_delay)
        self._observer = Observer()
        self._handler = _Handler(root, keep or VaultFilter(), self._events, self._watch_folder)
        self._watched: set[str] = set()
        self._watch_lock = threading.Lock()
        # The top level without recursion (new files and folders), each folder that holds
        # notes recursively, and of .stigmem/ only what the index depends on.
        self._observer.schedule(self._handler, str(root), recursive=False,
                                event_filter=_EVENT_FILTER)
        if (root / ".stigmem").is_dir():
            self._observer.schedule(self._handler, str(root / ".stigmem"), recursive=False,
                                    event_filter=_EVENT_FILTER)
        for entry in sorted(os.listdir(root)):
            if (root / entry).is_dir() and entry not in UNWATCHED_TOP:
                self._watch_folder(entry, rescan=False)
        for config in WATCHED_CONFIG:
            if (root / config).is_dir():
                self._watch_folder(config, rescan=False)
        self._worker = threading.Thread(target=self._run, name="stigmem-watch", daemon=True)
        self._stopping = threading.Event()

    def _watch_folder(self, rel: str, rescan: bool = True) -> None:
        """Watch a folder (recursively) that appeared at the top level, or a config folder."""
        if rel.split("/", 1)[0] in UNWATCHED_TOP and rel not in WATCHED_CONFIG:
            return
        with self._watch_lock:
            if rel in self._watched:
                return
            self._watched.add(rel)
        try:
            self._observer.schedule(self._handler, str(self.root / rel), recursive=True,
                                    event_filter=_EVENT_FILTER)
        except OSError:
            return  # gone again already
        if rescan:
            self._events.put(rel + "/")  # files written before the watch existed: rescan it

    def listen(self) -> None:
        """Start noting changes without handling them yet (``start`` does): what changes while
        a scan runs is then handled after it, never lost between the scan and the watch."""
        if not self._observer.is_alive():
            self._observer.start()

    def start(self) -> None:
        self.listen()
        self._worker.start()

    def stop(self) -> None:
        self._stopping.set()
        self._events.put(None)
        if self._observer.is_alive():
            self._observer.stop()
            self._observer.join(timeout=5)
        if self._worker.is_alive():
            self._worker.join(timeout=5)

    def __enter__(self) -> Watcher:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stopping.is_set():
            deadline = self._coalescer.deadline()
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                item = self._events.get(timeout=timeout)
            except queue.Empty:
                item = ""
            if item is None:
                break
            if item:
                self._coalescer.add(item, time.monotonic())
            batch = self._coalescer.take(time.monotonic())
            if batch:
                try:
                    self._on_batch(batch)
                except Exception as exc:
                    self._on_error(exc)
