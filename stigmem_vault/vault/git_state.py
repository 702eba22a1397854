"""What git already knows about the work tree, read without changing anything in ``.git``.

Change detection (watch/detect.py) asks git instead of ``lstat``-ing every file in Python:
libgit2's status compares each tracked file's stat data with the copy git's index keeps (and
reads the file when the stat is racy, as git does), so a clean file costs one ``lstat`` in C.
The git command is used when there is one (its status reads the stat data with several
threads, about twice as fast as libgit2's), with optional locks off so that it never
refreshes git's index file either; libgit2 answers when it is missing or fails. Nothing here
writes, and the repository is opened afresh so the index read is the one on disk now.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pygit2


def blob_id(data: bytes) -> str:
    """The git blob id of ``data`` (what ``git hash-object`` prints)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


class GitState:
    """One look at a work tree's repository: its HEAD tree and what differs from it."""

    def __init__(self, root: Path) -> None:
        self.root = root
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
        out = _git(self.root, "status", "--porcelain=v2", "-z", "--untracked-files=all",
                   "--ignored=matching", "--no-renames")
        if out is None:
            return list(self.repo.status(untracked_files="all", ignored=True))
        paths = []
        origin = False  # the record is the origin path of the rename record before it
        for record in out.split(b"\0"):
            if origin or not record:
                origin = False
                if record:
                    paths.append(os.fsdecode(record))
                continue
            kind = record[:1]
            if kind in (b"?", b"!"):
                paths.append(os.fsdecode(record[2:]))
            elif kind in (b"1", b"u"):  # the path is the last field; it may hold spaces
                paths.append(os.fsdecode(record.split(b" ", 8 if kind == b"1" else 10)[-1]))
            elif kind == b"2":  # a rename (not asked for): both ends, the origin follows
                paths.append(os.fsdecode(record.split(b" ", 9)[-1]))
                origin = True
        return paths

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


def tracked_paths_containing(root: Path, needles: tuple[bytes, ...]) -> list[str] | None:
    """The paths in git's index whose NUL-terminated name contains one of ``needles`` (a
    superset for the caller to filter), None if the git command cannot tell.

    Faster than the same choice made by pathspecs: git matches a glob pathspec against every
    entry (0.25 s for ten of them over 100,000 paths), where a substring search of the whole
    listing runs at memory speed (0.03 s), and most listings hold no needle at all."""
    out = _git(root, "ls-files", "-z")
    if out is None:
        return None
    found: set[bytes] = set()
    for needle in needles:
        at = out.find(needle)
        while at != -1:
            start, end = out.rfind(b"\0", 0, at) + 1, out.find(b"\0", at + 1)
            end = len(out) if end == -1 else end
            found.add(out[start:end])
            at = out.find(needle, end)
    return sorted(os.fsdecode(p) for p in found if p)


_SCRUB = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
          "GIT_NAMESPACE", "GIT_COMMON_DIR")


def git_env() -> dict[str, str]:
    """This process's environment without the variables that would point a git command at
    another repository, index or object store than the one it is run in."""
    return {k: v for k, v in os.environ.items() if k not in _SCRUB}


def _git(root: Path, *args: str) -> bytes | None:
    """The output of a read-only git command in ``root``; None if git is missing or fails."""
    git = shutil.which("git")
    if git is None:
        return None
    env = git_env()
    env["GIT_OPTIONAL_LOCKS"] = "0"  # never refresh (write) git's index as a side effect
    try:
        done = subprocess.run(
            [git, "--no-optional-locks", "-c", "core.fsmonitor=false", "-c",
             "core.quotePath=false", "-C", str(root), *args],
            capture_output=True, env=env, check=False, timeout=600)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None
