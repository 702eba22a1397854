"""No file in the repository keeps the markers of a merge conflict resolved by hand.

One did: docs/spec.md carried ``<<<<<<< HEAD`` ... ``>>>>>>> coldstart`` around two of its
sections for weeks, and nothing read the file the way a person does. (A lone ``=======``
line is a Markdown heading underline, so only the two outer markers are looked for.)
"""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MARKERS = (b"<<<<<<< ", b">>>>>>> ")


def _tracked_files() -> list[Path]:
    try:
        listing = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True,
                                 check=True).stdout
    except (OSError, subprocess.CalledProcessError):  # an unpacked sdist: no git
        return [p for p in REPO.rglob("*") if p.is_file() and ".git" not in p.parts
                and ".venv" not in p.parts and "node_modules" not in p.parts]
    return [REPO / name.decode() for name in listing.split(b"\0") if name]


def test_no_tracked_file_holds_merge_conflict_markers() -> None:
    found = []
    for path in _tracked_files():
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if b"\0" in data[:8192]:  # binary
            continue
        for number, line in enumerate(data.splitlines(), 1):
            if line.startswith(MARKERS):
                found.append(f"{path.relative_to(REPO)}:{number}: {line[:40]!r}")
    assert not found, "merge conflict markers left in:\n" + "\n".join(found)
