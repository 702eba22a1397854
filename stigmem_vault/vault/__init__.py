"""The vault on disk: layout, fact files, keys, trust store, config and signed git history."""
