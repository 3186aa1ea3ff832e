"""Single sign-on users: the IdP's groups decide the role, users are made or updated at each sign-in.

Least privilege: a person whose groups are in neither OIDC_ADMIN_GROUPS nor OIDC_VIEWER_GROUPS is
refused (never given a default role); admin wins when both match. The user row is keyed by the
IdP's subject (`oidc_subject`), never by a username, so a local account can never be taken over
by an IdP identity that happens to carry its name: such a clash is refused.

Audit rows (admin audit log): `login.success` (via sso or sso-cli), `login.refused` (with the
reason), `user.create` for a user made just in time, `user.role_change` when the IdP's groups
moved the role, `logout`.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from janus.extensions import db
from janus.models import User
from janus.schemas.user import USERNAME_RE
from janus.services import admin_audit
from janus.services import users as users_service
from janus.services.oidc import Settings, SsoRefused

SSO_ACTOR = "(single sign-on)"  # the audit actor of a refusal that names no user
REFUSED = "login.refused"
MAX_GROUPS = 1000


def groups_of(claims: dict[str, Any], claim: str) -> list[str]:
    """The groups claim as a list of names: a JSON list (Keycloak, Okta, Entra) or one string of them."""
    value = claims.get(claim)
    if isinstance(value, str):
        return [g for g in re.split(r"[\s,]+", value) if g][:MAX_GROUPS]
    if isinstance(value, list):
        return [g for g in value if isinstance(g, str) and g][:MAX_GROUPS]
    return []


def role_for(groups: list[str], config: Settings) -> str | None:
    held = set(groups)
    if held & set(config.admin_groups):
        return "admin"
    if held & set(config.viewer_groups):
        return "viewer"
    return None


def username_for(claims: dict[str, Any], config: Settings) -> str | None:
    for name in (config.username_claim, "preferred_username", "email", "sub"):
        value = claims.get(name)
        if isinstance(value, str) and USERNAME_RE.fullmatch(value):
            return value
    return None


def refuse(
    reason: str, *, via: str, remote_addr: str | None, who: str | None = None, user_id: str | None = None
) -> SsoRefused:
    """Record the refusal (committed: the caller answers with an error) and return the error to raise."""
    db.session.rollback()
    admin_audit.record(
        who or SSO_ACTOR, REFUSED, "user", user_id, via=via, remote_addr=remote_addr or "unknown", reason=reason
    )
    db.session.commit()
    status = 403 if who else 401
    error = SsoRefused(reason)
    error.status = status
    return error


def sign_in(claims: dict[str, Any], config: Settings, *, via: str, remote_addr: str | None) -> dict[str, Any]:
    """The user's view for validated ID-token claims: made or updated just in time; SsoRefused (audited) otherwise."""
    try:
        return _sign_in(claims, config, via=via, remote_addr=remote_addr)
    except IntegrityError:
        # The same person's first sign-in in two tabs or workers at once: the other one made the user; use it.
        db.session.rollback()
        return _sign_in(claims, config, via=via, remote_addr=remote_addr)


def _sign_in(claims: dict[str, Any], config: Settings, *, via: str, remote_addr: str | None) -> dict[str, Any]:
    subject = claims["sub"]
    label = _label(claims)
    groups = groups_of(claims, config.groups_claim)
    role = role_for(groups, config)
    if role is None:
        raise refuse(
            f"{label} is in none of the groups that may use this gateway (OIDC_ADMIN_GROUPS, OIDC_VIEWER_GROUPS; "
            f"claim '{config.groups_claim}')",
            via=via,
            remote_addr=remote_addr,
            who=label,
        )
    user = db.session.scalar(select(User).where(User.oidc_subject == subject))
    if user is None:
        username = username_for(claims, config)
        if username is None:
            raise refuse(
                f"{label} has no username Janus can use (claim '{config.username_claim}', email or sub; "
                "letters, digits and . _ @ - only, at most 150)",
                via=via,
                remote_addr=remote_addr,
                who=label,
            )
        if users_service.exists(username):
            # Never merge an IdP identity into an existing user of that name: that would hand a local
            # (or another IdP subject's) account to whoever the IdP calls by its name.
            raise refuse(
                f"the username {username!r} already belongs to another user of this gateway; "
                "an admin must rename or delete that user before this person can sign in with SSO",
                via=via,
                remote_addr=remote_addr,
                who=label,
            )
        user = User(
            username=username,
            password_hash=users_service.NO_PASSWORD,
            role=role,
            enabled=True,
            source=users_service.SSO,
            oidc_subject=subject,
        )
        db.session.add(user)
        db.session.flush()
        admin_audit.record(user.username, "user.create", "user", user.id, after=users_service.view(user), via=via)
    else:
        if not user.enabled:
            raise refuse(
                f"user {user.username!r} is disabled on this gateway",
                via=via,
                remote_addr=remote_addr,
                who=user.username,
                user_id=user.id,
            )
        if user.role != role:
            before = users_service.view(user)
            # The IdP is the authority for an SSO user's role, even the last SSO admin's (break-glass stays local).
            user.role = role
            db.session.flush()
            admin_audit.record(
                SSO_ACTOR,
                "user.role_change",
                "user",
                user.id,
                before=before,
                after=users_service.view(user),
                via=via,
                reason=f"the identity provider's groups ({config.groups_claim}) now give role {role!r}",
            )
    admin_audit.record(user.username, "login.success", "user", user.id, via=via, remote_addr=remote_addr or "unknown")
    db.session.commit()
    return users_service.view(user)


def _label(claims: dict[str, Any]) -> str:
    """Who the IdP says this is, for messages and the audit log (a name, never a token)."""
    for name in ("preferred_username", "email", "sub"):
        value = claims.get(name)
        if isinstance(value, str) and value:
            return value[:150]
    return "(unknown)"


def record_refusal(reason: str, *, via: str, remote_addr: str | None) -> SsoRefused:
    """A sign-in refused before any identity was established (bad token, state mismatch): audited, returned."""
    return refuse(reason, via=via, remote_addr=remote_addr)
