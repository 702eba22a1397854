"""The MCP server (`stigmem mcp`): the vault's tools for an agent host, over stdio."""
