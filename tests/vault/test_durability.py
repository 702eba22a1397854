"""What a writer reports as done survives a power loss: proven from the system calls it makes.

A real vault is created and written by a child process under ``strace``; the trace is then
replayed. Every file the child wrote under the vault must be fsynced after its last write,
and every name it created (a new folder, a file linked or renamed into place) needs its
folder fsynced after the name appeared, each before the call that made it returned (the child
prints a marker after each call). Without that, a power loss can drop an acknowledged fact,
a commit the branch already names, or the clock lease.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from nacl.signing import SigningKey

from stigmem_vault.vault.git import STALE_TMP_SECONDS, GitRepo

_MARK = r"""
import os, sys
from pathlib import Path

def mark(name):
    os.write(1, f"MARK:{name}\n".encode())

"""
VAULT_CHILD = r"""
from stigmem_vault.api.vault import Vault

vault = Vault.init(sys.argv[1], owner="user:alice", home=sys.argv[2], commit_delay=None)
mark("init")
for n, entity in enumerate(["project:atlas", "project:borealis", "person:carol"]):
    vault.assert_fact(entity=entity, relation="memory:role", value=f"lead {n}")
    mark(f"assert {entity}")
vault.flush()
mark("first commit")
vault.assert_fact(entity="project:atlas", relation="memory:status", value="green")
vault.flush()
mark("second commit")
vault.close()
"""
STORE_CHILD = r"""
from stigmem_vault.vault.store import write_atomic

write_atomic(Path(sys.argv[1]) / "facts/local/person/01/carol/role.md", b"lead\n")
mark("write")
"""
CLOCK_CHILD = r"""
from stigmem_vault.vault.clock import Clock

Clock("node-a", Path(sys.argv[1]) / "state" / "local" / "clock").now()
mark("lease")
"""

# Only the clock lease matters under .stigmem/local/: the rest is caches, locks and markers;
# .stigmem/index/ is the index, a cache rebuilt from the files.
_LOCAL = ".stigmem/local/"
_CACHE = ".stigmem/index"
# Names the commit git's index was last brought in step with; deliberately not fsynced: an
# older name (or none) after a power loss only makes the next writer reconcile more paths.
_INDEX_HEAD = ".git/stigmem-index-head"
_CALL = re.compile(r"^(\w+)\((.*)\)\s+=\s+(-?\d+)(?:<(.*)>)?")
_FD = re.compile(r"^(\d+)<(.*?)>")
_STRINGS = re.compile(r'"((?:[^"\\]|\\.)*)"')


def _strace() -> str:
    exe = shutil.which("strace")
    if exe is None:
        pytest.skip("strace is not installed (apt-get install strace): cannot watch fsync calls")
    probe = subprocess.run([exe, "-f", "-qq", "-y", "--seccomp-bpf", "-o", os.devnull, "true"],
                           capture_output=True,
                           text=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip(f"strace cannot trace here (ptrace not permitted?): {probe.stderr.strip()}")
    return exe


def _calls(trace: str) -> list[str]:
    """One line per finished system call, in order, with interrupted calls joined."""
    pending: dict[str, str] = {}
    calls = []
    for line in trace.splitlines():
        pid, _, rest = line.partition(" ")
        rest = rest.strip()
        if rest.endswith("<unfinished ...>"):
            pending[pid] = rest[: -len("<unfinished ...>")].rstrip()
            continue
        resumed = re.match(r"<\.\.\. \w+ resumed>\s*(.*)", rest)
        if resumed:
            rest = pending.pop(pid, "") + resumed.group(1)
        calls.append(rest)
    return calls


def _unsynced_at_markers(calls: list[str], root: Path, present: set[str]
                         ) -> tuple[dict[str, list[str]], list[str]]:
    """For each marker: the paths (relative to ``root``) still not durable when it was printed;
    and every name the trace shows being made under ``root`` (for the caller to check that
    the trace holds what the test is about)."""
    prefix = str(root) + "/"
    dirty: dict[str, bool] = {}  # path -> content written and not yet fsynced
    unsynced_name: set[str] = set()  # new names whose folder was not fsynced since
    known: set[str] = set()
    made: list[str] = []
    found: dict[str, list[str]] = {}

    def watched(path: str) -> bool:
        if not path.startswith(prefix):
            return False
        rel = path[len(prefix):]
        return rel in present and not rel.startswith(_CACHE) and rel != _INDEX_HEAD and (
            not rel.startswith(_LOCAL) or rel == _LOCAL + "clock")

    def created(path: str) -> None:
        known.add(path)
        unsynced_name.add(path)
        if path.startswith(prefix):
            made.append(path[len(prefix):])

    for call in calls:
        match = _CALL.match(call)
        if not match or int(match.group(3)) < 0:
            continue
        name, args, result_path = match.group(1), match.group(2), match.group(4)
        fd = _FD.match(args)
        fd_path = fd.group(2).removesuffix(" (deleted)") if fd else None
        strings = _STRINGS.findall(args)
        if name == "write" and fd and fd.group(1) == "1" and strings[0].startswith("MARK:"):
            marker = strings[0][len("MARK:"):].removesuffix("\\n")
            late = {p for p, d in dirty.items() if d} | unsynced_name
            found[marker] = sorted(p[len(prefix):] for p in late if watched(p))
        elif name in ("write", "pwrite64", "writev", "pwritev", "ftruncate") and fd_path:
            dirty[fd_path] = True
        elif name in ("fsync", "fdatasync") and fd_path:
            dirty[fd_path] = False
            unsynced_name.difference_update(
                {p for p in unsynced_name if os.path.dirname(p) == fd_path})
        elif name in ("mkdir", "mkdirat") and strings:
            created(strings[-1])
        elif name == "openat" and "O_CREAT" in args and result_path:
            if result_path not in known:  # the vault is new: an unseen name is made here
                created(result_path)
            if "O_TRUNC" in args:
                dirty[result_path] = True
        elif name in ("link", "linkat", "rename", "renameat", "renameat2") and len(strings) >= 2:
            source, target = strings[0], strings[1]
            dirty[target] = dirty.get(source, False)
            if name.startswith("rename"):
                dirty.pop(source, None)
                unsynced_name.discard(source)
            created(target)
        elif name == "unlink" and strings:
            dirty.pop(strings[0], None)
            unsynced_name.discard(strings[0])
    return found, made


def _run_traced(tmp_path: Path, child: str, root: Path, *args: str
                ) -> tuple[dict[str, list[str]], list[str]]:
    """Run ``child`` (Python) under strace with ``root`` and ``args`` as its arguments."""
    strace = _strace()
    script = tmp_path / "child.py"
    script.write_text(_MARK + child)
    log = tmp_path / "trace.txt"
    syscalls = "fsync,fdatasync,write,pwrite64,writev,pwritev,ftruncate,openat,mkdir,mkdirat," \
               "link,linkat,rename,renameat,renameat2,unlink"
    run = subprocess.run([strace, "-f", "-qq", "-y", "--seccomp-bpf", "-e", f"trace={syscalls}",
                          "-o", str(log), sys.executable, str(script), str(root), *args],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    present = {"."}
    for dirpath, dirnames, filenames in os.walk(root):
        for entry in [*dirnames, *filenames]:
            present.add(os.path.relpath(os.path.join(dirpath, entry), root))
    found, made = _unsynced_at_markers(_calls(log.read_text()), root, present)
    assert list(found) == [line[5:] for line in run.stdout.splitlines() if line.startswith("MARK:")]
    return found, made


def test_a_vault_s_commits_and_writes_are_durable_when_they_return(tmp_path: Path) -> None:
    root = tmp_path / "new" / "vault"
    found, made = _run_traced(tmp_path, VAULT_CHILD, root, str(tmp_path / "home"))
    assert list(found) == ["init", "assert project:atlas", "assert project:borealis",
                           "assert person:carol", "first commit", "second commit"]
    # The trace holds what this is about: new fact folders, each commit's pack and its index,
    # branch, index.
    assert any(p.startswith("facts/local/project/") for p in made)
    packs = [p for p in made if re.fullmatch(r"\.git/objects/pack/pack-[0-9a-f]{40}\.pack", p)]
    assert len(packs) >= 3  # init, first commit, second commit
    assert all(p[:-5] + ".idx" in made for p in packs)
    assert ".git/refs/heads/main" in made and ".git/index" in made
    assert {marker: late for marker, late in found.items() if late} == {}


def test_a_write_that_makes_folders_makes_them_durable(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    found, made = _run_traced(tmp_path, STORE_CHILD, root)
    assert made[:3] == ["facts", "facts/local", "facts/local/person"]
    assert found == {"write": []}


def test_the_clock_lease_is_durable_when_a_stamp_is_issued(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    found, made = _run_traced(tmp_path, CLOCK_CHILD, root)
    assert "state/local/clock" in made
    assert found == {"lease": []}


def _repo(tmp_path: Path) -> GitRepo:
    return GitRepo.init(tmp_path / "repo", tmp_path / "repo" / ".git" / "stigmem.lock")


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid  # reaped: no process has this id now (until the system reuses it)


def test_temp_objects_of_crashed_writers_are_removed_by_the_next_writer(tmp_path: Path) -> None:
    """A writer's first commit after it opened the vault removes what crashed commits left."""
    repo = _repo(tmp_path)
    objects = Path(repo.repo.path) / "objects"
    old = time.time() - STALE_TMP_SECONDS - 60
    crashed_git2 = objects / "tmp_object_git2_2f1c0a9e7b3d5c11"  # as libgit2 names them
    crashed_git = objects / "tmp_Xa81Qz"  # some other git program's: named by no process
    crashed_ours = objects / f"tmp_stigmem_{_dead_pid()}_140000000000000"
    live_git2 = objects / "tmp_object_git2_77aa00bb11cc22dd"  # being written right now
    live_ours = objects / f"tmp_stigmem_{os.getpid()}_140000000000001"  # a live writer's
    # A commit's pack and its index, half written (ours only: git's own are git gc's).
    crashed_pack = objects / "pack" / f"tmp_stigmem_{_dead_pid()}_140000000000002.pack"
    live_pack = objects / "pack" / f"tmp_stigmem_{os.getpid()}_140000000000003.idx"
    gits_pack = objects / "pack" / "tmp_pack_Q1w2E3"
    for path in (crashed_git2, crashed_git, crashed_ours, live_git2, live_ours, crashed_pack,
                 live_pack, gits_pack):
        path.write_bytes(b"x\x01half an object")
    for path in (crashed_git2, crashed_git):  # ours goes by its process alone, not by age
        os.utime(path, (old, old))

    reopened = GitRepo.open(repo.root, tmp_path / "repo" / ".git" / "stigmem.lock")
    (repo.root / "note.md").write_text("kept\n")
    with reopened.locked():
        assert reopened.commit([("note.md", b"kept\n")], "stigmem: test", SigningKey.generate(),
                               "system:node-test", "test@stigmem.invalid")
    left = sorted(p.name for p in objects.iterdir() if p.name.startswith("tmp_"))
    assert left == sorted([live_git2.name, live_ours.name])
    left = sorted(p.name for p in (objects / "pack").iterdir() if p.name.startswith("tmp_"))
    assert left == sorted([live_pack.name, gits_pack.name])
    assert reopened.remove_stale_temp_objects(now=time.time() + STALE_TMP_SECONDS + 60) == \
        [live_git2.name]  # libgit2's go by age alone; a live process keeps ours
