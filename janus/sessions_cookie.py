"""Flask's cookie session, with its signing serializer built once per key.

Flask builds an itsdangerous serializer on every request, including the MCP
requests that never touch a cookie; on the tools/call hot path that was
~25 µs a request for nothing.
"""
from __future__ import annotations

from flask.sessions import SecureCookieSessionInterface


class CachedSerializerSessionInterface(SecureCookieSessionInterface):
    def __init__(self) -> None:
        self._cache: dict[object, object] = {}

    def get_signing_serializer(self, app):
        key = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        serializer = self._cache.get(key)
        if serializer is None:
            serializer = self._cache[key] = super().get_signing_serializer(app)
        return serializer
