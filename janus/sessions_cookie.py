"""Flask's cookie session, with its signing serializer built once per key.

Flask builds an itsdangerous serializer and parses the Cookie header on every
request, including the MCP requests that never carry a cookie; on the
tools/call hot path that was ~25 µs a request for nothing.
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

    def open_session(self, app, request):
        # No Cookie header at all (every MCP and API client): an empty session without
        # parsing cookies or touching the serializer. Writing to it still sets a cookie.
        if "HTTP_COOKIE" not in request.environ and app.secret_key:
            return self.session_class()
        return super().open_session(app, request)
