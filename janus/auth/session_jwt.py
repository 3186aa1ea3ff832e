"""Signed session tokens for the admin API and `mcp-cli`.

HS256 with JWT_SECRET (joserfc, Authlib's JOSE library); short-lived
(SESSION_JWT_HOURS). The token names the user; the user's current role and
enabled flag are read on every request, so demoting or disabling a user
takes effect at once.
"""
from __future__ import annotations

import time
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

ALGORITHM = "HS256"
ISSUER = "janus"
AUDIENCE = "janus-admin"


class InvalidSession(Exception):
    pass


def _key(secret: str) -> OctKey:
    return OctKey.import_key(secret.encode())


def issue(secret: str, username: str, hours: float) -> tuple[str, int]:
    now = int(time.time())
    expires = now + int(hours * 3600)
    claims = {"sub": username, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": expires}
    return jwt.encode({"alg": ALGORITHM}, claims, _key(secret), algorithms=[ALGORITHM]), expires


def verify(secret: str, token: str) -> dict[str, Any]:
    try:
        # Only HS256 is accepted: no "none", no algorithm confusion.
        decoded = jwt.decode(token, _key(secret), algorithms=[ALGORITHM])
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": ISSUER}, aud={"essential": True, "value": AUDIENCE},
            sub={"essential": True}, exp={"essential": True}, leeway=5,
        ).validate(decoded.claims)
    except (JoseError, ValueError, TypeError) as exc:
        message = "session expired; log in again" if "expire" in str(exc).lower() else "invalid session token"
        raise InvalidSession(message) from None
    return dict(decoded.claims)
