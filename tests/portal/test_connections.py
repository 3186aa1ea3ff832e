"""API Connections pages: everything goes through the services, bad input is answered next to its field."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from janus.extensions import db
from janus.models import AdminAuditLog, Connection
from tests.support.catalog import add_connection
from tests.support.upstream import echo, json_response


def _count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(Connection.id)))


def test_bad_input_is_shown_next_to_its_field_and_nothing_is_stored(admin):
    cases = [
        ({"name": "", "base_url": "http://127.0.0.1:1"}, "name", "name must not be empty"),
        (
            {"name": "Bank", "base_url": "ftp://bank"},
            "base_url",
            "base_url must be an absolute http:// or https:// URL",
        ),
        (
            {"name": "Bank", "base_url": "http://127.0.0.1:1", "prefix": "Bad-Prefix"},
            "prefix",
            "prefix 'Bad-Prefix' is invalid",
        ),
        (
            {"name": "Bank", "base_url": "http://127.0.0.1:1", "auth_type": "bearer"},
            "auth_secret_ref",
            "needs a vault secret reference",
        ),
        (
            {"name": "Bank", "base_url": "http://127.0.0.1:1", "timeout_seconds": "soon"},
            "timeout_seconds",
            "timeout_seconds must be a number",
        ),
    ]
    for form, field, message in cases:
        for htmx in (False, True):
            reply = admin.post("/connections/new", {"auth_type": "none", **form}, htmx=htmx)
            html = reply.get_data(as_text=True)
            assert reply.status_code == 422, (form, html)
            shown = dict(re.findall(r'<p class="error" id="e-(\w+)" role="alert">([^<]*)</p>', html))
            assert message in shown.get(field, "").replace("&#39;", "'"), (field, shown)
            assert f'id="f-{field}"' in html and 'aria-invalid="true"' in html
            assert ("<html" in html) is not htmx  # htmx gets the form fragment only
    assert _count(admin.app) == 0


def test_create_edit_toggle_and_delete_go_through_the_services_with_an_audit_trail(admin):
    reply = admin.post(
        "/connections/new",
        {
            "name": "Bank",
            "base_url": "http://127.0.0.1:9/api",
            "prefix": "",
            "auth_type": "none",
            "enabled": "on",
            "timeout_seconds": "7.5",
        },
    )
    assert reply.status_code == 303 and reply.headers["Location"] == "/connections"
    with admin.app.app_context():
        conn = db.session.scalars(select(Connection)).one()
        assert (conn.prefix, conn.timeout_seconds, conn.enabled) == ("bank_", 7.5, True)
        conn_id = conn.id
    edit = admin.get(f"/connections/{conn_id}/edit").get_data(as_text=True)
    assert 'value="http://127.0.0.1:9/api"' in edit
    reply = admin.post(
        f"/connections/{conn_id}/edit",
        {
            "name": "Bank v2",
            "base_url": "http://127.0.0.1:9/v2",
            "prefix": "bank_",
            "auth_type": "none",
            "enabled": "on",
        },
        htmx=True,
    )
    assert reply.status_code == 200 and reply.headers["HX-Redirect"] == "/connections"
    # Disabling asks first (the impact, in the dialog), then the confirmation posts the state wanted.
    question = admin.post(f"/connections/{conn_id}/toggle", htmx=True)
    assert question.headers["HX-Retarget"] == "#modal-body" and "Impact on live clients" in question.get_data(
        as_text=True
    )
    card = admin.post(f"/connections/{conn_id}/toggle", {"enabled": "false", "confirmed": "1"}, htmx=True)
    card = card.get_data(as_text=True)
    assert card.lstrip().startswith("<article") and "DISABLED" in card and "Bank v2" in card
    assert admin.get(f"/connections/{conn_id}/delete").status_code == 200  # the no-JavaScript confirmation page
    assert admin.post(f"/connections/{conn_id}/delete").status_code == 303
    assert _count(admin.app) == 0
    with admin.app.app_context():
        actions = [r.action for r in db.session.scalars(select(AdminAuditLog).order_by(AdminAuditLog.id))]
        actors = {
            r.actor for r in db.session.scalars(select(AdminAuditLog).where(AdminAuditLog.target_type == "connection"))
        }
    assert actions[-4:] == ["connection.create", "connection.update", "connection.update", "connection.delete"]
    assert actors == {"alice"}


def test_the_prefix_check_reports_clashes_as_you_type_but_not_your_own_prefix(admin):
    own = add_connection(admin.app, "Accounts", "http://127.0.0.1:9", "acc_")
    clash = admin.get("/connections/prefix-check?prefix=acc_ext_", htmx=True).get_data(as_text=True)
    assert "clashes with connection" in clash and 'class="error"' in clash
    assert "is free" in admin.get("/connections/prefix-check?prefix=pay_", htmx=True).get_data(as_text=True)
    assert "is free" in admin.get(f"/connections/prefix-check?prefix=acc_&own_id={own}", htmx=True).get_data(
        as_text=True
    )
    assert "is invalid" in admin.get("/connections/prefix-check?prefix=Nope", htmx=True).get_data(as_text=True)


def test_test_connection_shows_the_upstreams_answer_in_place(admin, upstream):
    upstream.route("/", lambda request: json_response({"service": "ledger", "status": "green"}))
    reachable = add_connection(admin.app, "Up", upstream.url, "up_")
    down = add_connection(admin.app, "Down", "http://127.0.0.1:9", "down_")
    shown = admin.post(f"/connections/{reachable}/test", htmx=True).get_data(as_text=True)
    assert "Reachable: HTTP 200 OK" in shown and "<html" not in shown
    assert "(application/json)" in shown and "&#34;service&#34;: &#34;ledger&#34;" in shown  # the answer, escaped
    assert "Failed: Upstream &#39;Down&#39; is unreachable: connection refused" in admin.post(
        f"/connections/{down}/test", htmx=True
    ).get_data(as_text=True)


def test_test_connection_sends_the_connections_credentials_and_redacts_them_from_the_answer(admin, upstream):
    from janus.services import vault_keys

    upstream.route("/", echo)  # echoes the Authorization header it received
    with admin.app.app_context():
        vault_keys.set_secret("alice", "ledger/token", "sk_ledger_secret_4471")
    conn = add_connection(admin.app, "Ledger", upstream.url, "led_", auth_type="bearer", auth_secret_ref="ledger/token")
    shown = admin.post(f"/connections/{conn}/test", htmx=True).get_data(as_text=True)
    assert upstream.seen[-1].headers["authorization"] == "Bearer sk_ledger_secret_4471"
    assert "Reachable: HTTP 200" in shown and "sk_ledger_secret_4471" not in shown and "[redacted]" in shown


def test_test_connection_redacts_a_credential_echoed_in_another_charset_case_or_reason(admin, upstream):
    from werkzeug.wrappers import Response

    from janus.services import vault_keys

    def whoami(request):
        token = request.headers["Authorization"].removeprefix("Bearer ")
        return Response(
            f"you are {token.upper()} / {token}".encode("utf-16"),
            status=f"200 Hi {token}",
            content_type="text/plain; charset=utf-16",
        )

    upstream.route("/", whoami)
    with admin.app.app_context():
        vault_keys.set_secret("alice", "ledger/token", "sk_ledger_secret_4471")
    conn = add_connection(admin.app, "Ledger", upstream.url, "led_", auth_type="bearer", auth_secret_ref="ledger/token")
    shown = admin.post(f"/connections/{conn}/test", htmx=True).get_data(as_text=True)
    assert upstream.seen[-1].headers["authorization"] == "Bearer sk_ledger_secret_4471"
    assert "sk_ledger_secret_4471" not in shown.lower()
    assert "Reachable: HTTP 200 Hi [redacted]" in shown and "you are [redacted] / [redacted]" in shown


def test_test_connection_reports_a_missing_secret_and_a_failing_upstream(admin, upstream):
    upstream.route("/", lambda request: json_response({"error": "maintenance"}, 503))
    failing = add_connection(admin.app, "Flaky", upstream.url, "fl_")
    shown = admin.post(f"/connections/{failing}/test", htmx=True).get_data(as_text=True)
    assert "Upstream error: HTTP 503" in shown and "maintenance" in shown and "probe-result bad" in shown
    health = admin.get("/dashboard/health", htmx=True).get_data(as_text=True)
    assert "ERROR (HTTP 503)" in health
    before = len(upstream.seen)
    unsecured = add_connection(
        admin.app, "Vaultless", upstream.url, "vl_", auth_type="bearer", auth_secret_ref="no/such"
    )
    shown = admin.post(f"/connections/{unsecured}/test", htmx=True).get_data(as_text=True)
    assert "Failed:" in shown and "no/such" in shown and len(upstream.seen) == before  # no request without it


def test_an_unknown_connection_is_a_404_page(admin):
    reply = admin.get("/connections/nope/edit")
    assert reply.status_code == 404 and "connection 'nope' not found" in reply.get_data(as_text=True).replace(
        "&#39;", "'"
    )


def test_the_dashboard_shows_totals_endpoints_and_health(admin, upstream):
    add_connection(admin.app, "Up", upstream.url, "up_")
    page = admin.get("/").get_data(as_text=True)
    assert 'data-stat="connections">1<' in page and "/mcp" in page and "/sse" in page
    health = admin.get("/dashboard/health", htmx=True).get_data(as_text=True)
    assert "Up" in health and "OK (HTTP" in health


def test_an_empty_form_names_every_missing_input_at_once(admin):
    html = admin.post("/connections/new", {"auth_type": "none", "name": "", "base_url": ""}, htmx=True).get_data(
        as_text=True
    )
    shown = dict(re.findall(r'<p class="error" id="e-(\w+)" role="alert">([^<]*)</p>', html))
    assert shown == {"name": "name must not be empty", "base_url": "base_url must not be empty"}
    assert _count(admin.app) == 0


def test_a_change_is_confirmed_on_the_next_page_and_sub_pages_mark_their_section(admin):
    reply = admin.post("/connections/new", {"auth_type": "none", "name": "Bank", "base_url": "http://127.0.0.1:9"})
    assert reply.status_code == 303
    page = admin.get("/connections").get_data(as_text=True)
    assert 'class="flash" role="status"' in page and "Connection Bank created; its tools are named bank_…" in page
    assert "Connection Bank created" not in admin.get("/connections").get_data(as_text=True)  # shown once
    form = admin.get("/connections/new").get_data(as_text=True)
    assert re.search(r'<a href="/connections" aria-current="page">API Connections</a>', form)
    assert 'href="/" aria-current' not in form


def test_the_health_table_probes_without_reading_or_sending_a_secret(admin, upstream):
    upstream.route("/", echo)
    add_connection(admin.app, "Vaulted", upstream.url, "vt_", auth_type="bearer", auth_secret_ref="not/stored/yet")
    health = admin.get("/dashboard/health", htmx=True).get_data(as_text=True)
    assert "OK (HTTP 200)" in health  # the missing secret does not matter to reachability
    assert upstream.seen and "authorization" not in upstream.seen[-1].headers


def test_the_connections_page_searches_and_pages_in_the_database(admin):
    for i in range(65):  # the page holds 60
        add_connection(
            admin.app, f"Service {i:02d}", f"http://127.0.0.1:9/s{i}", f"svc{i:02d}_", description="Weather" * (i == 42)
        )
    titles = re.compile(r'<h3 id="conn-title-[^"]+">([^<]+)</h3>')
    first = admin.get("/connections").get_data(as_text=True)
    second = admin.get("/connections?page=2").get_data(as_text=True)
    assert titles.findall(first) == [f"Service {i:02d}" for i in range(60)] and "Page 1 of 2" in first
    assert titles.findall(second) == [f"Service {i:02d}" for i in range(60, 65)]
    assert titles.findall(admin.get("/connections?q=weather").get_data(as_text=True)) == ["Service 42"]
    assert titles.findall(admin.get("/connections?q=SVC07").get_data(as_text=True)) == ["Service 07"]  # the prefix
    nothing = admin.get("/connections?q=nowhere", htmx=True).get_data(as_text=True)
    assert 'id="connection-list"' in nothing and "No connections match." in nothing
    refused = admin.get("/connections?page=0")
    assert refused.status_code == 200 and "page must be at least 1" in refused.get_data(as_text=True)


def test_the_connections_page_sorts_and_filters_by_status(admin):
    names = ["Alpha", "Beta", "Gamma"]
    ids = [add_connection(admin.app, name, "http://127.0.0.1:9", f"{name.lower()}_") for name in names]
    add_connection(admin.app, "Delta", "http://127.0.0.1:9", "delta_", enabled=False)
    from tests.support.catalog import add_endpoint

    for i in range(3):
        add_endpoint(admin.app, ids[1], f"t{i}", "/t")
    add_endpoint(admin.app, ids[2], "t", "/t")
    titles = re.compile(r'<h3 id="conn-title-[^"]+">([^<]+)</h3>')
    assert titles.findall(admin.get("/connections?sort=-name").get_data(as_text=True)) == [
        "Gamma",
        "Delta",
        "Beta",
        "Alpha",
    ]
    most = admin.get("/connections?sort=-endpoint_count").get_data(as_text=True)
    assert titles.findall(most)[:2] == ["Beta", "Gamma"] and '<option value="-endpoint_count" selected>' in most
    assert titles.findall(admin.get("/connections?enabled=false").get_data(as_text=True)) == ["Delta"]
    fragment = admin.get("/connections?enabled=true&sort=-created_at", htmx=True).get_data(as_text=True)
    assert titles.findall(fragment) == ["Gamma", "Beta", "Alpha"] and "<html" not in fragment
    refused = admin.get("/connections?sort=size").get_data(as_text=True)
    assert "sort &#39;size&#39; is unknown" in refused and titles.findall(refused) == []
