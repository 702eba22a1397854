"""Installing the Obsidian plugin (adapters/obsidian/plugin) into a vault: its three files,
``main.js``, ``manifest.json`` and ``styles.css``, go to ``.obsidian/plugins/stigmem/``, and
``stigmem`` is added to ``.obsidian/community-plugins.json`` (the list of enabled plugins).

``main.js`` is built output (esbuild over the plugin's TypeScript and the TypeScript client),
never committed: it is taken from a plugin folder where it was built, and when it is missing
and ``npm`` is on PATH the folder is built first (``npm ci``, ``npm run build``). None of this
is tracked by the vault's git: the vault's ``.gitignore`` keeps ``.obsidian/*`` out (§8.4), so
the plugin's ``data.json``, where it keeps the node's token, never leaves this clone.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from stigmem_vault.errors import MisuseError
from stigmem_vault.vault.store import write_atomic

PLUGIN_ID = "stigmem"
PLUGIN_FILES = ("main.js", "manifest.json", "styles.css")
PLUGIN_DIR = f".obsidian/plugins/{PLUGIN_ID}"
ENABLED_PLUGINS = ".obsidian/community-plugins.json"
# The plugin's sources in a checkout of the repository (an editable install runs from there).
SOURCE_PLUGIN = Path(__file__).resolve().parents[2] / "adapters" / "obsidian" / "plugin"
BUILD_TIMEOUT_S = 600


def plugin_bundle(source: Path | None = None) -> Path:
    """A folder holding the three plugin files: ``source`` (default: the checkout's plugin
    folder), built first with npm when its ``main.js`` is missing."""
    folder = (source or SOURCE_PLUGIN).resolve()
    if not (folder / "manifest.json").is_file():
        raise MisuseError(f"{folder}: no Obsidian plugin here (no manifest.json); give the folder "
                          "of a built plugin (main.js, manifest.json, styles.css)")
    if not (folder / "main.js").is_file():
        _build(folder)
    missing = [name for name in PLUGIN_FILES if not (folder / name).is_file()]
    if missing:
        raise MisuseError(f"{folder}: the plugin lacks {', '.join(missing)}")
    return folder


def _build(folder: Path) -> None:
    npm = shutil.which("npm")
    howto = f"run `npm ci && npm run build` in {folder} (Node.js 20+)"
    if npm is None or not (folder / "package.json").is_file():
        raise MisuseError(f"{folder}/main.js is not built and npm is not available: {howto}, "
                          "or pass a folder holding a built plugin")
    for step in (["ci", "--no-audit", "--no-fund"], ["run", "build"]):
        try:
            done = subprocess.run([npm, *step], cwd=folder, capture_output=True, text=True,
                                  timeout=BUILD_TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise MisuseError(f"npm {' '.join(step)} in {folder} failed ({exc}): {howto}") from None
        if done.returncode != 0:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
            raise MisuseError(f"npm {' '.join(step)} in {folder} failed (exit "
                              f"{done.returncode}):\n{tail}")


def install_plugin(vault_root: Path, bundle: Path) -> Path:
    """Copy the plugin's files into the vault and enable it. The plugin's own ``data.json``
    (its settings and token), if there, is kept as it is. Returns the plugin's folder."""
    enabled_file = vault_root / ENABLED_PLUGINS
    enabled = _enabled_plugins(enabled_file)
    target = vault_root / PLUGIN_DIR
    target.mkdir(parents=True, exist_ok=True)
    for name in PLUGIN_FILES:
        write_atomic(target / name, (bundle / name).read_bytes())
    if PLUGIN_ID not in enabled:
        write_atomic(enabled_file, (json.dumps([*enabled, PLUGIN_ID], indent=2) + "\n").encode())
    return target


def _enabled_plugins(path: Path) -> list[str]:
    """The community plugins Obsidian enables in this vault (a JSON list of ids)."""
    if not path.exists():
        return []
    try:
        found = json.loads(path.read_text("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MisuseError(f"{path}: not a JSON list of plugin ids ({exc}); fix or remove it") from None
    if not isinstance(found, list) or not all(isinstance(item, str) for item in found):
        raise MisuseError(f"{path}: not a JSON list of plugin ids; fix or remove it")
    return found
