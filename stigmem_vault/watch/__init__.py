"""Keeping the index in step with the vault: the incremental scan, the watcher, gestures."""
