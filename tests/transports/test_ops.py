"""Operational endpoints: /metrics needs a bearer or an admin unless made public (issue 10, item 12);
/healthz stays open for load balancers. Real app, real SQLite file, real sign-ins."""

from __future__ import annotations

import pytest

from janus.extensions import db
from janus.services import users as users_service
from tests.admin_api.conftest import bearer as admin_bearer
from tests.conftest import make_app
from tests.portal.conftest import PASSWORD, Portal

METRICS_TOKEN = "metrics_scraper_token_with_entropy_0001"


@pytest.fixture
def ops_app(tmp_path):
    from janus.services.bootstrap import ensure_schema

    app = make_app(
        {"DATABASE_PATH": str(tmp_path / "janus.db")},
        VAULT_LOCAL_PATH=str(tmp_path / "secrets.json"),
        METRICS_TOKEN=METRICS_TOKEN,
    )
    with app.app_context():
        ensure_schema()
        users_service.create_user("setup", {"username": "alice", "password": PASSWORD, "role": "admin"})
        users_service.create_user("setup", {"username": "victor", "password": PASSWORD, "role": "viewer"})
        db.session.remove()
    return app


def _bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def _session(app, username: str) -> dict[str, str]:
    return admin_bearer(app, username)


def _is_exposition(response) -> bool:
    return response.status_code == 200 and b"# TYPE " in response.data


def test_metrics_without_credentials_get_401_naming_what_to_send(ops_app):
    response = ops_app.test_client().get("/metrics")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="janus-metrics"'
    assert response.json["error"] == "unauthorized" and "METRICS_TOKEN" in response.json["message"]
    assert b"# TYPE" not in response.data


def test_metrics_are_served_to_the_metrics_token_and_an_admin_session(ops_app):
    client = ops_app.test_client()
    assert _is_exposition(client.get("/metrics", headers=_bearer(METRICS_TOKEN)))
    assert _is_exposition(client.get("/metrics", headers=_session(ops_app, "alice")))


@pytest.mark.parametrize("credential", [METRICS_TOKEN + "x", "", "not.a.jwt", "mcp_client_weather_dev_552"])
def test_a_wrong_bearer_gets_401(ops_app, credential):
    response = ops_app.test_client().get("/metrics", headers=_bearer(credential))
    assert response.status_code == 401 and b"# TYPE" not in response.data


def test_a_viewer_session_is_refused_with_403(ops_app):
    response = ops_app.test_client().get("/metrics", headers=_session(ops_app, "victor"))
    assert response.status_code == 403 and response.json["error"] == "forbidden"


def test_a_portal_admin_sign_in_reads_metrics_and_a_viewer_sign_in_does_not(ops_app):
    admin = Portal(ops_app, ops_app.test_client())
    assert admin.login("alice").status_code == 303
    assert _is_exposition(admin.get("/metrics"))
    viewer = Portal(ops_app, ops_app.test_client())
    assert viewer.login("victor").status_code == 303
    assert viewer.get("/metrics").status_code == 403


def test_metrics_public_serves_everyone(tmp_path):
    app = make_app({"DATABASE_PATH": str(tmp_path / "janus.db")}, METRICS_PUBLIC="true")
    assert _is_exposition(app.test_client().get("/metrics"))


def test_without_a_metrics_token_no_bearer_value_opens_metrics(tmp_path):
    app = make_app({"DATABASE_PATH": str(tmp_path / "janus.db")})  # METRICS_TOKEN unset: "" must not match ""
    assert app.test_client().get("/metrics", headers={"Authorization": "Bearer "}).status_code == 401


def test_health_checks_need_no_credentials(ops_app):
    assert ops_app.test_client().get("/healthz").status_code == 200


def test_metrics_get_the_dns_rebinding_checks(ops_app):
    client = ops_app.test_client()
    assert client.get("/metrics", headers={**_bearer(METRICS_TOKEN), "Host": "evil.example.com"}).status_code == 421
    assert (
        client.get("/metrics", headers={**_bearer(METRICS_TOKEN), "Origin": "http://evil.example.com"}).status_code
        == 403
    )


def test_an_ended_admin_session_no_longer_reads_metrics(ops_app):
    client = ops_app.test_client()
    headers = _session(ops_app, "alice")
    assert _is_exposition(client.get("/metrics", headers=headers))
    assert client.post("/api/v1/logout", headers=headers).status_code == 204
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 401 and b"# TYPE" not in response.data
