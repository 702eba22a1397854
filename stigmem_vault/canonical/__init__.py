"""Canonical bytes of a fact (RFC 8785), its content id, and its Ed25519 signature."""
