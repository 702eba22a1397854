"""`stigmem obsidian install-plugin`: the Obsidian plugin into a vault (also `init
--obsidian-plugin`)."""

from __future__ import annotations

from pathlib import Path

import click

from stigmem_vault.api.obsidian_plugin import PLUGIN_DIR, install_plugin, plugin_bundle
from stigmem_vault.cli.common import open_vault

FROM_HELP = ("A folder holding the built plugin (main.js, manifest.json, styles.css); default: "
             "this checkout's adapters/obsidian/plugin, built with npm first if needed.")


@click.group("obsidian")
def obsidian_group() -> None:
    """Obsidian helpers."""


@obsidian_group.command("install-plugin")
@click.option("--from", "source", type=click.Path(file_okay=False, exists=True), help=FROM_HELP)
def install_plugin_cmd(source: str | None) -> None:
    """Install the stigmem Obsidian plugin into the vault (.obsidian/plugins/stigmem/) and
    enable it. Reopen the vault in Obsidian (or reload plugins) to load it."""
    with open_vault(read_only=True) as vault:
        root = vault.root
    install_plugin(root, plugin_bundle(Path(source) if source else None))
    click.echo(f"installed the Obsidian plugin in {PLUGIN_DIR}/ and enabled it; set the node's "
               "URL and token in Settings > stigmem (kept in its data.json, never committed)")


COMMANDS = [obsidian_group]
