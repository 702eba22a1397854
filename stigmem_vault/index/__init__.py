"""The SQLite index: a rebuildable cache of the vault's facts, files, liveness and conflicts."""
