"""The admin API's lists at scale: sort, cursor pages (a seek, stable while rows are added), the annotation
filters (the same answer as tools/list) and bulk changes of endpoints. SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event

from janus.extensions import db
from janus.models import ClientToken, Endpoint
from janus.runtime import get_runtime
from janus.services import connections as connections_service
from janus.services import endpoints as endpoints_service
from janus.services import tokens as tokens_service
from tests.admin_api.conftest import assert_refused, audit_rows
from tests.support.catalog import add_connection, add_endpoint, add_token, update

BASE = datetime(2025, 1, 1, tzinfo=UTC)
LISTS = {
    "connections": connections_service.ORDER,
    "endpoints": endpoints_service.ORDER,
    "tokens": tokens_service.ORDER,
}


def _get(api, headers, path: str, **args):
    response = api.get(f"/api/v1/{path}", headers=headers, query_string=args)
    assert response.status_code == 200, response.json
    return response.json


def _walk_cursor(api, headers, path: str, between=None, **args) -> list[str]:
    """Every id of a list by following next_cursor; `between(n)` runs after the n-th page."""
    body = _get(api, headers, path, **args)
    seen, pages = [i["id"] for i in body["items"]], 1
    while body["next_cursor"]:
        assert pages < 100
        if between is not None:
            between(pages)
        body = _get(api, headers, path, cursor=body["next_cursor"], **args)
        assert body["page"] is None  # a cursor page has no number
        seen += [i["id"] for i in body["items"]]
        pages += 1
    return seen


def _walk_pages(api, headers, path: str, **args) -> list[str]:
    seen, page = [], 1
    while True:
        body = _get(api, headers, path, page=page, **args)
        seen += [i["id"] for i in body["items"]]
        if page * body["limit"] >= body["total"]:
            assert body["next_cursor"] is None
            return seen
        assert body["next_cursor"]  # a numbered page offers the cursor of what follows it too
        page += 1


@pytest.fixture
def catalog(app):
    """7 connections and 12 tools of billing_, with creation times that tie in pairs; 9 tokens."""
    conns = [
        add_connection(
            app,
            f"svc{i}",
            "http://127.0.0.1:9",
            f"p{6 - i}_",
            created_at=BASE + timedelta(minutes=i // 2),
            updated_at=BASE + timedelta(hours=1, minutes=6 - i),
        )
        for i in range(7)
    ]
    methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"]
    tools = [
        add_endpoint(
            app,
            conns[i % 3],
            f"tool{i:02d}",
            f"/t/{11 - i:02d}",
            method=methods[i % 6],
            created_at=BASE + timedelta(minutes=i // 2),
        )
        for i in range(12)
    ]
    tokens = []
    for i in range(9):
        token = add_token(
            app,
            f"tok{i}",
            f"mcp_value_{i}",
            "*",
            expires_at=None if i % 3 == 0 else BASE + timedelta(days=10 - i),
        )
        update(app, ClientToken, token, created_at=BASE + timedelta(minutes=i // 2))
        if i % 2:
            update(app, ClientToken, token, last_used_at=BASE + timedelta(days=i))
        tokens.append(token)
    return {"connections": conns, "endpoints": tools, "tokens": tokens}


# -- sort -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, sort, field",
    [
        ("connections", "name", "name"),
        ("connections", "prefix", "prefix"),
        ("connections", "created_at", "created_at"),
        ("connections", "updated_at", "updated_at"),
        ("connections", "endpoint_count", "endpoint_count"),
        ("endpoints", "name", "exposed_name"),
        ("endpoints", "method", "method"),
        ("endpoints", "path", "path_template"),
        ("endpoints", "connection", "connection_name"),
        ("endpoints", "created_at", "created_at"),
        ("endpoints", "updated_at", "updated_at"),
        ("tokens", "name", "name"),
        ("tokens", "created_at", "created_at"),
    ],
)
def test_each_sort_orders_the_whole_list_and_its_reverse_is_exactly_reversed(api, admin, catalog, path, sort, field):
    ascending = _get(api, admin, path, sort=sort)["items"]
    descending = _get(api, admin, path, sort=f"-{sort}")["items"]
    keys = [item[field] for item in ascending]
    assert keys == sorted(keys) and len(set(keys)) > 1
    assert [i["id"] for i in descending] == [i["id"] for i in reversed(ascending)]  # the id breaks ties both ways
    assert _walk_cursor(api, admin, path, sort=f"-{sort}", limit=2) == [i["id"] for i in descending]


def test_the_default_orders_are_unchanged(api, admin, catalog):
    assert [c["name"] for c in _get(api, admin, "connections")["items"]] == [f"svc{i}" for i in range(7)]
    names = [e["exposed_name"] for e in _get(api, admin, "endpoints")["items"]]
    assert names == sorted(names) and _get(api, admin, "endpoints", sort="name")["items"][0]["exposed_name"] == names[0]
    assert [t["name"] for t in _get(api, admin, "tokens")["items"]] == [f"tok{i}" for i in range(9)]


@pytest.mark.parametrize("field", ["expires_at", "last_used_at"])
def test_tokens_without_a_date_sort_last_either_way(api, admin, catalog, field):
    for sort, reverse in ((field, False), (f"-{field}", True)):
        values = [t[field] for t in _get(api, admin, "tokens", sort=sort)["items"]]
        dated = [v for v in values if v is not None]
        assert dated and values == dated + [None] * (len(values) - len(dated))
        assert dated == sorted(dated, reverse=reverse)
        assert len(_walk_cursor(api, admin, "tokens", sort=sort, limit=2)) == 9  # the seek crosses into the NULLs


# -- cursor pages ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sort", ["name", "-created_at", "endpoint_count"])
def test_a_cursor_walk_visits_every_row_once_and_matches_the_page_walk(api, admin, catalog, sort):
    by_cursor = _walk_cursor(api, admin, "connections", sort=sort, limit=3)
    assert sorted(by_cursor) == sorted(catalog["connections"]) and len(set(by_cursor)) == 7
    assert by_cursor == _walk_pages(api, admin, "connections", sort=sort, limit=3)


def test_rows_added_during_a_cursor_walk_neither_repeat_nor_push_rows_out(app, api, admin, catalog):
    first, last = catalog["connections"][0], catalog["connections"][2]  # svc0 and svc2 hold tools, svc2 last
    added: list[str] = []

    def insert(page: int) -> None:
        # One tool sorting before every row already seen, one after every row there is.
        added.append(add_endpoint(app, first, f"aaa{page}", "/new"))
        added.append(add_endpoint(app, last, f"zzz{page}", "/new"))

    walked = _walk_cursor(api, admin, "endpoints", between=insert, limit=4, sort="connection")
    assert len(walked) == len(set(walked))  # nothing twice
    assert set(catalog["endpoints"]) <= set(walked)  # nothing that was there skipped
    # The ones added ahead of the cursor are met; those behind it are not (a page walk would repeat a row).
    assert {added[i] for i in range(1, len(added), 2)} <= set(walked)
    assert not {added[i] for i in range(0, len(added), 2)} & set(walked)


def test_a_cursor_page_seeks_past_its_row_instead_of_skipping_an_offset(app, api, admin):
    conn = add_connection(app, "Big", "http://127.0.0.1:9", "big_")
    with app.app_context():
        db.session.add_all(
            Endpoint(connection_id=conn, tool_name=f"t{i:04d}", path_template="/x", input_schema={"type": "object"})
            for i in range(300)
        )
        db.session.commit()
        engine = db.engine
    second = _get(api, admin, "endpoints", limit=100, page=2)
    statements: list[tuple[str, object]] = []

    def seen(conn, cursor, statement, parameters, *args):
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", seen)
    try:
        third = _get(api, admin, "endpoints", limit=100, cursor=second["next_cursor"])
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert (third["total"], third["next_cursor"]) == (300, None)
    assert [e["tool_name"] for e in third["items"]] == [f"t{i:04d}" for i in range(200, 300)]
    [(page, parameters)] = [(s, p) for s, p in statements if "LIMIT" in s and "endpoints.tool_name >" in s]
    # A seek: the database starts at the cursor's row and skips none (SQLite always writes OFFSET, as 0).
    assert "OFFSET" not in page or (isinstance(parameters, tuple) and parameters[-1] == 0)


def _tampered(cursor: str) -> str:
    body, mac = cursor.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload[2][0] = "svc0"  # seek elsewhere, keeping the signature
    raw = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")
    return f"{raw}.{mac}"


@pytest.mark.parametrize(
    "args, message",
    [
        (
            {"sort": "colour"},
            "sort 'colour' is unknown; expected one of name, prefix, created_at, updated_at, "
            "endpoint_count (a leading '-' sorts descending, e.g. -name)",
        ),
        ({"sort": "--name"}, "sort '--name' is unknown"),
        ({"cursor": "garbage"}, "invalid cursor"),
        ({"cursor": "x" * 3000}, "invalid cursor"),
        ({"cursor": "e30.AAAA"}, "invalid cursor"),
        ({"limit": "1001"}, "limit must be between 1 and 1000"),
        ({"page": "2", "cursor": "CURSOR"}, "give page or cursor, not both"),
        ({"cursor": "TAMPERED"}, "invalid cursor"),
        ({"cursor": "CURSOR", "sort": "-name"}, "invalid cursor: it was made for another sort or filter"),
        ({"cursor": "CURSOR", "q": "svc"}, "invalid cursor: it was made for another sort or filter"),
        ({"cursor": "CURSOR", "enabled": "true"}, "invalid cursor: it was made for another sort or filter"),
    ],
    ids=lambda value: json.dumps(value)[:60] if isinstance(value, dict) else None,
)
def test_bad_sorts_cursors_and_limits_are_a_400_with_a_message(app, api, admin, catalog, args, message):
    cursor = _get(api, admin, "connections", limit=2)["next_cursor"]
    args = {k: {"CURSOR": cursor, "TAMPERED": _tampered(cursor)}.get(v, v) for k, v in args.items()}
    response = api.get("/api/v1/connections", headers=admin, query_string=args)
    assert response.status_code == 400, response.json
    assert response.json["error"] == "validation_error" and response.json["message"].startswith(message)


def test_a_cursor_of_another_list_is_refused(app, api, admin, catalog):
    cursor = _get(api, admin, "tokens", limit=2)["next_cursor"]
    assert_refused(
        app,
        api,
        "GET",
        f"/api/v1/connections?limit=2&cursor={cursor}",
        admin,
        status=400,
        message="invalid cursor: it was made for another sort or filter of this list; send the same sort and "
        "filters, or start again without a cursor",
    )


def test_every_list_answers_next_cursor_null_at_its_end(api, admin, catalog):
    for path in LISTS:
        body = _get(api, admin, path)
        assert body["next_cursor"] is None and body["page"] == 1 and len(body["items"]) == body["total"]
    empty = _get(api, admin, "tokens", q="nothing-matches")
    assert empty == {"items": [], "total": 0, "page": 1, "limit": 100, "next_cursor": None}


# -- annotation filters ------------------------------------------------------------------------------------

HINTS = {
    "read_only": "readOnlyHint",
    "destructive": "destructiveHint",
    "idempotent": "idempotentHint",
    "open_world": "openWorldHint",
}


def test_the_annotation_filters_match_what_tools_list_serves(app, api, admin):
    conn = add_connection(app, "Hints", "http://127.0.0.1:9", "h_")
    explicit = [
        None,
        {"readOnlyHint": False},
        {"destructiveHint": True, "idempotentHint": False},
        {"openWorldHint": False, "readOnlyHint": True},
        {"idempotentHint": True},
    ]
    made = 0
    for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"):
        for hints in explicit:
            add_endpoint(app, conn, f"t{made:02d}", "/x", method=method, annotations=hints)
            made += 1
    with app.app_context():
        served = {t["name"]: t["annotations"] for t in get_runtime(app).catalog.current().listing(None).tools}
    assert len(served) == made
    for field, hint in HINTS.items():
        for wanted in (True, False):
            listed = {e["exposed_name"] for e in _get(api, admin, "endpoints", **{field: str(wanted).lower()})["items"]}
            assert listed == {name for name, hints in served.items() if hints[hint] is wanted}, (field, wanted)
    both = _get(api, admin, "endpoints", read_only="true", idempotent="true", method="HEAD")["items"]
    assert {e["exposed_name"] for e in both} == {
        name for name, hints in served.items() if hints["readOnlyHint"] and hints["idempotentHint"]
    } & {f"h_t{i:02d}" for i in range(5, 10)}


@pytest.mark.parametrize("field", sorted(HINTS))
def test_a_bad_annotation_filter_is_a_400_naming_it(api, admin, field):
    response = api.get("/api/v1/endpoints", headers=admin, query_string={field: "perhaps"})
    assert response.status_code == 400 and response.json["message"] == f"{field} must be true or false"


# -- bulk -------------------------------------------------------------------------------------------------------

BULK = "/api/v1/endpoints/bulk"


def test_bulk_disable_enable_and_delete_report_unknown_ids_and_are_audited(app, api, admin, catalog):
    ids = catalog["endpoints"][:4]
    unknown = ["00000000-0000-0000-0000-000000000000", "not-an-id"]
    reply = api.post(BULK, headers=admin, json={"action": "disable", "ids": [*ids, *unknown, ids[0]]})
    assert reply.status_code == 200 and reply.json == {"action": "disable", "changed": 4, "not_found": unknown}
    assert len(audit_rows(app, "endpoint.update")) == 4
    reply = api.post(BULK, headers=admin, json={"action": "disable", "ids": ids})
    assert reply.json == {"action": "disable", "changed": 0, "not_found": []}  # nothing left to change
    assert [e["enabled"] for e in _get(api, admin, "endpoints", enabled="false")["items"]] == [False] * 4
    reply = api.post(BULK, headers=admin, json={"action": "enable", "ids": ids[:2]})
    assert reply.json["changed"] == 2 and len(audit_rows(app, "endpoint.update")) == 6

    with app.app_context():
        before = {t["name"] for t in get_runtime(app).catalog.current().listing(None).tools}
    gone = {e["exposed_name"] for e in _get(api, admin, "endpoints")["items"] if e["id"] in ids[:2]}
    assert gone <= before
    reply = api.post(BULK, headers=admin, json={"action": "delete", "ids": ids[:3]})
    assert reply.json == {"action": "delete", "changed": 3, "not_found": []}
    assert [r.target_id for r in audit_rows(app, "endpoint.delete")] == ids[:3]
    assert _get(api, admin, "endpoints")["total"] == 9
    with app.app_context():
        after = {t["name"] for t in get_runtime(app).catalog.current().listing(None).tools}
    assert not gone & after and after < before  # tools/list no longer serves them


@pytest.mark.parametrize(
    "body, message",
    [
        ({"action": "enable", "ids": []}, "ids must list at least one endpoint id"),
        ({"action": "enable"}, "ids is required"),
        ({"action": "explode", "ids": ["x"]}, "action 'explode' is unknown; expected one of enable, disable, delete"),
        ({"ids": ["x"]}, "action is required"),
        ({"action": "delete", "ids": "abc"}, "ids must be a list of endpoint ids"),
        ({"action": "delete", "ids": ["ok", 7]}, "ids[1] must be an endpoint id (a string of 1 to 64 characters)"),
        ({"action": "delete", "ids": ["x" * 65]}, "ids[0] must be an endpoint id (a string of 1 to 64 characters)"),
        ({"action": "delete", "ids": ["a\u0000b"]}, "ids[0] must not contain NUL characters"),
        ({"action": "delete", "ids": ["x"] * 1001}, "ids must list at most 1000 endpoint ids at once, got 1001"),
        ({"action": "delete", "ids": ["x"], "dry_run": True}, "unknown field(s): dry_run; allowed: action, ids"),
    ],
    ids=[
        "empty",
        "no-ids",
        "bad-action",
        "no-action",
        "ids-not-list",
        "id-not-string",
        "id-too-long",
        "id-with-nul",
        "too-many",
        "unknown-field",
    ],
)
def test_bad_bulk_requests_are_a_400_and_change_nothing(app, api, admin, catalog, body, message):
    assert_refused(app, api, "POST", BULK, admin, body, status=400, message=message)


def test_a_viewer_may_not_change_endpoints_in_bulk(app, api, viewer, catalog):
    assert_refused(
        app,
        api,
        "POST",
        BULK,
        viewer,
        {"action": "delete", "ids": catalog["endpoints"]},
        status=403,
        message="user 'vera' has role 'viewer'; this needs role 'admin'",
    )


def test_a_bulk_body_that_is_not_an_object_is_a_400(app, api, admin):
    assert_refused(
        app,
        api,
        "POST",
        BULK,
        admin,
        ["x"],
        status=400,
        error="bad_request",
        message="request body must be a JSON object",
    )
