"""The dependency direction of stigmem_vault (STYLE.md, "Dependency direction"), kept true.

    errors <- model <- canonical <- vault <--- watch, federation <- api <- cli, http, mcp
                                \\-- index <-/

Every module's imports are read with ``ast`` (module level, inside functions and under
``TYPE_CHECKING`` alike: a type-only import still couples two layers) and checked against
``MAY_IMPORT``. Today's exceptions are in ``ALLOWED_TODAY``, an allow-list that may only shrink:
an entry that no longer matches an import fails the test too, so delete it when its import goes.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = "stigmem_vault"
SOURCE = Path(__file__).resolve().parents[2] / PACKAGE

# The package root (``stigmem_vault/__init__.py``) re-exports the public API, so it sits with
# the front ends: it may import api, errors and model, and only front ends may import it (http
# takes ``__version__`` from it). Importing any submodule runs it, so it must stay light too.
ROOT = "(root)"
LOWEST = {"errors", "model"}
FRONT_END = {"api", *LOWEST}

# Component -> the other components it may import (its own modules are always allowed).
MAY_IMPORT: dict[str, set[str]] = {
    "errors": set(),  # imports nothing from the package
    "model": {"errors"},
    "canonical": {"errors", "model"},
    # vault and index are siblings: index knows facts, not files (it is handed Fact values), so
    # it can be rebuilt from the vault and tested without one.
    "vault": {"errors", "model", "canonical"},
    "index": {"errors", "model", "canonical"},
    # watch and federation are siblings and never import each other.
    "watch": {"errors", "model", "canonical", "vault", "index"},
    "federation": {"errors", "model", "canonical", "vault", "index"},
    # api is the one place that wires the layers together.
    "api": {"errors", "model", "canonical", "vault", "index", "watch", "federation"},
    # Clients of a node over the wire (the Python client, the conformance runner): they know
    # the wire and the errors, never a vault, so they sit beside model, below everything that
    # opens one. The CLI may use them (``stigmem conformance``).
    "client": set(LOWEST),
    "conformance": set(LOWEST),
    # Front ends: api, errors and model only, never each other.
    "cli": FRONT_END | {"client", "conformance", ROOT},
    "http": FRONT_END | {ROOT},
    "mcp": FRONT_END | {ROOT},
    ROOT: set(FRONT_END),
}

# The one sanctioned way a front end reaches another: the CLI launches the HTTP node
# (``stigmem serve``) and the MCP server (``stigmem mcp``). Not an allow-list entry: it stays.
LAUNCHERS: set[tuple[str, str]] = {
    ("stigmem_vault.cli.node", "stigmem_vault.http.server"),  # inside the command: fastapi then
    ("stigmem_vault.cli.node", "stigmem_vault.http.settings"),  # plain dataclasses, no fastapi
    ("stigmem_vault.cli.mcp", "stigmem_vault.mcp.server"),  # inside the command: the SDK then
}

# Imports that break the rules today, (importer, imported module). ONLY EVER DELETE ENTRIES:
# each goes when api/ offers what the front end reaches past it for (typed results, tokens,
# scans, federation state, one wire rendering).
ALLOWED_TODAY: set[tuple[str, str]] = {
    # Front ends reaching below api for other layers' helpers (record types they format come
    # from api/results.py, which re-exports them).
    ("stigmem_vault.mcp.server", "stigmem_vault.vault.tokens"),  # the token store, for auth
    ("stigmem_vault.http.routes", "stigmem_vault.canonical.cid"),  # CIDs for the wire
    # A front end importing another: MCP renders facts with the HTTP wire format.
    ("stigmem_vault.mcp.server", "stigmem_vault.http.wire"),
}

# Third-party packages that cost start-up time: only the front ends that serve with them.
HEAVY = {"fastapi", "starlette", "uvicorn", "pydantic", "mcp"}
HEAVY_ALLOWED_IN = {"http", "mcp"}


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str  # a module of the package, or a top-level third-party name
    line: int

    def __str__(self) -> str:
        return f"{self.importer} imports {self.imported} (line {self.line})"


def _module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(SOURCE.rglob("*.py"))}


def _component(module: str) -> str:
    parts = module.split(".")
    return ROOT if len(parts) == 1 else parts[1]


def _imports(module: str, path: Path) -> list[Import]:
    found: list[Import] = []
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            # ``from stigmem_vault.vault import tokens`` imports the module vault.tokens.
            targets = [f"{source}.{alias.name}" if f"{source}.{alias.name}" in MODULES else source
                       for alias in node.names]
        else:
            continue
        for target in targets:
            if target.split(".")[0] != PACKAGE:
                target = target.split(".")[0]
            found.append(Import(module, target, node.lineno))
    return found


ALL_IMPORTS = [imp for module, path in MODULES.items() for imp in _imports(module, path)]
OURS = [imp for imp in ALL_IMPORTS if imp.imported.split(".")[0] == PACKAGE]


def _breaks_the_rules(imp: Import) -> bool:
    source, target = _component(imp.importer), _component(imp.imported)
    if source == target or (imp.importer, imp.imported) in LAUNCHERS:
        return False
    return target not in MAY_IMPORT[source]


def test_every_module_is_placed_in_a_layer() -> None:
    # A new top-level module or subpackage must be given its place in MAY_IMPORT on purpose.
    unplaced = sorted({_component(module) for module in MODULES} - MAY_IMPORT.keys())
    assert unplaced == [], f"components with no layer in MAY_IMPORT: {unplaced}"
    assert len(MODULES) > 50 and len(OURS) > 200  # the walk really saw the package


def test_no_layer_imports_a_higher_one() -> None:
    broken = [imp for imp in OURS
              if _breaks_the_rules(imp) and (imp.importer, imp.imported) not in ALLOWED_TODAY]
    assert broken == [], "imports against the dependency direction:\n" + "\n".join(map(str, broken))


def test_the_allow_list_only_shrinks() -> None:
    seen = {(imp.importer, imp.imported) for imp in OURS}
    stale = sorted(ALLOWED_TODAY - seen)
    assert stale == [], f"stale allow-list entries (that import is gone: delete them): {stale}"
    needless = sorted(entry for entry in ALLOWED_TODAY
                      if not _breaks_the_rules(Import(entry[0], entry[1], 0)))
    assert needless == [], f"allow-list entries that break no rule: {needless}"
    stale_launchers = sorted(LAUNCHERS - seen)
    assert stale_launchers == [], f"launcher entries with no import: {stale_launchers}"


def test_heavy_frameworks_only_in_the_front_ends_that_serve_with_them() -> None:
    misplaced = [imp for imp in ALL_IMPORTS
                 if imp.imported in HEAVY and _component(imp.importer) not in HEAVY_ALLOWED_IN]
    assert misplaced == [], "\n".join(map(str, misplaced))


@pytest.mark.parametrize("statement", [
    "import stigmem_vault",
    "import stigmem_vault.cli.main",  # every command registered, as `stigmem --help` runs
])
def test_the_package_and_the_cli_start_without_the_frameworks(statement: str) -> None:
    probe = (f"import sys; {statement}; "
             f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({sorted(HEAVY)!r})))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", f"{statement} loads {out.stdout.strip()}"


def test_the_rules_catch_what_they_are_for() -> None:
    # The checker itself: imports it must refuse, and ones it must let through.
    def breaks(importer: str, imported: str) -> bool:
        return _breaks_the_rules(Import(importer, imported, 1))

    assert breaks("stigmem_vault.index.db", "stigmem_vault.vault.store")  # index knows no files
    assert breaks("stigmem_vault.vault.store", "stigmem_vault.index.db")
    assert breaks("stigmem_vault.watch.scan", "stigmem_vault.federation.pull")  # siblings
    assert breaks("stigmem_vault.federation.pull", "stigmem_vault.watch.scan")
    assert breaks("stigmem_vault.model.fact", "stigmem_vault.canonical.form")  # upward
    assert breaks("stigmem_vault.errors", "stigmem_vault.model.fact")
    assert breaks("stigmem_vault.api.vault", "stigmem_vault.cli.common")
    assert breaks("stigmem_vault.http.routes", "stigmem_vault.mcp.server")  # front ends
    assert breaks("stigmem_vault.cli.query", "stigmem_vault.http.wire")
    assert breaks("stigmem_vault.cli.query", "stigmem_vault.vault.store")  # past api
    assert breaks("stigmem_vault.conformance.runner", "stigmem_vault.api.vault")
    assert breaks("stigmem_vault.model.fact", "stigmem_vault")  # the root is at the top
    assert not breaks("stigmem_vault.watch.scan", "stigmem_vault.index.ingest")
    assert not breaks("stigmem_vault.http.routes", "stigmem_vault.api.vault")
    assert not breaks("stigmem_vault.cli.node", "stigmem_vault.http.server")  # the launcher
