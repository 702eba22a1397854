"""The HTTP node: the upstream Stigmem v1 wire format over a Vault (FastAPI)."""
