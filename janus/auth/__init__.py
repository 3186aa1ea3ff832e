"""Who is calling: portal users with session JWTs (admin API, CLI), client tokens (MCP, tools over REST)."""
