"""The security headers every HTTP response of Janus carries, whoever serves it.

Flask's views get them from the portal's response hook (with a Content-Security-Policy on HTML); the
MCP transports from their edge (janus/transports/edge.py, RESPONSE_HEADERS), which sends them on `/mcp`,
a WSGI application beside Flask (docs/adr/0001-serve-mcp-outside-flask.md), and on the transport
blueprints alike. One definition, so the two cannot drift.
"""

from __future__ import annotations

BASELINE_HEADERS: tuple[tuple[str, str], ...] = (
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)
