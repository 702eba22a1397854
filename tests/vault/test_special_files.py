"""Reading vault files safely: only regular files are read, nothing blocks (issue 9, item 3).

Real FIFOs, sockets, symlinks and folders. Every call that could block on a FIFO runs in a
thread with a deadline, so a regression fails instead of hanging the suite.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fifos import make_fifo, release, within_deadline
from model.factgen import KEY

from stigmem_vault.errors import FormatError, VaultConfigError
from stigmem_vault.vault.config import SCHEMA_DIR, load_schemas
from stigmem_vault.vault.git import GitRepo
from stigmem_vault.vault.reading import MAX_NOTE_BYTES, read_regular, read_regular_stat
from stigmem_vault.vault.trust import TRUST_DIR, TrustStore
from stigmem_vault.vault.verify import verify_file


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    path = make_fifo(tmp_path / "fifo.md")
    yield path
    release([path])


@pytest.fixture
def unix_socket(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "socket.md"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
        yield path


def refused(path: Path) -> str:
    with pytest.raises(FormatError) as caught:
        within_deadline(lambda: read_regular(path, "x.md"))
    assert caught.value.path == "x.md"
    return caught.value.reason


def test_a_regular_file_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "note.md"
    path.write_bytes(b"---\na: 1\n---\n")
    assert read_regular(path, "note.md") == b"---\na: 1\n---\n"
    data, st = read_regular_stat(path, "note.md")
    assert (data, st.st_size, st.st_mtime_ns) == (path.read_bytes(), 13, path.stat().st_mtime_ns)
    path.write_bytes(b"x" * MAX_NOTE_BYTES)
    assert len(read_regular(path, "note.md")) == MAX_NOTE_BYTES  # the limit itself is allowed


def test_a_fifo_is_refused_without_blocking(fifo: Path) -> None:
    assert refused(fifo) == "is not a regular file: a FIFO (named pipe); it is never opened"


def test_a_socket_is_refused(unix_socket: Path) -> None:
    assert refused(unix_socket) == "is not a regular file: a socket; it is never opened"


def test_a_folder_and_a_device_are_refused(tmp_path: Path) -> None:
    (tmp_path / "folder.md").mkdir()
    assert refused(tmp_path / "folder.md") == "is not a regular file: a folder; it is never opened"
    assert refused(Path("/dev/null")) == ("is not a regular file: a character device; "
                                          "it is never opened")


def test_symlinks_are_refused_even_to_a_regular_file(tmp_path: Path, fifo: Path) -> None:
    (tmp_path / "real.md").write_text("hello\n")
    (tmp_path / "link.md").symlink_to(tmp_path / "real.md")
    assert refused(tmp_path / "link.md").startswith(f"is a symlink (to {tmp_path / 'real.md'})")
    (tmp_path / "to-fifo.md").symlink_to(fifo)
    assert refused(tmp_path / "to-fifo.md").startswith("is a symlink")


def test_an_oversized_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "big.md"
    with open(path, "wb") as handle:
        handle.truncate(50 * 1024 * 1024)
    assert refused(path) == f"is {50 * 1024 * 1024} bytes, over the {MAX_NOTE_BYTES}-byte limit"
    with pytest.raises(FormatError, match="over the 10-byte limit"):
        read_regular(tmp_path / "big.md", "big.md", limit=10)


def test_a_missing_file_is_a_format_error_naming_it(tmp_path: Path) -> None:
    assert refused(tmp_path / "gone.md") == "cannot be read: No such file or directory"


def test_an_lstat_taken_before_the_file_became_a_fifo_does_not_make_it_read(
        tmp_path: Path) -> None:
    """The check is repeated on the open descriptor: a regular file swapped for a FIFO after
    the caller's lstat is opened without blocking and refused."""
    path = tmp_path / "swapped.md"
    path.write_text("hello\n")
    before = os.lstat(path)
    path.unlink()
    os.mkfifo(path)
    with pytest.raises(FormatError, match="is not a regular file: a FIFO"):
        within_deadline(lambda: read_regular(path, "swapped.md", st=before))


def test_verify_reports_a_fifo_fact_file(tmp_path: Path, fifo: Path) -> None:
    verdict = within_deadline(lambda: verify_file(tmp_path, "fifo.md", TrustStore("")))
    assert (verdict.verdict.value, verdict.reason) == (
        "malformed", "is not a regular file: a FIFO (named pipe); it is never opened")


def test_a_commit_never_opens_paths_that_are_not_files(tmp_path: Path, fifo: Path,
                                                       unix_socket: Path) -> None:
    """A path handed to a commit that is a FIFO or socket by then is never opened for
    blocking (libgit2's own ``index.add`` blocks on a FIFO and fails on a socket): the commit
    records the bytes its writer handed over, and git sees the work tree as changed."""
    repo = GitRepo.init(tmp_path, tmp_path / ".lock")
    (tmp_path / "fine.md").write_text("fine\n")

    def commit() -> str | None:
        with repo.locked():
            oid = repo.commit([(name, b"fine\n") for name in ("fine.md", "fifo.md", "socket.md")],
                              "m", KEY, "system:node-1", "n@stigmem.invalid")
            repo.write_index()
            return oid

    assert within_deadline(commit) is not None
    index = repo.repo.index
    index.read()
    assert sorted(entry.path for entry in index) == ["fifo.md", "fine.md", "socket.md"]
    assert {repo.blob_at_head(name) for name in ("fine.md", "fifo.md", "socket.md")} == {b"fine\n"}


def test_a_fifo_in_the_trust_store_is_a_trust_problem_not_a_hang(tmp_path: Path) -> None:
    fifo = make_fifo(tmp_path / TRUST_DIR / "agent" / "x.json")
    try:
        store = within_deadline(lambda: TrustStore.load(tmp_path, "ed25519:owner"))
    finally:
        release([fifo])
    rel = str(fifo.relative_to(tmp_path))
    assert store.rejected == [
        (rel, "unreadable: is not a regular file: a FIFO (named pipe); it is never opened")]


def test_a_fifo_among_the_schemas_is_a_config_error_not_a_hang(tmp_path: Path) -> None:
    fifo = make_fifo(tmp_path / SCHEMA_DIR / "x.yaml")
    try:
        with pytest.raises(VaultConfigError, match="is not a regular file: a FIFO"):
            within_deadline(lambda: load_schemas(tmp_path))
    finally:
        release([fifo])
