"""Fixtures for the admin API: a client, signed-in admin and viewer, and a check that refusals change nothing."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from janus.auth import session_jwt
from janus.extensions import db
from janus.models import AdminAuditLog, User
from janus.services import sign_ins

PASSWORD = "correct horse battery staple"
# Fixture users get a cheap hash: the default (scrypt) costs ~0.2 s per user and per login.
CHEAP_HASH = "pbkdf2:sha256:1000"
ERROR_CODES = {
    400: "validation_error",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    502: "vault_error",
}


@pytest.fixture
def api(app):
    return app.test_client()


def add_user(app, username: str, role: str = "admin", *, enabled: bool = True, password: str = PASSWORD) -> str:
    with app.app_context():
        user = User(
            username=username,
            password_hash=generate_password_hash(password, method=CHEAP_HASH),
            role=role,
            enabled=enabled,
        )
        db.session.add(user)
        db.session.commit()
        return user.id


def bearer(app, username: str, hours: float = 1.0) -> dict[str, str]:
    """Headers of a real admin-API sign-in of the user (a server-side row, as POST /api/v1/login makes)."""
    return {"Authorization": f"Bearer {session_token(app, username, hours)}"}


def session_token(app, username: str, hours: float = 1.0) -> str:
    with app.app_context():
        user_id = db.session.scalar(select(User.id).where(User.username == username))
        limits = dataclasses.replace(sign_ins.Limits.from_config(app.config), api_session_hours=hours)
        sign_in = sign_ins.start_api(user_id, limits)
        token, _ = session_jwt.issue(
            app.config["JWT_SECRET"],
            user_id=user_id,
            sid=sign_in.sid,
            credential_version=sign_in.credential_version,
            hours=hours,
        )
        return token


@pytest.fixture
def admin(app) -> dict[str, str]:
    """Headers of the signed-in admin `root`."""
    add_user(app, "root", "admin")
    return bearer(app, "root")


@pytest.fixture
def viewer(app) -> dict[str, str]:
    """Headers of the signed-in viewer `vera`."""
    add_user(app, "vera", "viewer")
    return bearer(app, "vera")


def snapshot(app) -> dict[str, list[str]]:
    """Every row of every table, to show a refused request left the database as it was."""
    with app.app_context():
        return {
            table.name: sorted(repr(tuple(row)) for row in db.session.execute(table.select()))
            for table in db.metadata.sorted_tables
        }


def audit_rows(app, action: str | None = None) -> list[AdminAuditLog]:
    with app.app_context():
        query = select(AdminAuditLog).order_by(AdminAuditLog.id)
        if action:
            query = query.where(AdminAuditLog.action == action)
        rows = db.session.scalars(query).all()
        db.session.expunge_all()
        return list(rows)


def call(
    api, method: str, url: str, headers: dict[str, str] | None = None, body: Any = None, *, raw: str | None = None
):
    """One request; `raw` sends a JSON text as is (for escapes such as \\ud800 that Python cannot encode)."""
    if raw is not None:
        return api.open(url, method=method, headers=headers, data=raw.encode(), content_type="application/json")
    if body is None:
        return api.open(url, method=method, headers=headers)
    return api.open(url, method=method, headers=headers, json=body)


def create(api, headers: dict[str, str], url: str, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post(url, headers=headers, json=body)
    assert response.status_code == 201, response.json
    return response.json


def assert_refused(
    app,
    api,
    method: str,
    url: str,
    headers: dict[str, str] | None,
    body: Any = None,
    *,
    status: int,
    message: str,
    error: str | None = None,
    raw: str | None = None,
) -> None:
    """The request gets exactly this error, and no table (audit log included) changes."""
    before = snapshot(app)
    response = call(api, method, url, headers, body, raw=raw)
    assert response.status_code == status, response.json
    assert response.json == {"error": error or ERROR_CODES[status], "message": message}
    assert snapshot(app) == before


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
