"""Contract tests: the public surface is curated, and heavy front-end deps stay out of it."""

from __future__ import annotations

import subprocess
import sys

import stigmem_vault


def test_all_is_sorted_and_complete() -> None:
    exported = stigmem_vault.__all__
    # isort order (as ruff's RUF022 keeps it): CONSTANTS, then Classes, then the rest.
    def rank(name: str) -> tuple[int, str]:
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert exported == sorted(exported, key=rank)
    public = {name for name in vars(stigmem_vault) if not name.startswith("_")}
    modules = {"api", "canonical", "errors", "index", "model", "vault", "watch", "cli", "http",
               "mcp", "client", "federation", "conformance"}
    assert public - modules <= set(exported), "public names missing from __all__"
    for name in exported:
        assert hasattr(stigmem_vault, name)


def test_import_does_not_pull_in_front_end_frameworks() -> None:
    code = ("import sys, stigmem_vault, stigmem_vault.cli.main;"
            "heavy = [m for m in ('fastapi', 'uvicorn', 'mcp', 'starlette', 'httpx')"
            " if m in sys.modules]; print(','.join(heavy))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == ""
