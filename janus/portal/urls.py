"""This gateway's own client-facing URLs, for the copy-ready snippets on the pages."""

from __future__ import annotations

from flask import current_app, request


def gateway_urls() -> dict[str, str]:
    base = (current_app.config.get("PUBLIC_URL") or request.host_url).rstrip("/")
    return {"base": base, "mcp": base + "/mcp", "sse": base + "/sse", "openapi": base + "/api/openapi.json"}
