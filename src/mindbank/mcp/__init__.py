"""The MCP server: mindbank as tools for agents (official `mcp` SDK)."""
