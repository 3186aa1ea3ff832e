"""The client address that sign-in limits are keyed by (janus.services.sign_ins.client_address)."""

from __future__ import annotations

from flask import current_app, request

from janus.services.sign_ins import client_address as _client_address


def client_address() -> str:
    # X-Forwarded-For counts only when TRUSTED_PROXY_HOPS says proxies in front write it;
    # otherwise any client could claim a fresh address for every attempt.
    hops = int(current_app.config.get("TRUSTED_PROXY_HOPS", 0))
    return _client_address(request.remote_addr, request.headers.get("X-Forwarded-For") if hops else None, hops)
