"""What git already knows about the work tree, read without changing anything in ``.git``.

Change detection (watch/detect.py) asks git instead of ``lstat``-ing every file in Python:
libgit2's status compares each tracked file's stat data with the copy git's index keeps (and
reads the file when the stat is racy, as git does), so a clean file costs one ``lstat`` in C.
Nothing here writes: libgit2's status never rewrites the index file, and the repository is
opened afresh so the index read is the one on disk now.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pygit2


def blob_id(data: bytes) -> str:
    """The git blob id of ``data`` (what ``git hash-object`` prints)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


class GitState:
    """One look at a work tree's repository: its HEAD tree and what differs from it."""

    def __init__(self, root: Path) -> None:
        self.repo = pygit2.Repository(str(root))

    def head_tree(self) -> str | None:
        """The tree id of HEAD, None for a repository without a commit."""
        if self.repo.head_is_unborn:
            return None
        return str(self.repo.head.peel(pygit2.Commit).tree_id)

    def dirty(self) -> list[str]:
        """Every path whose work-tree file is not exactly its blob at HEAD: modified, staged,
        deleted, untracked or ignored. A folder git did not look into (an ignored folder, a
        nested repository) ends with "/"."""
        found = self.repo.status(untracked_files="all", ignored=True)
        return list(found)

    def changed_between(self, old: str, new: str) -> list[str]:
        """Paths whose blob differs between two trees (added, removed or changed in either)."""
        if old == new:
            return []
        diff = self.repo.diff(old, new)  # KeyError if ``old`` is gone (history rewritten)
        paths: set[str] = set()
        for delta in diff.deltas:
            paths.add(delta.old_file.path)
            paths.add(delta.new_file.path)
        return list(paths)

    def blobs(self, tree_id: str, paths: list[str] | None = None) -> dict[str, str]:
        """path -> blob id in ``tree_id``: of ``paths`` (those it has), or of every file."""
        tree = self.repo.get(tree_id)
        assert isinstance(tree, pygit2.Tree)
        found: dict[str, str] = {}
        if paths is not None:
            for path in paths:
                try:
                    entry = tree[path]
                except KeyError:
                    continue
                if entry.type_str == "blob":
                    found[path] = str(entry.id)
            return found
        stack: list[tuple[pygit2.Tree, str]] = [(tree, "")]
        while stack:
            here, prefix = stack.pop()
            for item in here:
                if isinstance(item, pygit2.Tree):
                    stack.append((item, f"{prefix}{item.name}/"))
                elif item.type_str == "blob":
                    found[f"{prefix}{item.name}"] = str(item.id)
        return found
