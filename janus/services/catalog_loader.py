"""Database → CatalogSnapshot: all of it at start, then only what each change touched. Never per call."""

from __future__ import annotations

import logging
import time

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, contains_eager, selectinload

from janus.gateway.catalog import CatalogSnapshot, TokenRecord, parse_scopes
from janus.gateway.header_params import compile_header_params
from janus.gateway.shaping import shaping_for
from janus.gateway.specs import ConnectionSpec, ToolSpec
from janus.models import CATALOG_COUNTER, CatalogChange, ChangeCounter, ClientToken, Connection, Endpoint

log = logging.getLogger(__name__)


def catalog_version(engine: Engine) -> int:
    with engine.connect() as conn:
        value = conn.execute(
            select(ChangeCounter.value).where(ChangeCounter.name == CATALOG_COUNTER)
        ).scalar_one_or_none()
    return int(value or 0)


# Past this many touched rows, reading everything is as cheap as reading each (a bulk import).
MAX_CHANGED_ROWS = 2000
_YIELD_EVERY = 25  # rows between cooperative yields of a load (a gevent worker keeps serving calls)


def load_snapshot(engine: Engine) -> CatalogSnapshot:
    with Session(engine) as session, session.begin():
        # Version first: a change racing this read only makes the next probe reload again.
        version = _version(session)
        connections = session.scalars(
            select(Connection)
            .where(Connection.enabled.is_(True))
            .options(selectinload(Connection.endpoints))
            .order_by(Connection.created_at, Connection.id)  # the snapshot keeps the first tool of a name
        ).all()
        tools: list[ToolSpec] = []
        ranks: dict[str, tuple[str, ...]] = {}
        seen = 0
        for conn in connections:
            spec = connection_spec(conn)
            for ep in conn.endpoints:
                tool = tool_spec(spec, conn.prefix, ep)
                if tool is not None:
                    tools.append(tool)
                    ranks[ep.id] = rank(conn, ep)
                seen += 1
                if seen % _YIELD_EVERY == 0:
                    time.sleep(0)  # under gevent: let calls in flight run between chunks of a big catalogue
        tokens = {t.token_hash: token_record(t) for t in session.scalars(select(ClientToken))}
    return CatalogSnapshot(version=int(version), tools=tuple(tools), tokens=tokens, ranks=ranks)


def load_changes(engine: Engine, snapshot: CatalogSnapshot) -> CatalogSnapshot | None:
    """`snapshot` with every change since its version applied, re-reading only the rows the change log
    names; None when the log cannot tell (pruned past it, rows written by code without the log, too many)."""
    with Session(engine) as session, session.begin():
        version = _version(session)
        if version == snapshot.version:
            return snapshot
        if version < snapshot.version:
            return None  # a database restored or recreated: start again
        changes = session.execute(
            select(CatalogChange.seq, CatalogChange.kind, CatalogChange.row_id)
            .where(CatalogChange.seq > snapshot.version)
            .limit(MAX_CHANGED_ROWS + 1)
        ).all()
        # Every change in between must be in the log (it holds at least one row per change).
        if len(changes) > MAX_CHANGED_ROWS or len({c.seq for c in changes if c.seq <= version}) != (
            version - snapshot.version
        ):
            return None
        touched: dict[str, set[str]] = {"connection": set(), "endpoint": set(), "token": set()}
        for change in changes:
            touched.setdefault(change.kind, set()).add(change.row_id)
        dropped: list[str] = []
        added: list[tuple[ToolSpec, tuple[str, ...]]] = []
        if touched["connection"]:
            for conn_id in touched["connection"]:
                dropped += snapshot.endpoint_ids_of(conn_id)
            conns = {
                c.id: (c, connection_spec(c))
                for c in session.scalars(
                    select(Connection).where(Connection.id.in_(touched["connection"]), Connection.enabled.is_(True))
                )
            }
            # Their endpoints in chunks, yielding between them: a connection of 1,000 tools (an import) is
            # read and turned into specs without holding a gevent worker's loop for the whole of it.
            rows = session.scalars(
                select(Endpoint)
                .where(Endpoint.connection_id.in_(list(conns)))
                .execution_options(yield_per=_YIELD_EVERY)
            )
            for n, ep in enumerate(rows if conns else (), 1):
                conn, spec = conns[ep.connection_id]
                tool = tool_spec(spec, conn.prefix, ep)
                if tool is not None:
                    added.append((tool, rank(conn, ep)))
                if n % _YIELD_EVERY == 0:
                    time.sleep(0)
        endpoint_ids = touched["endpoint"]
        if endpoint_ids:
            dropped += endpoint_ids
            specs: dict[str, ConnectionSpec] = {}
            for ep in session.scalars(
                select(Endpoint)
                .join(Connection)
                .where(
                    Endpoint.id.in_(endpoint_ids),
                    Connection.enabled.is_(True),
                    Connection.id.not_in(touched["connection"]),  # read whole above
                )
                .options(contains_eager(Endpoint.connection))
            ):
                conn = ep.connection
                spec = specs.get(conn.id) or specs.setdefault(conn.id, connection_spec(conn))
                added += _specs(conn, spec, [ep])
        tokens = (
            {
                t.token_hash: token_record(t)
                for t in session.scalars(select(ClientToken).where(ClientToken.id.in_(touched["token"])))
            }
            if touched["token"]
            else {}
        )
    return snapshot.changed(int(version), dropped=dropped, added=added, tokens=tokens, dropped_tokens=touched["token"])


def _version(session: Session) -> int:
    value = session.execute(
        select(ChangeCounter.value).where(ChangeCounter.name == CATALOG_COUNTER)
    ).scalar_one_or_none()
    return int(value or 0)


def _specs(conn: Connection, spec: ConnectionSpec, endpoints) -> list[tuple[ToolSpec, tuple[str, ...]]]:
    out = []
    for n, ep in enumerate(endpoints, 1):
        tool = tool_spec(spec, conn.prefix, ep)
        if tool is not None:
            out.append((tool, rank(conn, ep)))
        if n % _YIELD_EVERY == 0:
            time.sleep(0)  # under gevent: a change of 1,000 tools (an import) lets calls in flight run
    return out


def rank(conn: Connection, ep: Endpoint) -> tuple[str, ...]:
    """Registration order, the order a full load reads: the first tool of a name is served."""
    created = conn.created_at.isoformat() if conn.created_at is not None else ""
    return (created, conn.id, ep.tool_name)


def connection_spec(conn: Connection) -> ConnectionSpec:
    return ConnectionSpec(
        id=conn.id,
        name=conn.name,
        base_url=conn.base_url,
        auth_type=conn.auth_type,
        auth_secret_ref=conn.auth_secret_ref,
        timeout_seconds=conn.timeout_seconds,
        # upstream resilience (issue 15, item 4)
        retries=conn.retries,
        breaker_threshold=conn.breaker_threshold,
        breaker_cooldown_seconds=conn.breaker_cooldown_seconds,
        # response shaping and DLP (issue 15, item 3)
        redaction=conn.redaction,
    )


def tool_spec(spec: ConnectionSpec, prefix: str, ep: Endpoint) -> ToolSpec | None:
    """The endpoint's tool, or None when it is not served (disabled, or a schema MCP cannot carry)."""
    if not ep.enabled:
        return None
    schema = input_schema(ep.input_schema)
    name = f"{prefix}{ep.tool_name}"
    if schema is None:
        log.error("tool %s is not served: its input schema is not an object schema", name)
        return None
    return ToolSpec(
        name=name,
        endpoint_id=ep.id,
        description=ep.description,
        method=ep.method.upper(),
        path_template=ep.path_template,
        connection=spec,
        input_schema=schema,
        body_template=ep.body_template,
        # Tool metadata (issue 15, item 2)
        title=ep.title,
        annotations=ep.annotations,
        output_schema=ep.output_schema,
        output_validation=ep.output_validation or "lenient",
        definition_version=ep.definition_version or 1,
        # upstream resilience (issue 15, item 4)
        timeout_seconds=ep.timeout_seconds,
        # response shaping (issue 15, item 3)
        shaping=shaping_for(ep.response_projection, ep.max_items, ep.max_text_chars, ep.render_table),
        # header parameters (issue 15, item 1): None when there are none
        header_params=compile_header_params(ep.header_params),
    )


def token_record(t: ClientToken) -> TokenRecord:
    return TokenRecord(
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
