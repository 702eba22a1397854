"""Which vault paths the watcher cares about (a callable filter, as in watchfiles)."""

from __future__ import annotations


class VaultFilter:
    """Keep Markdown notes and the vault config the index depends on; drop the rest.

    Ignored: git's and Obsidian's own folders, the index, this clone's local state, the trash,
    and the temp/swap/backup files editors write before renaming into place.
    """

    ignore_dirs: tuple[str, ...] = (".git/", ".obsidian/", ".trash/", ".stigmem/index/",
                                    ".stigmem/local/")
    config_prefixes: tuple[str, ...] = (".stigmem/trust/", ".stigmem/schemas/",
                                        ".stigmem/vault.json")
    temp_suffixes: tuple[str, ...] = (".tmp", ".swp", ".swx", "~", ".part", ".crdownload", ".bak")

    def __call__(self, rel: str) -> bool:
        if rel.startswith(self.ignore_dirs):
            return False
        if rel.startswith(self.config_prefixes):
            return True
        if rel.endswith("/"):
            return not rel.startswith(".")  # a directory moved or removed: rescan it
        name = rel.rsplit("/", 1)[-1]
        if name.startswith((".", "~", "#")) or name.endswith(self.temp_suffixes):
            return False
        return name.endswith(".md")
