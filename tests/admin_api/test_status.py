"""GET /api/v1/status and /api/v1/verify: shapes, and reachability against real sockets."""

from __future__ import annotations

from janus.version import __version__
from tests.admin_api.conftest import create
from tests.support.upstream import json_response
from tests.support.waiting import refused_port


def test_status_reports_version_settings_and_counts(app, api, viewer, admin):
    create(api, admin, "/api/v1/connections", {"name": "A", "base_url": "https://a.example.test"})
    create(api, admin, "/api/v1/tokens", {"name": "t"})
    body = api.get("/api/v1/status", headers=viewer).json
    assert body | {"uptime_seconds": 0} == {
        "version": __version__,
        "uptime_seconds": 0,
        "port": app.config["PORT"],
        "database": app.config["DATABASE_KIND"],
        "schema_revision": body["schema_revision"],
        "vault_provider": "local",
        "vault_read_only": False,
        "tls": False,
        "mtls": False,
        "oidc": False,
        "counts": {"connections": 1, "tools": 0, "tokens": 1, "active_sessions": 0},
    }
    assert body["schema_revision"] and body["uptime_seconds"] >= 0


def test_verify_reports_each_check_and_a_reachable_and_an_unreachable_target(app, api, viewer, admin, upstream):
    upstream.route("/health", lambda request: json_response({"ok": True}))
    upstream.route("/private", lambda request: json_response({"error": "who are you"}, 401))
    create(api, admin, "/api/v1/connections", {"name": "Up", "base_url": upstream.url + "/health"})
    create(api, admin, "/api/v1/connections", {"name": "Locked", "base_url": upstream.url + "/private"})
    closed = f"http://127.0.0.1:{refused_port()}"  # nothing listens there
    create(api, admin, "/api/v1/connections", {"name": "Down", "base_url": closed, "enabled": False})
    response = api.get("/api/v1/verify", headers=viewer)
    assert response.status_code == 200
    body = response.json
    assert body["checks"] == [
        {"step": "admin_token", "ok": True, "detail": "Token Verified"},
        {"step": "database", "ok": True, "detail": "3 Connections, 0 Tools Registered"},
        {"step": "vault", "ok": True, "detail": "0 Secret Keys Available"},
        {"step": "targets", "ok": False, "detail": "2/3 OK"},
    ]
    down, locked, up = body["targets"]  # by name
    assert up | {"id": "", "rtt_ms": 0} == {
        "id": "",
        "name": "Up",
        "base_url": upstream.url + "/health",
        "enabled": True,
        "ok": True,
        "http_status": 200,
        "reason": "OK",
        "rtt_ms": 0,
        "error": None,
        "circuit": "closed",
    }
    assert up["rtt_ms"] > 0
    assert (locked["ok"], locked["http_status"], locked["reason"]) == (True, 401, "UNAUTHORIZED")
    assert down | {"id": "", "rtt_ms": 0} == {
        "id": "",
        "name": "Down",
        "base_url": closed,
        "enabled": False,
        "ok": False,
        "http_status": None,
        "reason": "",
        "rtt_ms": 0,
        "error": "connection refused",
        "circuit": "closed",
    }
    assert sorted(seen.path for seen in upstream.seen) == ["/health", "/private"]


def test_verify_with_no_connections_passes_every_check(app, api, viewer):
    body = api.get("/api/v1/verify", headers=viewer).json
    assert all(check["ok"] for check in body["checks"]) and body["targets"] == []
