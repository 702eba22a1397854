"""Finding what changed since the index was last current, at the cost of ``git status``.

Each file state the index records carries the git blob id of the bytes it indexed, and is
*settled* once those bytes are the file's blob in the HEAD tree the index last checked
against (``Index.git_tree``). A settled file that git's own status reports clean holds its
blob at HEAD, and HEAD has not changed it since that tree: so it holds the bytes indexed, and
is not looked at. Only these are (``candidates``):

* what git reports not clean (modified, deleted, staged, untracked, ignored: libgit2 compares
  the stat data git's index keeps, in C, and reads a file whose stat is racy),
* what changed between the tree last checked and HEAD now (a pull, another process's commit),
* every file state not settled (a write not yet committed, a note, a file indexed unseen).

Each candidate is then compared by ``lstat`` with its recorded state, as the full walk does
(watch/scan.py ``changes``), so both find the same changes. The full walk remains for an index
with nothing settled yet (built from scratch, or by writes alone), a vault without commits,
and any git error; after it every file state is settled against HEAD.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pygit2

from stigmem_vault.index.index import Index
from stigmem_vault.vault.git_state import GitState
from stigmem_vault.watch.filters import VaultFilter
from stigmem_vault.watch.scan import SKIP_DIRS, Changes, changes, is_fact_path, walk_notes


@dataclass
class Watermark:
    """What to settle once the changes found are indexed: ``paths`` (None: every file)
    against ``tree``.

    ``fresh``: the index held no file when the changes were found (a first index, of a
    fresh clone say). Then every file state the scan records is settled as it is inserted,
    checked against ``head`` (the scan passes it to ``index_facts``), and ``settle`` only
    records the tree: a pass over a million rows after the load (about 5 s) becomes a
    comparison per row as it goes in. A row another writer recorded meanwhile stays
    unsettled, which only means the next scan looks at it."""

    state: GitState
    tree: str
    paths: list[str] | None
    fresh: bool = False
    _head: dict[str, str] | None = field(default=None, init=False, repr=False)

    def head(self) -> dict[str, str]:
        """path -> blob id of every file in ``tree`` (read once)."""
        if self._head is None:
            self._head = self.state.blobs(self.tree)
        return self._head

    def settle(self, index: Index) -> None:
        if self.fresh:  # every state was settled as it went in: only the tree is recorded
            index.settle(self.tree, {}, [])
        else:
            index.settle(self.tree, self.state.blobs(self.tree, self.paths), self.paths)


def head_for(watermark: Watermark | None) -> Callable[[], dict[str, str]] | None:
    """What ``index_facts`` settles inserted rows against: HEAD's blobs for a first index."""
    return watermark.head if watermark is not None and watermark.fresh else None


def detect(root: Path, index: Index, folders: Iterable[str] = (),
           ) -> tuple[Changes, Watermark | None]:
    """The changes since the index was last current, and the watermark to settle after
    indexing them (None: there is no commit to settle against). ``folders`` (each ending
    with "/": moved, made or removed, as a watcher saw) are walked whole, so that what git
    never lists (a FIFO, a socket) is found in them too."""
    try:
        state = GitState(root)
        tree = state.head_tree()
    except (pygit2.GitError, KeyError, ValueError):
        return changes(root, index), None
    if tree is None:
        return changes(root, index), None
    candidates = _candidates(state, tree, index)
    if candidates is None:
        fresh = index.is_empty()
        return changes(root, index), Watermark(state, tree, None, fresh)
    candidates.update(folders)
    found, looked = changes_among(root, index, candidates)
    return found, Watermark(state, tree, looked)


def candidates(root: Path, index: Index) -> set[str] | None:
    """Every path whose file may differ from its indexed state (a folder ending with "/"
    stands for all under it), or None if only a full walk can tell. Reads only."""
    try:
        state = GitState(root)
        tree = state.head_tree()
    except (pygit2.GitError, KeyError, ValueError):
        return None
    return None if tree is None else _candidates(state, tree, index)


def _candidates(state: GitState, tree: str, index: Index) -> set[str] | None:
    last = index.git_tree()
    if last is None:
        return None
    try:
        found = set(state.dirty())
        found.update(state.changed_between(last, tree))
    except (pygit2.GitError, KeyError, ValueError, TypeError):
        return None
    found.update(index.unsettled_paths())
    return found


def walked(rel: str) -> bool:
    """True if the full walk (scan.walk_notes) would list the file ``rel``."""
    parts = rel.split("/")
    if parts[0] in SKIP_DIRS or any(part.startswith(".") for part in parts[:-1]):
        return False
    return _KEEP(rel)


_KEEP = VaultFilter()


def changes_among(root: Path, index: Index, candidates: set[str]) -> tuple[Changes, list[str]]:
    """``changes`` limited to the candidate paths (a folder, ending with "/", stands for
    every note under it); returns them and the paths looked at."""
    paths: set[str] = set()
    stats: dict[str, os.stat_result] = {}
    for rel in candidates:
        if rel.endswith("/"):  # a folder git did not list file by file
            if walked(rel + "x.md"):
                for inner, st in walk_notes(root / rel):
                    if walked(rel + inner):
                        paths.add(rel + inner)
                        stats[rel + inner] = st
        elif walked(rel):
            paths.add(rel)
    looked = sorted(paths)
    known = index.file_stats(looked)
    found = Changes()
    new = 0
    for rel in looked:
        try:
            st = stats[rel] if rel in stats else os.lstat(root / rel)
        except OSError:
            if rel in known:
                found.removed.append(rel)
            continue
        new += rel not in known
        if known.get(rel) == (st.st_size, st.st_mtime_ns):
            continue
        if is_fact_path(rel):
            found.facts.append((rel, st))
        else:
            found.notes.append(rel)
    found.scanned = index.file_count() - len(found.removed) + new
    found.unchanged = found.scanned - len(found.facts) - len(found.notes)
    return found, looked
