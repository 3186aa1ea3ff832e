"""Signed session tokens for the admin API and `mcp-cli`.

HS256 (joserfc, Authlib's JOSE library) under a key derived from JWT_SECRET for
this purpose only (janus.config.derive_key), so a Flask cookie signature can
never pass for a token nor the reverse. Short-lived (SESSION_JWT_HOURS).

A token is only a pointer to a server-side sign-in (janus.services.sign_ins):
`sub` is the user's id (never the username, which a new user may reuse), `sid`
the sign-in's secret, `cv` the user's credential version at login. Logging out,
a new password, disabling or deleting the user end the sign-in at once.
"""

from __future__ import annotations

import functools
import time
from typing import Any

from joserfc import jwt
from joserfc.errors import ExpiredTokenError, JoseError
from joserfc.jwk import OctKey

from janus.config import ADMIN_JWT_KEY_LABEL, derive_key

ALGORITHM = "HS256"
ISSUER = "janus"
AUDIENCE = "janus-admin"


class InvalidSession(Exception):
    pass


@functools.lru_cache(maxsize=8)
def _key(secret: str) -> OctKey:
    # Cached: HKDF per admin request would be waste, and the secret changes only with a restart.
    return OctKey.import_key(derive_key(secret, ADMIN_JWT_KEY_LABEL))


def issue(secret: str, *, user_id: str, sid: str, credential_version: int, hours: float) -> tuple[str, int]:
    now = int(time.time())
    expires = now + int(hours * 3600)
    claims = {
        "sub": user_id,
        "sid": sid,
        "cv": int(credential_version),
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": expires,
    }
    return jwt.encode({"alg": ALGORITHM}, claims, _key(secret), algorithms=[ALGORITHM]), expires


def verify(secret: str, token: str) -> dict[str, Any]:
    try:
        # Only HS256 is accepted: no "none", no algorithm confusion.
        decoded = jwt.decode(token, _key(secret), algorithms=[ALGORITHM])
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": ISSUER},
            aud={"essential": True, "value": AUDIENCE},
            sub={"essential": True},
            sid={"essential": True},
            cv={"essential": True},
            exp={"essential": True},
            leeway=5,
        ).validate(decoded.claims)
    except (JoseError, ValueError, TypeError) as exc:
        # By the error's class, not its text: a message is no contract.
        message = "session expired; log in again" if isinstance(exc, ExpiredTokenError) else "invalid session token"
        raise InvalidSession(message) from None
    claims = dict(decoded.claims)
    # A token from before sessions were bound to ids (sub = username, no sid) has no `sid` and fails above.
    if not (isinstance(claims["sub"], str) and isinstance(claims["sid"], str) and type(claims["cv"]) is int):
        raise InvalidSession("invalid session token")
    return claims
