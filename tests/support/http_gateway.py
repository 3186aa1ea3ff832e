"""A real gunicorn+gevent gateway with a prepared catalog, shared by a test module."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import requests

from tests.conftest import make_app
from tests.support.catalog import ID_SCHEMA, add_connection, add_endpoint, add_token
from tests.support.server import GatewayServer
from tests.support.upstream import Upstream, echo, json_response

WEATHER = "mcp_client_weather_dev_552"
BILLING = "billing_token_with_enough_entropy_0001"
DISABLED = "disabled_token_value_000000000001"
EXPIRED = "expired_token_value_00000000000001"
ADMIN = "admin_token_value_with_entropy_0000001"
ADMIN_DEV_ROLE = "dev_role_token_with_admin_scopes_0001"
ACCEPT_BOTH = "application/json, text/event-stream"
METRICS_TOKEN = "metrics_scraper_token_with_entropy_0001"
METRICS_AUTH = {"Authorization": f"Bearer {METRICS_TOKEN}"}  # /metrics needs a bearer (issue 10, item 12)


@dataclass
class HttpGateway:
    server: GatewayServer
    upstream: Upstream
    app: object
    weather_connection: str
    release: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return self.server.url


def start_http_gateway(tmp_dir, *, database: dict | None = None, probe: dict | None = None, **env) -> HttpGateway:
    upstream = Upstream().start()
    release = threading.Event()
    upstream.route("/forecast", echo)
    upstream.route("/stations/", echo)
    upstream.route("/billing/invoices/", echo)
    upstream.route("/slow", lambda r: (release.wait(30), json_response({"slow": "done"}))[1])
    db_settings = database or {"DATABASE_PATH": str(tmp_dir / "gateway.db")}
    app = make_app(db_settings)
    from janus.services.bootstrap import ensure_schema

    with app.app_context():
        ensure_schema()
    weather = add_connection(app, "Weather", upstream.url, "weather_", timeout_seconds=10)
    billing = add_connection(app, "Billing", upstream.url + "/billing", "billing_")
    add_endpoint(
        app,
        weather,
        "get_forecast",
        "/forecast",
        schema={
            "type": "object",
            "properties": {"latitude": {"type": "number"}, "longitude": {"type": "number"}},
            "required": ["latitude", "longitude"],
        },
        description="Retrieve real-time weather and forecast data for coordinates",
    )
    add_endpoint(app, weather, "get_station", "/stations/{{id}}", schema=ID_SCHEMA)
    add_endpoint(app, weather, "slow_report", "/slow")
    add_endpoint(app, billing, "get_invoice", "/invoices/{id}", schema=ID_SCHEMA)
    add_token(app, "Weather Team Token", WEATHER, "weather_*")
    add_token(app, "Billing", BILLING, "billing_*")
    add_token(app, "Off", DISABLED, "*", enabled=False)
    add_token(app, "Old", EXPIRED, "*", expires_at=datetime.now(UTC) - timedelta(minutes=1))
    add_token(app, "Ops Admin", ADMIN, "admin_*,weather_*", role="admin")
    add_token(app, "Not Really Admin", ADMIN_DEV_ROLE, "*", role="developer")
    server_env = {
        "WEB_CONCURRENCY": "2",
        "SSE_KEEPALIVE_SECONDS": "0.5",
        "CATALOG_REFRESH_SECONDS": "0.2",
        "PROGRESS_INTERVAL_SECONDS": "0.3",
        "MAX_REQUEST_BYTES": "65536",
        "ALLOWED_ORIGINS": "https://portal.example",
        "METRICS_TOKEN": METRICS_TOKEN,
        **env,
    }
    if "SQLALCHEMY_DATABASE_URI" in db_settings:
        server_env["DATABASE_URL"] = db_settings["SQLALCHEMY_DATABASE_URI"]
    server = GatewayServer(
        db_settings.get("DATABASE_PATH", str(tmp_dir / "unused.db")), probe=probe, **server_env
    ).start()
    gateway = HttpGateway(server=server, upstream=upstream, app=app, weather_connection=weather, release=release)
    return gateway


def stop_http_gateway(gateway: HttpGateway) -> None:
    gateway.release.set()
    gateway.server.stop()
    gateway.upstream.stop()


def mcp_headers(token: str | None = WEATHER, **extra: str) -> dict[str, str]:
    headers = {"Accept": ACCEPT_BOTH, "Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    headers.update(extra)
    return headers


def initialize(url: str, token: str = WEATHER, version: str = "2025-11-25") -> str:
    response = requests.post(
        url + "/mcp",
        headers=mcp_headers(token),
        timeout=10,
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "tests", "version": "1"}},
        },
    )
    assert response.status_code == 200, response.text
    session_id = response.headers["Mcp-Session-Id"]
    requests.post(
        url + "/mcp",
        headers=mcp_headers(token, **{"Mcp-Session-Id": session_id, "MCP-Protocol-Version": version}),
        json={"jsonrpc": "2.0", "method": "notifications/initialized"},
        timeout=10,
    )
    return session_id


def stateless_meta(version: str = "2026-07-28") -> dict:
    return {
        "io.modelcontextprotocol/protocolVersion": version,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "tests", "version": "1"},
    }


class SseReader:
    """Reads an SSE response line by line on a thread, so tests can wait for events with a deadline."""

    def __init__(self, response: requests.Response) -> None:
        import queue

        self.response = response
        self.events: queue.Queue = queue.Queue()
        self.comments = 0
        self.closed = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        event, data = None, []
        try:
            for raw in self.response.iter_lines(decode_unicode=True):
                if raw is None:
                    continue
                if raw.startswith(":"):
                    self.comments += 1
                elif raw.startswith("event:"):
                    event = raw[6:].strip()
                elif raw.startswith("data:"):
                    data.append(raw[5:].lstrip(" ") if raw.startswith("data: ") else raw[5:])
                elif raw == "" and data:
                    self.events.put((event or "message", "\n".join(data)))
                    event, data = None, []
        except Exception:  # noqa: BLE001, S110 - the stream ended or was cut; the test decides what that means
            pass
        finally:
            self.closed.set()

    def next(self, timeout: float = 10.0) -> tuple[str, str]:
        import queue

        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no SSE event within {timeout}s") from None

    def close(self) -> None:
        self.response.close()


def audit_rows_for(gw: HttpGateway, transport: str, error_contains: str, count: int, timeout: float = 10.0) -> list:
    """The `count` audit rows of `transport` whose error message contains `error_contains`, once they are
    all written (rows are written in batches off the request path)."""
    from sqlalchemy import select

    from janus.extensions import db
    from janus.models import ToolCallLog
    from tests.support.waiting import wait_for

    def rows():
        with gw.app.app_context():
            found = db.session.scalars(
                select(ToolCallLog)
                .where(ToolCallLog.transport == transport, ToolCallLog.error_message.contains(error_contains))
                .order_by(ToolCallLog.id)
            ).all()
            db.session.expunge_all()
            db.session.remove()
        return found if len(found) >= count else None

    return wait_for(rows, timeout=timeout, what=f"{count} {transport} audit rows about {error_contains!r}")
