"""A real, non-editable install: build the wheel, `pip install` it into a fresh virtual
environment, and run `stigmem init` from there, far from the source tree. The wheel must
carry the fact template (the repository keeps it at the top level, templates/fact.md), so
`init` installs it and points Obsidian's Templates plugin at it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# What a source distribution of the project holds (pyproject, setup.py, MANIFEST.in and
# what they name): the wheel is built from a copy, so the build never writes into the tree.
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "stigmem_vault", "templates")


def _run(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None,
         ) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120,
                          cwd=cwd, env=env)
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done


@pytest.mark.slow
def test_a_wheel_installed_with_pip_ships_the_template_and_init_installs_it(
        tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for name in SOURCES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, source / name)
    wheels = tmp_path / "wheels"
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", wheels, source)
    [wheel] = wheels.glob("stigmem_vault-*.whl")

    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    _run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "-q", wheel)
    # The dependencies come from this test's environment: its site-packages appended to the
    # new one's path (a plain .pth line: the editable install's finder there is not loaded).
    purelib = _run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))")
    Path(purelib.stdout.strip(), "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "STIGMEM_HOME": str(tmp_path / "home")}
    env.pop("STIGMEM_VAULT", None)
    env.pop("PYTHONPATH", None)
    where = _run(python, "-c", "import stigmem_vault; print(stigmem_vault.__file__)",
                 cwd=elsewhere, env=env)
    assert Path(where.stdout.strip()).is_relative_to(venv)  # the wheel's copy, not the tree's
    _run(venv / "bin" / "stigmem", "init", "vault", "--owner", "user:wheel", cwd=elsewhere,
         env=env)
    vault = elsewhere / "vault"
    assert (vault / "templates/fact.md").read_bytes() == (REPO / "templates/fact.md").read_bytes()
    assert json.loads((vault / ".obsidian/templates.json").read_text()) == {"folder": "templates"}
