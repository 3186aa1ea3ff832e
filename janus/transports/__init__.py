"""Thin adapters from a wire (stdio, SSE, Streamable HTTP) to the janus.mcp core."""
