"""Portal users: admins change things, viewers read them."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, func, select, update
from werkzeug.security import check_password_hash, generate_password_hash

from janus.extensions import db
from janus.models import PortalSession, User
from janus.models._types import utcnow
from janus.schemas.user import UserCreate, UserUpdate
from janus.services._common import affected_rows, create_row, delete_row, iso, update_row, valid_id, validated
from janus.services.errors import Conflict, NotFound

LOCAL, SSO = "local", "sso"
# Stored as an SSO user's password hash: no werkzeug hash has this shape, so no password ever matches it.
NO_PASSWORD = "!sso"  # noqa: S105 - a marker, not a secret
SSO_NO_PASSWORD = "user {name!r} signs in through single sign-on (source 'sso'); it has no local password to set"  # noqa: S105
SSO_ROLE = (
    "user {name!r} signs in through single sign-on: its role follows the identity provider's groups at every sign-in"
)


@functools.cache
def _dummy_hash() -> str:
    """Compared against when the user does not exist, so timing does not reveal usernames.

    Made on first use, not at import: a hash costs ~0.2 s and every process (stdio too) imports this module.
    """
    return generate_password_hash("janus-timing-equaliser")


def view(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "role": user.role,
        "enabled": user.enabled,
        "source": user.source or LOCAL,
        "created_at": iso(user.created_at),
    }


def list_users() -> list[dict[str, Any]]:
    return [view(u) for u in db.session.scalars(select(User).order_by(User.username))]


def get(user_id: str) -> User:
    user = db.session.get(User, user_id) if valid_id(user_id) else None
    if user is None:
        raise NotFound(f"user {user_id!r} not found")
    return user


def authenticate(username: str, password: str) -> dict[str, Any] | None:
    return authenticate_with_outcome(username, password)[1]


def authenticate_with_outcome(
    username: str, password: str, run: Callable[..., Any] | None = None
) -> tuple[bool, dict[str, Any] | None]:
    """(whether the username exists, the user's view when the password is right and the user enabled).

    An unknown username is checked against a dummy hash, so the answer takes as long either way.
    `run` runs the hash (janus.services.sign_ins.off_loop keeps it off the gevent loop).
    """
    run = run or (lambda fn, *args: fn(*args))
    user = db.session.scalar(select(User).where(User.username == username)) if valid_id(username) else None
    local = user is not None and (user.source or LOCAL) == LOCAL
    # An SSO user has no password: checked against the dummy hash, so it takes as long and never matches.
    stored = user.password_hash if user is not None and local else run(_dummy_hash)
    ok = run(check_password_hash, stored, password if _encodable(password) else "")
    return user is not None, (view(user) if user is not None and local and ok and user.enabled else None)


def exists(username: str) -> bool:
    return valid_id(username) and db.session.scalar(select(User.id).where(User.username == username)) is not None


def create_user(actor: str, data: dict[str, Any]) -> dict[str, Any]:
    fields = validated(UserCreate, data)
    username = fields["username"]
    if db.session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"user {username!r} already exists", field="username")
    fields["password_hash"] = generate_password_hash(fields.pop("password"))
    return create_row(actor, "user", User(**fields), view, f"user {username!r} already exists")


def update_user(actor: str, user_id: str, data: dict[str, Any]) -> dict[str, Any]:
    user = get(user_id)
    changes = validated(UserUpdate, data)
    if (user.source or LOCAL) == SSO:
        # An SSO user must never get a local password by accident (it would be a second way in that the
        # IdP cannot revoke), and its role would be overwritten at its next sign-in anyway.
        if "password" in changes:
            raise Conflict(SSO_NO_PASSWORD.format(name=user.username), field="password")
        if "role" in changes and changes["role"] != user.role:
            raise Conflict(SSO_ROLE.format(name=user.username), field="role")
    if "password" in changes:
        changes["password_hash"] = generate_password_hash(changes.pop("password"))
    if user.role == "admin" and (changes.get("role", "admin") != "admin" or changes.get("enabled") is False):
        _keep_an_admin(user.id)
    if "password_hash" in changes or changes.get("enabled") is False:
        # A new password or a disabled account ends the user's sign-ins (portal and admin API) in the
        # same transaction, and a new credential version refuses any token minted before it.
        _end_sign_ins(user.id)
        user.credential_version = (user.credential_version or 1) + 1
    return update_row(actor, "user", user, changes, view, password_changed="password_hash" in changes)


def change_own_password(user_id: str, current: str, new: str) -> dict[str, Any]:
    """A signed-in person sets a new local password; the current one must be right. Ends their other sign-ins."""
    from janus.services.errors import ValidationError

    user = get(user_id)
    if (user.source or LOCAL) == SSO:
        raise Conflict(SSO_NO_PASSWORD.format(name=user.username), field="password")
    if not check_password_hash(user.password_hash, current if _encodable(current) else ""):
        raise ValidationError("the current password is not right", field="current_password")
    return update_user(user.username, user.id, {"password": new})


def reset_password(actor: str, username: str, password: str) -> dict[str, Any]:
    """Break-glass (`flask janus users set-password`): a new password and the account enabled, by username."""
    user_id = db.session.scalar(select(User.id).where(User.username == username)) if valid_id(username) else None
    if user_id is None:
        raise NotFound(f"user {username!r} not found")
    return update_user(actor, user_id, {"password": password, "enabled": True})


def delete_user(actor: str, user_id: str) -> None:
    user = get(user_id)
    if user.role == "admin":
        _keep_an_admin(user.id)
    _forget_sign_ins(user.id)  # its sign-ins go with it; a user re-created under the name starts afresh
    delete_row(actor, "user", user, view)


# What an account change does to the user's sign-ins (janus.services.sign_ins, which builds on this module,
# starts and checks them) is part of that change, so it is done here.
def _end_sign_ins(user_id: str) -> int:
    """End every sign-in of a user, portal and API alike (disabled, new password); part of the caller's transaction."""
    result = db.session.execute(
        update(PortalSession)
        .where(PortalSession.user_id == user_id, PortalSession.ended_at.is_(None))
        .values(ended_at=utcnow())
    )
    return affected_rows(result) or 0


def _forget_sign_ins(user_id: str) -> None:
    """Remove a deleted user's sign-ins (the foreign key cascades too; this does not rely on it)."""
    db.session.execute(delete(PortalSession).where(PortalSession.user_id == user_id))


def _keep_an_admin(leaving_id: str) -> None:
    others = db.session.scalar(
        select(func.count(User.id)).where(User.role == "admin", User.enabled.is_(True), User.id != leaving_id)
    )
    if not others:
        raise Conflict("this is the last enabled admin; create another admin first")


def _encodable(password: Any) -> bool:
    # Hashing encodes to UTF-8; an unpaired surrogate cannot be, so it can only be a wrong password.
    if not isinstance(password, str):
        return False
    try:
        password.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
