"""A portal and admin-API user: admins change things, viewers read them."""

from __future__ import annotations

import re
from typing import Annotated

from janus.schemas.base import WHEN, Resource, View, update_model
from janus.schemas.fields import Choice, Flag, Text, refuse

ROLES = ("admin", "viewer")
# Where a user's identity lives: "local" (a password kept by Janus) or "sso" (the OIDC provider; the role
# follows the IdP's groups at every sign-in). Not writable: the API creates local users, sign-ins create SSO ones.
SOURCES = ("local", "sso")
MIN_PASSWORD = 12
MAX_PASSWORD = 1000
USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{1,150}$")


def check_username(username: str) -> str:
    if not USERNAME_RE.fullmatch(username):
        raise refuse("username may contain letters, digits and . _ @ - only")
    return username


class UserCreate(Resource):
    """A user of the portal and the admin API."""

    username: Annotated[str, Text(150, min_len=1, pattern=USERNAME_RE, check=check_username)]
    # Not stripped: spaces are part of a password.
    password: Annotated[str, Text(MAX_PASSWORD, min_len=MIN_PASSWORD, strip=False)]
    role: Annotated[str, Choice(ROLES)] = "viewer"
    enabled: Annotated[bool, Flag()] = True


UserUpdate = update_model(
    UserCreate,
    "UserUpdate",
    "A change to a user: the fields sent. A new password ends their sign-ins.",
    exclude=("username",),
)


class User(View):
    """A user as stored: never the password or its hash."""

    id: str
    username: str
    role: Annotated[str, Choice(ROLES)]
    enabled: bool
    source: Annotated[str, Choice(SOURCES)]
    created_at: WHEN
