"""A sign-in to the admin API: a username and password in exchange for a session token."""

from __future__ import annotations

from typing import Annotated

from janus.schemas.base import Resource
from janus.schemas.fields import Text
from janus.schemas.user import MAX_PASSWORD


class LoginRequest(Resource):
    """Credentials for POST /api/v1/login."""

    username: Annotated[str, Text(150, min_len=1)]
    password: Annotated[str, Text(MAX_PASSWORD, min_len=1, strip=False)]
