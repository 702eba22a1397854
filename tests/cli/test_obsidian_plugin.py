"""`stigmem init --obsidian-plugin` and `stigmem obsidian install-plugin`: the plugin's three
files in .obsidian/plugins/stigmem/, enabled, and nothing of it (least of all the token in its
data.json) tracked by the vault's git."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from stigmem_vault.api.obsidian_plugin import SOURCE_PLUGIN

from .support import CliVault, Invoke

MAIN_JS = b'"use strict";\nmodule.exports = class StigmemPlugin {};\n'


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    """A built plugin folder: the repository's manifest and styles, and a main.js."""
    folder = tmp_path / "built-plugin"
    folder.mkdir()
    for name in ("manifest.json", "styles.css"):
        (folder / name).write_bytes((SOURCE_PLUGIN / name).read_bytes())
    (folder / "main.js").write_bytes(MAIN_JS)
    return folder


def _installed(vault: Path) -> dict[str, bytes]:
    folder = vault / ".obsidian/plugins/stigmem"
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_init_installs_and_enables_the_plugin_and_git_tracks_none_of_it(
        stigmem: Invoke, tmp_path: Path, bundle: Path) -> None:
    vault = tmp_path / "vault"
    result = stigmem("init", str(vault), "--owner", "user:alice", "--obsidian-plugin",
                     "--obsidian-plugin-from", str(bundle))
    assert result.exit_code == 0, result.stderr
    assert "installed the Obsidian plugin in .obsidian/plugins/stigmem/" in result.stdout
    assert _installed(vault) == {name: (bundle / name).read_bytes()
                                 for name in ("main.js", "manifest.json", "styles.css")}
    assert json.loads((vault / ".obsidian/community-plugins.json").read_text()) == ["stigmem"]
    assert json.loads((bundle / "manifest.json").read_text())["id"] == "stigmem"
    # The plugin keeps the node's token in data.json: the vault's git never sees it.
    (vault / ".obsidian/plugins/stigmem/data.json").write_text('{"token": "stg_secret"}')
    made = CliVault(vault, stigmem)
    assert made.git("status", "--porcelain", "--untracked-files=all") == ""
    assert made.git("check-ignore", ".obsidian/plugins/stigmem/data.json").strip() == \
        ".obsidian/plugins/stigmem/data.json"


def test_install_plugin_keeps_other_plugins_and_the_settings(cli_vault: CliVault,
                                                             bundle: Path) -> None:
    enabled = cli_vault.path / ".obsidian/community-plugins.json"
    enabled.write_text('["dataview"]\n')
    settings = cli_vault.path / ".obsidian/plugins/stigmem/data.json"
    settings.parent.mkdir(parents=True)
    settings.write_text('{"nodeUrl": "http://127.0.0.1:9000", "token": "stg_x"}')

    for _ in range(2):  # twice: installing again changes nothing more
        result = cli_vault("obsidian", "install-plugin", "--from", str(bundle))
        assert result.exit_code == 0, result.stderr

    assert json.loads(enabled.read_text()) == ["dataview", "stigmem"]
    assert settings.read_text() == '{"nodeUrl": "http://127.0.0.1:9000", "token": "stg_x"}'
    assert _installed(cli_vault.path)["main.js"] == MAIN_JS


def test_a_malformed_plugin_list_is_refused_naming_the_file(cli_vault: CliVault,
                                                           bundle: Path) -> None:
    enabled = cli_vault.path / ".obsidian/community-plugins.json"
    enabled.write_text('{"dataview": true}')

    result = cli_vault("obsidian", "install-plugin", "--from", str(bundle))

    assert result.exit_code != 0
    assert "community-plugins.json: not a JSON list of plugin ids" in result.stderr
    assert enabled.read_text() == '{"dataview": true}'
    assert not (cli_vault.path / ".obsidian/plugins/stigmem").exists()


def _unbuilt(tmp_path: Path, bundle: Path) -> Path:
    (bundle / "main.js").unlink()
    (bundle / "package.json").write_text('{"name": "stigmem-obsidian-plugin", "private": true}')
    return bundle


def _fake_npm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> None:
    """npm is not ours: a stand-in shell script first on PATH."""
    tools = tmp_path / "tools"
    tools.mkdir()
    npm = tools / "npm"
    npm.write_text("#!/bin/sh\n" + script)
    npm.chmod(npm.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")


def test_an_unbuilt_plugin_without_npm_says_how_to_build_it_and_makes_no_vault(
        stigmem: Invoke, tmp_path: Path, bundle: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = _unbuilt(tmp_path, bundle)
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))
    vault = tmp_path / "vault"

    result = stigmem("init", str(vault), "--owner", "user:alice", "--obsidian-plugin",
                     "--obsidian-plugin-from", str(source))

    assert result.exit_code != 0
    assert "main.js is not built and npm is not available" in result.stderr
    assert "npm ci && npm run build" in result.stderr
    assert not vault.exists()


def test_an_unbuilt_plugin_is_built_with_npm_first(cli_vault: CliVault, tmp_path: Path,
                                                   bundle: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    source = _unbuilt(tmp_path, bundle)
    _fake_npm(tmp_path, monkeypatch, 'echo "$@" >> npm-calls\n'  # records its calls, "builds"
              'if [ "$1" = run ]; then printf \'"use strict";\\n\' > main.js; fi\n')

    result = cli_vault("obsidian", "install-plugin", "--from", str(source))

    assert result.exit_code == 0, result.stderr
    assert (source / "npm-calls").read_text().splitlines() == ["ci --no-audit --no-fund",
                                                               "run build"]
    assert _installed(cli_vault.path)["main.js"] == b'"use strict";\n'


def test_a_failing_build_is_reported_with_its_output(cli_vault: CliVault, tmp_path: Path,
                                                     bundle: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    source = _unbuilt(tmp_path, bundle)
    _fake_npm(tmp_path, monkeypatch, "echo 'npm error network unreachable' >&2\nexit 1\n")

    result = cli_vault("obsidian", "install-plugin", "--from", str(source))

    assert result.exit_code != 0
    assert "npm ci --no-audit --no-fund" in result.stderr and "exit 1" in result.stderr
    assert "network unreachable" in result.stderr
    assert not (cli_vault.path / ".obsidian/plugins/stigmem").exists()
