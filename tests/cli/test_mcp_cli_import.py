"""`mcp-cli import openapi` against a real gunicorn+gevent gateway: the Swagger Petstore 3.0 description imported
with --base-url pointing at a petstore-ish upstream on 127.0.0.1, its tools called through MCP (tools/call on /mcp),
the upstream's view of method, path and query checked, and an open stream told that the tools changed."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qsl

import pytest

from tests.support.cli import Cli, call_tool, tool_names
from tests.support.http_gateway import initialize, mcp_headers
from tests.support.http_streams import RawStream
from tests.support.server import GatewayServer
from tests.support.upstream import Upstream, echo
from tests.support.waiting import wait_for

PETSTORE = Path(__file__).resolve().parents[1] / "fixtures" / "openapi" / "petstore-3.0.json"
LIST_CHANGED = {"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("mcp-cli-import")
    petstore = Upstream()
    petstore.route("/v2/", echo)  # every petstore path answers with what arrived
    petstore.start()
    gateway = GatewayServer(
        str(root / "gateway.db"), WEB_CONCURRENCY="2", CATALOG_REFRESH_SECONDS="0", LOGIN_RATE_PER_IP="1000"
    ).start()
    admin = Cli(root / "admin-home")
    admin.login(gateway.url)
    token = admin.ok("token", "add", "--name", "Everything", "--scopes", "*").stdout.splitlines()[1]
    try:
        yield gateway, petstore, admin, token
    finally:
        gateway.stop()
        petstore.stop()


def _text(answer: dict) -> dict:
    assert "result" in answer, answer
    assert answer["result"].get("isError") is not True, answer
    return json.loads(answer["result"]["content"][0]["text"])


def test_import_openapi_dry_run_then_apply_then_call_the_tools(site):
    gateway, petstore, admin, token = site
    base = petstore.url + "/v2"
    dry = admin.ok("import", "openapi", str(PETSTORE), "--prefix", "pet_", "--base-url", base, "--dry-run")
    assert "Dry run (18 added, 0 changed, 0 removed, 0 unchanged, 2 skipped): nothing changed" in dry.stderr
    assert "pet_get_pet_by_id" in dry.stdout
    assert "skipped POST /pet/{petId}/uploadImage: its request body is multipart/form-data" in dry.stdout
    assert not [n for n in tool_names(gateway.url, token) if n.startswith("pet_")]

    # An open stream of an MCP session hears the change the import makes.
    session_id = initialize(gateway.url, token)
    stream = RawStream(
        gateway.url,
        "GET",
        "/mcp",
        mcp_headers(token, **{"Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-11-25"}),
    )
    try:
        stream.wait_open()
        wait_for(lambda: stream.comments >= 1, what="the stream to open")
        applied = admin.ok(
            "import",
            "openapi",
            str(PETSTORE),
            "--prefix",
            "pet_",
            "--name",
            "Petstore",
            "--base-url",
            base,
            "--exclude",
            "*_with_*_input",
        )
        assert "Applied 16 change(s) to connection 'Petstore'" in applied.stderr
        assert stream.next_json(timeout=30) == LIST_CHANGED
    finally:
        stream.close()
    names = [n for n in tool_names(gateway.url, token) if n.startswith("pet_")]
    assert len(names) == 16 and "pet_create_users_with_array_input" not in names

    # Path parameters: one percent-encoded segment each.
    petstore.seen.clear()
    got = _text(call_tool(gateway.url, token, "pet_get_user_by_name", {"username": "jo hn/../x?y#z"}))
    assert got["method"] == "GET"
    assert petstore.seen[-1].path == "/v2/user/jo%20hn%2F..%2Fx%3Fy%23z"
    # Query parameters: arrays repeated (form, explode), values encoded.
    _text(call_tool(gateway.url, token, "pet_find_pets_by_status", {"status": ["available", "sold"]}))
    assert (petstore.seen[-1].path, parse_qsl(petstore.seen[-1].query)) == (
        "/v2/pet/findByStatus",
        [("status", "available"), ("status", "sold")],
    )
    _text(call_tool(gateway.url, token, "pet_login_user", {"username": "a&b=c", "password": "p w+%"}))
    assert petstore.seen[-1].path == "/v2/user/login"
    assert sorted(parse_qsl(petstore.seen[-1].query)) == [("password", "p w+%"), ("username", "a&b=c")]
    # A JSON body from the flattened request-body properties.
    pet = {"name": "Rex", "photoUrls": ["http://x/rex.png"], "status": "available"}
    got = _text(call_tool(gateway.url, token, "pet_add_pet", pet))
    assert (got["method"], got["path"], got["json"]) == ("POST", "/v2/pet", pet)
    # The schema is enforced before any request: photoUrls is required.
    before = len(petstore.seen)
    refused = call_tool(gateway.url, token, "pet_add_pet", {"name": "Rex"})
    assert len(petstore.seen) == before
    assert "photoUrls" in json.dumps(refused)


def test_a_reimport_of_a_changed_description_shows_the_diff_and_leaves_the_rest(site, tmp_path):
    # Its own import under its own prefix: under xdist the module's other tests may run on another worker
    # (and so against another gateway), so nothing here may rely on what they imported.
    _, petstore, admin, _ = site
    admin.ok("import", "openapi", str(PETSTORE), "--prefix", "store_", "--name", "Store", "--base-url", petstore.url)
    spec = json.loads(PETSTORE.read_text())
    spec["paths"]["/store/inventory"]["get"]["summary"] = "Stock by status (changed)"
    changed = tmp_path / "petstore.json"
    changed.write_text(json.dumps(spec))
    plan = admin.json("import", "openapi", str(changed), "--prefix", "store_", "--dry-run")
    items = {i["key"]: i for i in plan["items"]}
    assert items["GET /store/inventory"]["status"] == "changed"
    assert [d["field"] for d in items["GET /store/inventory"]["diff"]] == ["description", "title"]
    text = admin.ok("import", "openapi", str(changed), "--prefix", "store_", "--include", "get_inventory")
    assert "  store_get_inventory: description: Returns pet inventories by status" in text.stdout
    assert "→ Stock by status (changed) Returns a map of status codes to quantities" in text.stdout
    assert "Applied 1 change(s)" in text.stderr
    again = admin.json("import", "openapi", str(changed), "--prefix", "store_", "--dry-run")
    assert again["counts"]["changed"] == 0


def test_a_missing_file_is_a_clear_cli_error(site, tmp_path):
    _, _, admin, _ = site
    result = admin.run("import", "openapi", str(tmp_path / "nope.yaml"), "--prefix", "x_")
    assert result.returncode != 0
    assert "nope.yaml: no such file" in result.stderr
