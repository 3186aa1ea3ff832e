"""MCP Tools pages: the endpoint editor, its live schema check and the "try it" panel."""

from __future__ import annotations

import json
import re
from html import unescape

import pytest
from sqlalchemy import func, select

from janus.extensions import db
from janus.models import Endpoint, ToolCallLog
from janus.runtime import get_runtime
from tests.support.catalog import add_connection, add_endpoint
from tests.support.upstream import json_response

SCHEMA = {
    "type": "object",
    "properties": {"invoice_id": {"type": "string"}, "status": {"type": "string"}},
    "required": ["invoice_id"],
}


def _errors(html: str) -> dict[str, str]:
    return {
        k: v.replace("&#39;", "'").replace("&#34;", '"')
        for k, v in re.findall(r'<p class="error" id="e-(\w+)" role="alert">([^<]*)</p>', html)
    }


def _tool_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(Endpoint.id)))


def test_bad_input_is_shown_next_to_its_field_and_nothing_is_stored(admin):
    conn = add_connection(admin.app, "Billing", "http://127.0.0.1:9", "billing_")
    base = {
        "connection_id": conn,
        "tool_name": "get_invoice",
        "path_template": "/invoices/{{invoice_id}}",
        "method": "GET",
        "input_schema": json.dumps(SCHEMA),
    }
    cases = [
        ({"input_schema": "{not json"}, "input_schema", "input schema is not valid JSON"),
        ({"input_schema": '{"type": "array"}'}, "input_schema", 'must have "type": "object"'),
        (
            {"input_schema": '{"type": "object", "properties": {"a": {"type": 5}}}'},
            "input_schema",
            "not a valid JSON Schema",
        ),
        (
            {"input_schema": '{"type": "object"}'},
            "input_schema",
            "path parameter 'invoice_id' must be a required property",
        ),
        ({"path_template": "invoices"}, "path_template", "must start with '/'"),
        ({"tool_name": "bad name!"}, "tool_name", "tool name 'bad name!' is invalid"),
        ({"body_template": '{"id": "{{invoice_id}}"}'}, "body_template", "only with POST, PUT or PATCH"),
        ({"connection_id": ""}, "connection_id", "connection_id must not be empty"),
    ]
    for change, field, message in cases:
        reply = admin.post("/tools/new", {**base, **change}, htmx=True)
        assert reply.status_code == 422, (change, reply.get_data(as_text=True)[:300])
        assert message in _errors(reply.get_data(as_text=True)).get(field, ""), (
            field,
            _errors(reply.get_data(as_text=True)),
        )
    assert _tool_count(admin.app) == 0


def test_the_schema_editor_is_checked_as_you_type(admin):
    ok = admin.post("/tools/schema-check", {"input_schema": json.dumps(SCHEMA)}, htmx=True).get_data(as_text=True)
    assert "Valid JSON Schema." in ok and "<html" not in ok
    bad = admin.post("/tools/schema-check", {"input_schema": '{"type": "object", "required": "x"}'}, htmx=True)
    assert "not a valid JSON Schema" in bad.get_data(as_text=True) and 'class="error"' in bad.get_data(as_text=True)


def test_a_tool_with_a_body_template_is_created_grouped_and_tried_through_the_gateway(admin, upstream):
    upstream.route(
        "/invoices/",
        lambda request: json_response({"invoice": request.path.rsplit("/", 1)[-1], "body": request.get_json()}),
    )
    conn = add_connection(admin.app, "Billing", upstream.url, "billing_")
    reply = admin.post(
        "/tools/new",
        {
            "connection_id": conn,
            "tool_name": "close_invoice",
            "description": "Close an invoice",
            "path_template": "/invoices/{{invoice_id}}",
            "method": "POST",
            "input_schema": json.dumps(SCHEMA),
            "body_template": '{"status": "{{status}}", "source": "janus"}',
            "enabled": "on",
        },
    )
    assert reply.status_code == 303
    page = admin.get("/tools").get_data(as_text=True)
    assert "billing_close_invoice" in page and "Billing" in page
    with admin.app.app_context():
        tool_id = db.session.scalars(select(Endpoint.id)).one()
    panel = admin.get(f"/tools/{tool_id}/try", htmx=True).get_data(as_text=True)
    assert "&#34;invoice_id&#34;: &#34;example&#34;" in panel  # sample arguments from the schema
    arguments = json.dumps({"invoice_id": "INV-7", "status": "paid"})
    preview = admin.post(f"/tools/{tool_id}/try", {"arguments": arguments}, htmx=True).get_data(as_text=True)
    assert upstream.seen == []  # a POST tool is only previewed at first
    reply = admin.post(
        f"/tools/{tool_id}/try", {"arguments": arguments, "confirm": "1", "request_digest": _digest(preview)}, htmx=True
    )
    html = reply.get_data(as_text=True)
    assert reply.status_code == 200 and "success" in html
    seen = upstream.seen[-1]
    assert seen.method == "POST" and seen.path == "/invoices/INV-7"
    assert json.loads(seen.body) == {"status": "paid", "source": "janus"}
    assert "INV-7" in html and "structuredContent" in html
    get_runtime(admin.app).audit.flush()
    with admin.app.app_context():
        row = db.session.scalars(select(ToolCallLog)).one()
        assert (row.tool_name, row.status, row.token_name, row.transport) == (
            "billing_close_invoice",
            "success",
            "portal:alice",
            "portal",
        )


def _digest(html: str) -> str:
    return re.search(r'name="request_digest" value="([0-9a-f]{64})"', html).group(1)


def _text(html: str) -> str:
    """The page's text as a reader sees it: no tags, entities decoded, spaces collapsed."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_a_write_tool_is_called_only_after_the_admin_confirms_the_exact_request_shown(admin, upstream, method):
    upstream.route("/invoices/", lambda request: json_response({"ok": True}, status=201))
    conn = add_connection(admin.app, "Billing", upstream.url, "billing_")
    body = '{"status": "{{status}}", "source": "janus"}' if method != "DELETE" else None
    tool_id = add_endpoint(
        admin.app, conn, "change_invoice", "/invoices/{{invoice_id}}", method=method, schema=SCHEMA, body_template=body
    )
    arguments = json.dumps({"invoice_id": "INV 7/a", "status": "paid"})
    panel = admin.get(f"/tools/{tool_id}/try").get_data(as_text=True)
    assert "Preview request" in panel and "Call tool" not in panel

    # First submit: the request as it will be sent, a confirm button, and nothing sent or audited.
    reply = admin.post(f"/tools/{tool_id}/try", {"arguments": arguments}, htmx=True)
    html = reply.get_data(as_text=True)
    assert reply.status_code == 200 and upstream.seen == []
    text = _text(html)
    assert f"{method} {upstream.url}/invoices/INV%207%2Fa" in text
    if method == "DELETE":
        assert "No body." in text
    else:
        assert '{"status":"paid","source":"janus"}' in text
    assert f"Confirm: send {method}" in text and 'name="confirm" value="1"' in html
    assert re.search(r"<textarea[^>]*readonly", html)  # what is confirmed cannot be edited in place

    # No confirmation, a confirmation without the preview's digest, or of other arguments: shown again, not sent.
    digest = _digest(html)
    for form in (
        {"arguments": arguments, "request_digest": digest},
        {"arguments": arguments, "confirm": "1"},
        {"arguments": json.dumps({"invoice_id": "INV-8", "status": "paid"}), "confirm": "1", "request_digest": digest},
    ):
        again = admin.post(f"/tools/{tool_id}/try", form).get_data(as_text=True)
        assert upstream.seen == [], form
        assert "Request to send" in again and "Confirm: send" in again, form
    assert "changed since it was shown" in again and "INV-8" in _text(again)

    # "Change arguments" goes back to editing; nothing is sent.
    edit = admin.post(f"/tools/{tool_id}/try", {"arguments": arguments, "edit": "1", "request_digest": digest})
    assert "Preview request" in edit.get_data(as_text=True) and upstream.seen == []

    # The confirmation of exactly that request: one call, and the status and duration of the answer.
    reply = admin.post(
        f"/tools/{tool_id}/try", {"arguments": arguments, "confirm": "1", "request_digest": digest}, htmx=True
    )
    text = _text(reply.get_data(as_text=True))
    assert [(s.method, s.path) for s in upstream.seen] == [(method, "/invoices/INV%207%2Fa")]
    assert re.search(r"Upstream answered HTTP 201 in \d+\.\d ms", text), text
    assert f"Request sent {method} {upstream.url}/invoices/INV%207%2Fa" in text
    get_runtime(admin.app).audit.flush()
    with admin.app.app_context():
        row = db.session.scalars(select(ToolCallLog)).one()
        assert (row.status, row.http_status, row.token_name) == ("success", 201, "portal:alice")


def test_a_confirmation_is_refused_when_the_tool_changed_after_the_preview(admin, upstream):
    conn = add_connection(admin.app, "Billing", upstream.url, "billing_")
    tool_id = add_endpoint(admin.app, conn, "close_invoice", "/invoices/{{invoice_id}}", method="POST", schema=SCHEMA)
    arguments = json.dumps({"invoice_id": "INV-7"})
    digest = _digest(admin.post(f"/tools/{tool_id}/try", {"arguments": arguments}).get_data(as_text=True))
    with admin.app.app_context():
        db.session.get(Endpoint, tool_id).path_template = "/archive/{{invoice_id}}"
        db.session.commit()
    html = admin.post(
        f"/tools/{tool_id}/try", {"arguments": arguments, "confirm": "1", "request_digest": digest}
    ).get_data(as_text=True)
    assert upstream.seen == [] and "changed since it was shown" in html
    assert f"POST {upstream.url}/archive/INV-7" in _text(html)  # the new request, to confirm afresh


def test_a_read_tool_is_called_at_once_and_shows_the_request_its_status_and_duration(admin, upstream):
    upstream.route("/invoices/", lambda request: json_response({"missing": True}, status=404))
    conn = add_connection(admin.app, "Billing", upstream.url + "/v1", "billing_")
    tool_id = add_endpoint(admin.app, conn, "get_invoice", "/invoices/{{invoice_id}}", schema=SCHEMA)
    reply = admin.post(
        f"/tools/{tool_id}/try", {"arguments": json.dumps({"invoice_id": "INV-7", "status": "a b"})}, htmx=True
    )
    text = _text(reply.get_data(as_text=True))
    assert [(s.method, s.path, s.query) for s in upstream.seen] == [("GET", "/v1/invoices/INV-7", "status=a+b")]
    assert f"Request sent GET {upstream.url}/v1/invoices/INV-7?status=a+b" in text
    assert re.search(r"Upstream answered HTTP 404 in \d+\.\d ms", text), text


def test_try_it_answers_bad_arguments_in_place(admin, upstream):
    conn = add_connection(admin.app, "Billing", upstream.url, "billing_")
    tool_id = add_endpoint(admin.app, conn, "get_invoice", "/invoices/{{invoice_id}}", schema=SCHEMA)
    reply = admin.post(f"/tools/{tool_id}/try", {"arguments": "[1, 2"}, htmx=True)
    assert (
        reply.status_code == 422
        and "arguments are not valid JSON" in _errors(reply.get_data(as_text=True))["arguments"]
    )
    reply = admin.post(f"/tools/{tool_id}/try", {"arguments": json.dumps({"status": "x"})}, htmx=True)
    html = reply.get_data(as_text=True)
    assert reply.status_code == 200 and "isError" in html and "invoice_id" in html  # the schema's own message
    assert upstream.seen == []  # refused before any upstream call


def test_try_it_refuses_arguments_with_a_lone_surrogate_in_place(admin, upstream):
    """JSON may spell a lone surrogate ("\\ud800"), which no digest, audit row or request can carry: the
    form says so next to the field instead of answering 500."""
    conn = add_connection(admin.app, "Billing", upstream.url, "billing_")
    tool_id = add_endpoint(admin.app, conn, "get_invoice", "/invoices/{{invoice_id}}", schema=SCHEMA)
    reply = admin.post(f"/tools/{tool_id}/try", {"arguments": '{"invoice_id": "INV-\\ud800"}'}, htmx=True)
    assert reply.status_code == 422
    assert "lone UTF-16 surrogate" in _errors(reply.get_data(as_text=True))["arguments"]
    assert upstream.seen == []


def test_toggle_edit_and_delete(admin):
    conn = add_connection(admin.app, "Billing", "http://127.0.0.1:9", "billing_")
    tool_id = add_endpoint(admin.app, conn, "get_invoice", "/invoices/{{invoice_id}}", schema=SCHEMA)
    row = admin.post(f"/tools/{tool_id}/toggle", htmx=True).get_data(as_text=True)
    assert row.lstrip().startswith("<tr") and "DISABLED" in row
    assert "enable it to try it" in admin.post(f"/tools/{tool_id}/try", {"arguments": "{}"}, htmx=True).get_data(
        as_text=True
    )
    edit = admin.get(f"/tools/{tool_id}/edit").get_data(as_text=True)
    assert "/invoices/{{invoice_id}}" in edit and "Billing" in edit
    reply = admin.post(
        f"/tools/{tool_id}/edit",
        {
            "tool_name": "fetch_invoice",
            "path_template": "/invoices/{{invoice_id}}",
            "method": "GET",
            "input_schema": json.dumps(SCHEMA),
            "enabled": "on",
        },
    )
    assert reply.status_code == 303
    assert "billing_fetch_invoice" in admin.get("/tools").get_data(as_text=True)
    assert admin.post(f"/tools/{tool_id}/delete").status_code == 303
    assert _tool_count(admin.app) == 0


def test_a_viewer_reads_the_tools_but_cannot_change_or_try_them(viewer):
    conn = add_connection(viewer.app, "Billing", "http://127.0.0.1:9", "billing_")
    tool_id = add_endpoint(viewer.app, conn, "get_invoice", "/invoices/{{invoice_id}}", schema=SCHEMA)
    page = viewer.get("/tools").get_data(as_text=True)
    assert "billing_get_invoice" in page and "Try it" not in page and "+ Add MCP Tool" not in page
    for url in ("/tools/new", f"/tools/{tool_id}/toggle", f"/tools/{tool_id}/try", f"/tools/{tool_id}/delete"):
        assert viewer.post(url, {"arguments": "{}"}).status_code == 403
    assert _tool_count(viewer.app) == 1


def test_every_refused_input_of_a_tool_is_shown_at_once(admin):
    conn = add_connection(admin.app, "Billing", "http://127.0.0.1:9", "billing_")
    html = admin.post(
        "/tools/new",
        {"connection_id": conn, "tool_name": "", "path_template": "", "method": "GET", "input_schema": "{not json"},
        htmx=True,
    ).get_data(as_text=True)
    shown = _errors(html)
    assert set(shown) == {"tool_name", "path_template", "input_schema"}, shown
    assert "tool_name must not be empty" in shown["tool_name"] and "not valid JSON" in shown["input_schema"]
    assert _tool_count(admin.app) == 0


def test_an_oversized_schema_is_refused_before_it_is_checked(admin):
    huge = json.dumps({"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(5000)}})
    assert len(huge) > 64 * 1024
    reply = admin.post("/tools/schema-check", {"input_schema": huge}, htmx=True).get_data(as_text=True)
    assert "at most 64 KiB is accepted" in reply


def test_a_viewer_reads_a_tools_full_schema_and_body_template_without_being_able_to_edit(viewer):
    conn = add_connection(viewer.app, "Billing", "http://127.0.0.1:9", "billing_")
    long_description = "Fetch one invoice. " * 20  # the list shortens it; the detail does not
    tool_id = add_endpoint(
        viewer.app,
        conn,
        "annotate",
        "/invoices/{{invoice_id}}",
        method="POST",
        schema=SCHEMA,
        body_template='{"id": "{{invoice_id}}", "note": "{{status}}"}',
        description=long_description,
    )
    assert f'href="/tools/{tool_id}"' in viewer.get("/tools").get_data(as_text=True)
    detail = viewer.get(f"/tools/{tool_id}", htmx=True)
    html = detail.get_data(as_text=True)
    assert detail.status_code == 200 and "<html" not in html
    assert "&#34;invoice_id&#34;" in html and "&#34;required&#34;" in html  # the schema, pretty-printed
    assert "{{invoice_id}}" in html.replace("&#34;", '"') and long_description.strip() in html
    assert "/edit" not in html and "Try it" not in html
    assert viewer.get(f"/tools/{tool_id}/edit").status_code == 403
    assert viewer.get("/tools/no-such-tool").status_code == 404


def _listed(html: str) -> list[str]:
    return re.findall(r'title="Details of ([^"]+)"', html)


def test_the_tools_page_shows_one_page_at_a_time_and_searches_in_the_database(admin):
    from janus.extensions import db as database
    from janus.models import Endpoint as Row

    first = add_connection(admin.app, "Billing", "http://127.0.0.1:9", "billing_")
    add_connection(admin.app, "Empty", "http://127.0.0.1:9", "empty_")
    with admin.app.app_context():  # 130 tools in one commit: the page size is 100
        database.session.add_all(
            Row(
                connection_id=first,
                tool_name=f"tool_{i:03d}",
                path_template=f"/things/{i}",
                method="DELETE" if i == 7 else "GET",
                description="Weather today" if i % 50 == 0 else "",
                enabled=i != 3,
            )
            for i in range(130)
        )
        database.session.commit()

    page_one = admin.get("/tools").get_data(as_text=True)
    page_two = admin.get("/tools?page=2").get_data(as_text=True)
    assert _listed(page_one) == [f"billing_tool_{i:03d}" for i in range(100)]
    assert "130 tools · page 1 of 2" in page_one and ">Empty</h3>" not in page_one  # tool-less groups: last page
    assert _listed(page_two) == [f"billing_tool_{i:03d}" for i in range(100, 130)]
    assert ">Empty</h3>" in page_two and "No tools yet." in page_two  # the connection without tools

    assert _listed(admin.get("/tools?q=WEATHER").get_data(as_text=True)) == [
        "billing_tool_000",
        "billing_tool_050",
        "billing_tool_100",
    ]
    assert _listed(admin.get("/tools?method=delete").get_data(as_text=True)) == ["billing_tool_007"]
    assert _listed(admin.get("/tools?enabled=false").get_data(as_text=True)) == ["billing_tool_003"]
    fragment = admin.get("/tools?q=tool_12", htmx=True).get_data(as_text=True)
    assert fragment.startswith('<div id="tool-groups"') or fragment.lstrip().startswith('<div id="tool-groups"')
    assert _listed(fragment) == [f"billing_tool_{i}" for i in range(120, 130)]
    refused = admin.get("/tools?method=FETCH")
    assert refused.status_code == 200 and "method must be one of" in refused.get_data(as_text=True)


def test_selected_tools_are_enabled_disabled_or_deleted_together_each_audited(admin, viewer):
    from janus.models import AdminAuditLog

    conn = add_connection(admin.app, "Billing", "http://127.0.0.1:9", "billing_")
    ids = [add_endpoint(admin.app, conn, f"tool_{i}", f"/t/{i}") for i in range(4)]
    page = admin.get("/tools").get_data(as_text=True)
    assert 'id="tool-bulk"' in page and f'name="ids" value="{ids[0]}" form="tool-bulk"' in page

    def enabled() -> list[bool]:
        with admin.app.app_context():
            return [db.session.get(Endpoint, i).enabled for i in ids]

    def audited(action: str) -> int:
        with admin.app.app_context():
            return db.session.scalar(select(func.count()).where(AdminAuditLog.action == action))

    updates = audited("endpoint.update")
    reply = admin.client.post(
        "/tools/bulk", data={"csrf_token": admin.csrf, "action": "disable", "ids": ids[:3], "q": "tool", "page": "1"}
    )
    assert reply.status_code == 303 and reply.headers["Location"].endswith("/tools?q=tool&page=1")
    assert enabled() == [False, False, False, True] and audited("endpoint.update") == updates + 3
    admin.client.post("/tools/bulk", data={"csrf_token": admin.csrf, "action": "enable", "ids": ids[1:]})
    assert enabled() == [False, True, True, True] and audited("endpoint.update") == updates + 5  # 2 changed
    assert get_runtime(admin.app).catalog.current().by_name.keys() >= {"billing_tool_1", "billing_tool_2"}

    admin.client.post("/tools/bulk", data={"csrf_token": admin.csrf, "action": "delete", "ids": ids[:2]})
    assert _tool_count(admin.app) == 2 and audited("endpoint.delete") == 2
    assert "2 tools deleted." in admin.get("/tools").get_data(as_text=True)

    refused = admin.client.post("/tools/bulk", data={"csrf_token": admin.csrf, "action": "explode", "ids": ids[2:]})
    assert refused.status_code == 303 and "action must be one of" in admin.get("/tools").get_data(as_text=True)
    admin.client.post("/tools/bulk", data={"csrf_token": admin.csrf, "action": "delete"})
    assert "select at least one tool" in admin.get("/tools").get_data(as_text=True)
    assert viewer.post("/tools/bulk", {"action": "delete", "ids": ids[2]}).status_code == 403
    assert _tool_count(admin.app) == 2


def test_a_sorted_tools_list_is_one_table_naming_each_connection_and_keeps_its_order_across_pages(admin):
    bank = add_connection(admin.app, "Bank", "http://127.0.0.1:9", "bank_")
    zoo = add_connection(admin.app, "Zoo", "http://127.0.0.1:9", "zoo_")
    for i, (conn, method) in enumerate([(zoo, "DELETE"), (bank, "POST"), (zoo, "GET"), (bank, "GET")]):
        add_endpoint(admin.app, conn, f"t{i}", f"/p/{i}", method=method)
    grouped = admin.get("/tools").get_data(as_text=True)
    assert ">Bank</h3>" in grouped and ">Zoo</h3>" in grouped and '<th scope="col">Connection</th>' not in grouped

    by_method = admin.get("/tools?sort=method").get_data(as_text=True)
    assert _listed(by_method) == ["zoo_t0", "bank_t3", "zoo_t2", "bank_t1"]  # DELETE, GET (by name), POST
    assert "<h3" not in by_method and '<th scope="col">Connection</th>' in by_method
    assert re.search(r"zoo_t0</code></a></td>\s*<td>Zoo</td>", by_method)
    assert '<option value="method" selected>' in by_method
    assert _listed(admin.get("/tools?sort=-name").get_data(as_text=True)) == ["zoo_t2", "zoo_t0", "bank_t3", "bank_t1"]

    # Toggling a row of the one table answers a row with the same cells.
    with admin.app.app_context():
        tool_id = db.session.scalar(select(Endpoint.id).where(Endpoint.tool_name == "t0"))
    row = admin.post(f"/tools/{tool_id}/toggle", {"flat": "1"}, htmx=True).get_data(as_text=True)
    assert row.count("<td") == by_method.split(f'id="tool-{tool_id}"')[1].split("</tr>")[0].count("<td")
    assert "<td>Zoo</td>" in row and "DISABLED" in row
    refused = admin.get("/tools?sort=colour")
    assert refused.status_code == 200 and "sort &#39;colour&#39; is unknown" in refused.get_data(as_text=True)


def test_the_annotation_filters_list_the_tools_clients_see_so_annotated(admin):
    conn = add_connection(admin.app, "Hints", "http://127.0.0.1:9", "h_")
    add_endpoint(admin.app, conn, "get", "/g")  # read-only by its method
    add_endpoint(admin.app, conn, "get_marked", "/g", annotations={"readOnlyHint": False})
    add_endpoint(admin.app, conn, "post", "/p", method="POST")
    add_endpoint(admin.app, conn, "put_safe", "/p", method="PUT", annotations={"destructiveHint": False})
    add_endpoint(admin.app, conn, "delete", "/d", method="DELETE")
    assert _listed(admin.get("/tools?read_only=true").get_data(as_text=True)) == ["h_get"]
    assert _listed(admin.get("/tools?destructive=true").get_data(as_text=True)) == ["h_delete"]
    assert _listed(admin.get("/tools?destructive=false&idempotent=true").get_data(as_text=True)) == [
        "h_get",
        "h_get_marked",
        "h_put_safe",
    ]
    page = admin.get("/tools?open_world=false").get_data(as_text=True)
    assert _listed(page) == [] and "No tools match." in page
    assert '<select id="tf-read_only" name="read_only"' in page
    # The bulk form carries the filters, so a change lands back on the same list.
    filtered = admin.get("/tools?read_only=true").get_data(as_text=True)
    assert '<input type="hidden" name="read_only" value="true">' in filtered


def test_header_parameters_are_edited_as_lines_shown_on_the_detail_and_sent_by_try_it(admin, upstream):
    upstream.route("/invoices/", lambda request: json_response({"rid": request.headers.get("X-Request-Id")}))
    conn = add_connection(admin.app, "Billing", upstream.url, "billing_")
    schema = {**SCHEMA, "properties": {**SCHEMA["properties"], "rid": {"type": "string"}}}
    form = {
        "connection_id": conn,
        "tool_name": "get_invoice",
        "path_template": "/invoices/{{invoice_id}}",
        "method": "GET",
        "input_schema": json.dumps(schema),
        "enabled": "on",
    }
    for lines, message in [
        ("rid: Authorization", "header 'Authorization' cannot be a header parameter"),
        ("just-a-name", "header parameters, line 1: write 'argument: Header-Name' or 'Header-Name = value'"),
        ("invoice_id: X-Invoice", "so it cannot also be a path placeholder"),
    ]:
        refused = admin.post("/tools/new", {**form, "header_params": lines}, htmx=True)
        assert refused.status_code == 422
        assert message in _errors(refused.get_data(as_text=True)).get("header_params", ""), lines
    assert _tool_count(admin.app) == 0

    lines = "# sent on each call\nrid: X-Request-Id\nX-Api-Version = 2022-11-28\n"
    assert admin.post("/tools/new", {**form, "header_params": lines}).status_code == 303
    with admin.app.app_context():
        ep = db.session.scalars(select(Endpoint)).one()
        tool_id, stored = ep.id, ep.header_params
    assert stored == [{"argument": "rid", "header": "X-Request-Id"}, {"header": "X-Api-Version", "value": "2022-11-28"}]
    editor = unescape(admin.get(f"/tools/{tool_id}/edit").get_data(as_text=True))
    assert "rid: X-Request-Id\nX-Api-Version = 2022-11-28</textarea>" in editor
    detail = _text(admin.get(f"/tools/{tool_id}").get_data(as_text=True))
    assert "argument rid → header X-Request-Id" in detail and "header X-Api-Version: 2022-11-28 (fixed)" in detail

    reply = admin.post(
        f"/tools/{tool_id}/try", {"arguments": json.dumps({"invoice_id": "I-1", "rid": "r-9"})}, htmx=True
    )
    text = _text(reply.get_data(as_text=True))
    assert [(s.path, s.query, s.headers.get("x-request-id")) for s in upstream.seen] == [("/invoices/I-1", "", "r-9")]
    assert "Header parameters: X-Api-Version: 2022-11-28 X-Request-Id: r-9" in text
