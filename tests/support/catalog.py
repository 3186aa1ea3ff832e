"""Put connections, endpoints and tokens straight into a test database (the admin services land separately)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from janus.extensions import db
from janus.gateway.catalog import hash_token
from janus.models import ClientToken, Connection, Endpoint
from janus.services.token_key import server_key

ID_SCHEMA = {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}


def add_connection(app, name: str, base_url: str, prefix: str, **fields: Any) -> str:
    with app.app_context():
        conn = Connection(name=name, base_url=base_url, prefix=prefix, **fields)
        db.session.add(conn)
        db.session.commit()
        return conn.id


def add_endpoint(
    app, connection_id: str, tool_name: str, path: str, method: str = "GET", schema: dict | None = None, **fields: Any
) -> str:
    with app.app_context():
        ep = Endpoint(
            connection_id=connection_id,
            tool_name=tool_name,
            path_template=path,
            method=method,
            input_schema=schema or {"type": "object"},
            description=fields.pop("description", f"{tool_name} tool"),
            **fields,
        )
        db.session.add(ep)
        db.session.commit()
        return ep.id


def add_token(
    app,
    name: str,
    raw: str,
    scopes: str,
    role: str = "developer",
    enabled: bool = True,
    expires_at: datetime | None = None,
) -> str:
    with app.app_context():
        token = ClientToken(
            name=name,
            token_hash=hash_token(raw, server_key(app)),
            token_hint=raw[:6],
            scopes=scopes,
            role=role,
            enabled=enabled,
            expires_at=expires_at,
        )
        db.session.add(token)
        db.session.commit()
        return token.id


def update(app, model, row_id: str, **fields: Any) -> None:
    with app.app_context():
        obj = db.session.get(model, row_id)
        for key, value in fields.items():
            setattr(obj, key, value)
        db.session.commit()


def delete(app, model, row_id: str) -> None:
    with app.app_context():
        db.session.delete(db.session.get(model, row_id))
        db.session.commit()
