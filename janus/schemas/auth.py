"""A sign-in to the admin API: a username and password in exchange for a session token."""

from __future__ import annotations

from typing import Annotated

from janus.schemas.base import Resource
from janus.schemas.fields import Text
from janus.schemas.user import MAX_PASSWORD

MAX_TOKEN = 16_384  # janus.services.oidc.MAX_TOKEN_LENGTH


class LoginRequest(Resource):
    """Credentials for POST /api/v1/login."""

    username: Annotated[str, Text(150, min_len=1)]
    password: Annotated[str, Text(MAX_PASSWORD, min_len=1, strip=False)]


class SsoLoginRequest(Resource):
    """Tokens from the identity provider for POST /api/v1/login/sso (what `mcp-cli login --sso` obtains
    with the device grant): the ID token is validated (signature, issuer, audience, expiry), the access
    token, if sent, is used only to read the groups from userinfo when the ID token lacks them."""

    id_token: Annotated[str, Text(MAX_TOKEN, min_len=1, strip=False)]
    access_token: Annotated[str, Text(MAX_TOKEN, nullable=True, null_value="", strip=False)] = ""
