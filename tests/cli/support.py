"""Test support for CLI tests: a vault driven through ``stigmem`` and its on-disk snapshot."""

from __future__ import annotations

import hashlib
import json
import os
import pty
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from click.testing import Result

Invoke = Callable[..., Result]


@dataclass
class CliVault:
    path: Path
    run: Invoke

    def __call__(self, *args: str) -> Result:
        """``stigmem --vault PATH ARGS...``"""
        return self.run("--vault", str(self.path), *args)

    def assert_ok(self, *args: str) -> dict[str, object]:
        """Run a write command with --json, check it succeeded, return the fact it printed."""
        result = self(*args, "--json")
        assert result.exit_code == 0, result.stdout + result.stderr
        return json.loads(result.stdout)

    def fact_files(self) -> dict[str, str]:
        """Every fact file and the SHA-256 of its bytes."""
        return {p.relative_to(self.path).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted((self.path / "facts").rglob("*.md"))}

    def git(self, *args: str) -> str:
        return subprocess.run(["git", "-C", str(self.path), *args], check=True,
                              capture_output=True, text=True).stdout

    def snapshot(self) -> tuple[dict[str, str], str, str]:
        """Fact files, git HEAD and work-tree status: what 'writes nothing' must leave alone."""
        return self.fact_files(), self.git("rev-parse", "HEAD"), self.git("status", "--porcelain")


STIGMEM = Path(sys.executable).parent / "stigmem"


def on_terminal(*args: str, timeout: float = 120) -> tuple[int, str, bytes]:
    """Run ``stigmem ARGS`` with stderr on a pseudo-terminal: (status, stdout, stderr bytes)."""
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen([str(STIGMEM), *args], stdout=subprocess.PIPE, stderr=slave,
                                text=True)
        os.close(slave)
        drawn = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the process closed the terminal
                break
            if not chunk:
                break
            drawn += chunk
        stdout, _ = proc.communicate(timeout=timeout)
    finally:
        os.close(master)
    return proc.returncode, stdout, drawn
