"""The `stigmem` command line: a thin shell over stigmem_vault.api."""
