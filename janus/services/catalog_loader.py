"""Database → CatalogSnapshot. Runs once per catalog change, never per call."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, selectinload

from janus.gateway.catalog import CatalogSnapshot, TokenRecord, parse_scopes
from janus.gateway.shaping import shaping_for
from janus.gateway.specs import ConnectionSpec, ToolSpec
from janus.models import CATALOG_COUNTER, ChangeCounter, ClientToken, Connection

log = logging.getLogger(__name__)


def catalog_version(engine: Engine) -> int:
    with engine.connect() as conn:
        value = conn.execute(
            select(ChangeCounter.value).where(ChangeCounter.name == CATALOG_COUNTER)
        ).scalar_one_or_none()
    return int(value or 0)


def load_snapshot(engine: Engine) -> CatalogSnapshot:
    with Session(engine) as session, session.begin():
        # Version first: a change racing this read only makes the next probe reload again.
        version = (
            session.execute(
                select(ChangeCounter.value).where(ChangeCounter.name == CATALOG_COUNTER)
            ).scalar_one_or_none()
            or 0
        )
        connections = session.scalars(
            select(Connection)
            .where(Connection.enabled.is_(True))
            .options(selectinload(Connection.endpoints))
            .order_by(Connection.created_at, Connection.id)  # the snapshot keeps the first tool of a name
        ).all()
        tools: list[ToolSpec] = []
        for conn in connections:
            spec = ConnectionSpec(
                id=conn.id,
                name=conn.name,
                base_url=conn.base_url,
                auth_type=conn.auth_type,
                auth_secret_ref=conn.auth_secret_ref,
                timeout_seconds=conn.timeout_seconds,
                redaction=conn.redaction,
            )
            for ep in conn.endpoints:
                if not ep.enabled:
                    continue
                schema = input_schema(ep.input_schema)
                name = f"{conn.prefix}{ep.tool_name}"
                if schema is None:
                    log.error("tool %s is not served: its input schema is not an object schema", name)
                    continue
                tools.append(
                    ToolSpec(
                        name=name,
                        endpoint_id=ep.id,
                        description=ep.description,
                        method=ep.method.upper(),
                        path_template=ep.path_template,
                        connection=spec,
                        input_schema=schema,
                        body_template=ep.body_template,
                        shaping=shaping_for(ep.response_projection, ep.max_items, ep.max_text_chars, ep.render_table),
                    )
                )
        tokens = {
            t.token_hash: TokenRecord(
                id=t.id,
                name=t.name,
                role=t.role,
                scopes=parse_scopes(t.scopes),
                enabled=t.enabled,
                expires_at=t.expires_at,
                cert_fingerprint=t.cert_fingerprint,
                cert_subject=t.cert_subject,
                rate_per_second=t.rate_per_second,
                rate_burst=t.rate_burst,
            )
            for t in session.scalars(select(ClientToken))
        }
    return CatalogSnapshot(version=int(version), tools=tuple(tools), tokens=tokens)


def input_schema(raw: object) -> dict | None:
    """The schema as MCP requires it (root type object), or None when it cannot be one.

    The admin services validate schemas fully on the way in; this guards rows
    written by other means. (A schema that is invalid deeper down fails its
    calls with -32603 and an audit row; checking here would import jsonschema
    on the start-up path.)
    """
    schema = dict(raw) if isinstance(raw, dict) else {} if raw is None else None
    if schema is None:
        return None
    schema.setdefault("type", "object")
    return schema if schema["type"] == "object" else None
