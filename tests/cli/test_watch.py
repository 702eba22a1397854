"""`stigmem watch` as a real process: a draft dropped into the vault is signed and queryable
while it runs; SIGINT or SIGTERM stops it cleanly (exit 0, everything committed)."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, TypeVar

import pytest

from .support import CliVault

STIGMEM = Path(sys.executable).parent / "stigmem"
DEADLINE = 30.0  # seconds; generous for slow CI, but never an unbounded wait

pytestmark = pytest.mark.skipif(not STIGMEM.exists(),
                                reason="run `pip install -e '.[test]'` to install the script")

T = TypeVar("T")

DRAFT = """---
entity: project:atlas
relation: codex:owner
value: bob
scope: team
sign: true
---
Bob owns the atlas project.
"""


class Lines:
    """The lines a process writes to one pipe, collected on a thread, awaited with a deadline."""

    def __init__(self, stream: IO[str]) -> None:
        self.seen: list[str] = []
        self._queue: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        try:
            for line in stream:
                self._queue.put(line.rstrip("\n"))
        except ValueError:  # closed under us after a failed test killed the process
            pass
        self._queue.put(None)

    def wait_for(self, match: Callable[[str], bool], what: str) -> str:
        deadline = time.monotonic() + DEADLINE
        for line in self.seen:
            if match(line):
                return line
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                pytest.fail(f"the process ended before {what}; it wrote {self.seen}")
            self.seen.append(line)
            if match(line):
                return line
        pytest.fail(f"no {what} within {DEADLINE}s; the process wrote {self.seen}")

    def rest(self) -> list[str]:
        """Every line up to the end of the stream (call once the process has exited)."""
        while (line := self._queue.get(timeout=DEADLINE)) is not None:
            self.seen.append(line)
        return self.seen


def poll(check: Callable[[], T | None], what: str) -> T:
    """Call ``check`` until it returns something, at most DEADLINE seconds."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        found = check()
        if found is not None:
            return found
        time.sleep(0.05)
    pytest.fail(f"{what}: not within {DEADLINE}s")


def _kill(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def _watch(vault: Path, *options: str) -> subprocess.Popen[str]:
    return subprocess.Popen([str(STIGMEM), "--vault", str(vault), *options, "watch"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize(("stop", "as_json"), [(signal.SIGINT, True), (signal.SIGTERM, False)],
                         ids=["sigint-json", "sigterm-human"])
def test_watch_signs_a_draft_and_stops_cleanly(cli_vault: CliVault, stop: signal.Signals,
                                               as_json: bool) -> None:
    with _watch(cli_vault.path, *(["--json"] if as_json else [])) as proc:
        try:
            out, err = Lines(proc.stdout), Lines(proc.stderr)  # type: ignore[arg-type]
            err.wait_for(lambda line: line.startswith("watching "), "'watching' on stderr")

            (cli_vault.path / "draft.md").write_text(DRAFT)
            if as_json:
                line = out.wait_for(lambda line: json.loads(line)["kind"] == "signed",
                                    "a signed change")
                change = json.loads(line)
                assert change["detail"] == "from draft.md"
                fact_id = change["fact_id"]
            else:
                line = out.wait_for(lambda line: line.startswith("signed "), "a signed change")
                kind, path, fact_id, detail = line.split(None, 3)
                assert (kind, detail) == ("signed", "(from draft.md)")
                assert path.startswith("facts/team/project/") and fact_id in path

            def queryable() -> dict[str, object] | None:
                result = cli_vault("query", "--relation", "codex:owner", "--json")
                assert result.exit_code == 0, result.stderr
                found = [f for f in json.loads(result.stdout) if str(f["id"]).startswith(fact_id)]
                return found[0] if found else None

            fact = poll(queryable, "the signed draft in `query --json`")
            assert (fact["entity"], fact["value"], fact["scope"], fact["source"]) == (
                "project:atlas", {"type": "string", "v": "bob"}, "team", "user:alice")
            assert fact["live"] is True
            assert not (cli_vault.path / "draft.md").exists()  # filed: the draft is gone

            proc.send_signal(stop)
            assert proc.wait(timeout=DEADLINE) == 0
            assert "stopped; every change is committed" in err.rest()
            assert all(line.strip() for line in out.rest())
        finally:
            _kill(proc)
    # The exit committed everything: the new fact and the removed draft.
    assert cli_vault.git("status", "--porcelain") == ""
    assert str(fact["path"]) in cli_vault.git("ls-files")
    verified = cli_vault("verify")
    assert verified.exit_code == 0, verified.stdout


def test_watch_reports_a_bad_draft_and_keeps_going(cli_vault: CliVault) -> None:
    with _watch(cli_vault.path, "--json") as proc:
        try:
            out, err = Lines(proc.stdout), Lines(proc.stderr)  # type: ignore[arg-type]
            err.wait_for(lambda line: line.startswith("watching "), "'watching' on stderr")
            (cli_vault.path / "bad.md").write_text(DRAFT.replace("scope: team", "scope: galaxy"))
            line = out.wait_for(lambda line: json.loads(line)["kind"] == "rejected", "a rejection")
            assert json.loads(line)["path"] == "bad.md" and "galaxy" in json.loads(line)["detail"]
            assert "galaxy" in (cli_vault.path / "bad.md").read_text()  # annotated for the human
            (cli_vault.path / "good.md").write_text(DRAFT)
            out.wait_for(lambda line: json.loads(line)["kind"] == "signed", "a signed change")
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=DEADLINE) == 0
            out.rest()
            err.rest()
        finally:
            _kill(proc)
