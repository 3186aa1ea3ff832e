"""POST /api/v1/import/openapi: real Petstore descriptions (2.0, 3.0 JSON and YAML), dry-run, apply, re-import
diffs, URL fetches through the egress policy, and bad input refused with a clear 4xx."""

from __future__ import annotations

import copy
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import func, select

from janus.extensions import db
from janus.models import AdminAuditLog, Endpoint, ImportedOperation
from tests.support.waiting import refused_port

URL = "/api/v1/import/openapi"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "openapi"
PETSTORE_30 = json.loads((FIXTURES / "petstore-3.0.json").read_text())


def _import(api, admin, **body):
    return api.post(URL, headers=admin, json=body)


def _by_key(plan):
    return {item["key"]: item for item in plan["items"]}


def _count(app, model, *where):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_a_dry_run_plans_every_petstore_operation_and_changes_nothing(app, api, admin):
    response = _import(api, admin, spec=json.dumps(PETSTORE_30), prefix="pet_", dry_run=True)
    assert response.status_code == 200, response.json
    plan = response.json
    assert plan["dry_run"] is True and plan["applied"] == []
    assert plan["connection"] == {
        "id": None,
        "name": "Swagger Petstore",
        "prefix": "pet_",
        "base_url": "http://petstore.swagger.io/v2",
        "new": True,
    }
    assert plan["counts"] == {
        "added": 18,
        "changed": 0,
        "removed": 0,
        "unchanged": 0,
        "skipped": 2,
        "selected": 18,
    }
    assert {s["key"]: s["reason"] for s in plan["skipped"]} == {
        "POST /pet/{petId}": "its request body is application/x-www-form-urlencoded; Janus sends JSON bodies only",
        "POST /pet/{petId}/uploadImage": "its request body is multipart/form-data; Janus sends JSON bodies only",
    }
    assert plan["suggested_auth"]["auth_type"] == "bearer"
    get_pet = _by_key(plan)["GET /pet/{petId}"]
    assert (get_pet["exposed_name"], get_pet["method"], get_pet["path_template"]) == (
        "pet_get_pet_by_id",
        "GET",
        "/pet/{{petId}}",
    )
    assert _count(app, Endpoint) == 0


@pytest.mark.parametrize("fixture", ["petstore-2.0.json", "petstore-3.0.yaml", "petstore-3.1.json"])
def test_swagger_2_yaml_and_3_1_descriptions_are_read_too(api, admin, fixture):
    plan = _import(api, admin, spec=(FIXTURES / fixture).read_text(), prefix="pet_", dry_run=True).json
    names = {i["tool_name"] for i in plan["items"]}
    assert {"add_pet", "get_pet_by_id", "find_pets_by_status", "login_user", "delete_user"} <= names
    assert plan["counts"]["added"] >= 18


def test_applying_creates_the_connection_and_tools_in_one_audited_change(app, api, admin):
    plan = _import(api, admin, spec=PETSTORE_30, prefix="pet_", include=["pet"], exclude=["*delete*"]).json
    assert sorted(plan["applied"]) == [
        "GET /pet/findByStatus",
        "GET /pet/findByTags",
        "GET /pet/{petId}",
        "POST /pet",
        "PUT /pet",
    ]
    assert plan["connection"]["new"] is True and plan["connection"]["id"]
    assert _count(app, Endpoint) == 5
    assert _count(app, ImportedOperation) == 5
    with app.app_context():
        actions = db.session.scalars(select(AdminAuditLog.action)).all()
    assert sorted(actions) == ["connection.create"] + ["endpoint.create"] * 5 + ["openapi.import"]
    tools = {ep["tool_name"]: ep for ep in api.get("/api/v1/endpoints", headers=admin).json["items"]}
    add_pet = tools["add_pet"]
    assert add_pet["method"] == "POST" and add_pet["body_template"] is None
    # readOnly-free Pet: name and photoUrls stay required; $ref (Category, Tag) inlined.
    assert add_pet["input_schema"]["required"] == ["name", "photoUrls"]
    assert add_pet["input_schema"]["properties"]["category"]["properties"]["name"] == {"type": "string"}
    assert "$ref" not in json.dumps(add_pet["input_schema"])


def test_a_reimport_shows_a_field_diff_and_applies_only_what_is_approved(app, api, admin):
    assert _import(api, admin, spec=PETSTORE_30, prefix="pet_").status_code == 200
    changed = copy.deepcopy(PETSTORE_30)
    changed["paths"]["/pet/{petId}"]["get"]["summary"] = "Find one pet"
    changed["paths"]["/user/login"]["get"]["parameters"][0]["required"] = False
    del changed["paths"]["/store/inventory"]
    changed["paths"]["/pet/{petId}/owner"] = {
        "get": {
            "operationId": "getOwner",
            "parameters": [{"name": "petId", "in": "path", "required": True, "schema": {"type": "integer"}}],
        }
    }
    plan = _import(api, admin, spec=changed, prefix="pet_", dry_run=True).json
    items = _by_key(plan)
    assert plan["counts"] | {"selected": 0} == {
        "added": 1,
        "changed": 2,
        "removed": 1,
        "unchanged": 15,
        "skipped": 2,
        "selected": 0,
    }
    assert items["GET /store/inventory"]["status"] == "removed"
    assert items["GET /pet/{petId}/owner"]["status"] == "added"
    diff = items["GET /pet/{petId}"]["diff"]
    assert [d["field"] for d in diff] == ["description", "title"]  # the summary is the title too
    assert diff[0]["new"].startswith("Find one pet")
    login = items["GET /user/login"]["diff"]
    assert [d["field"] for d in login] == ["input_schema"]
    assert login[0]["old"]["required"] == ["username", "password"] and login[0]["new"]["required"] == ["password"]

    # Approve only the description change: the login tool and the removal stay as they were.
    applied = _import(api, admin, spec=changed, prefix="pet_", approve=["GET /pet/{petId}"]).json
    assert applied["applied"] == ["GET /pet/{petId}"]
    tools = {ep["tool_name"]: ep for ep in api.get("/api/v1/endpoints", headers=admin).json["items"]}
    assert tools["get_pet_by_id"]["description"].startswith("Find one pet")
    assert tools["login_user"]["input_schema"]["required"] == ["username", "password"]
    assert "get_inventory" in tools and "get_owner" not in tools
    again = _by_key(_import(api, admin, spec=changed, prefix="pet_", dry_run=True).json)
    assert again["GET /pet/{petId}"]["status"] == "unchanged"
    assert again["GET /user/login"]["status"] == "changed"

    # An approved removal deletes the tool and what the import remembered of it.
    removed = _import(api, admin, spec=changed, prefix="pet_", approve=["GET /store/inventory"]).json
    assert removed["applied"] == ["GET /store/inventory"]
    assert _count(app, Endpoint) == 17 and _count(app, ImportedOperation) == 17
    assert "GET /store/inventory" not in _by_key(_import(api, admin, spec=changed, prefix="pet_", dry_run=True).json)


def test_a_header_parameter_added_or_renamed_upstream_is_a_field_change_of_the_reimport(app, api, admin):
    assert _import(api, admin, spec=PETSTORE_30, prefix="pet_").status_code == 200
    tools = {ep["tool_name"]: ep for ep in api.get("/api/v1/endpoints", headers=admin).json["items"]}
    assert tools["delete_pet"]["header_params"] == [{"argument": "api_key", "header": "api_key"}]
    assert tools["get_pet_by_id"]["header_params"] is None
    changed = copy.deepcopy(PETSTORE_30)
    delete = changed["paths"]["/pet/{petId}"]["delete"]
    delete["parameters"] = [{**p, "name": "X-Api-Token"} if p["name"] == "api_key" else p for p in delete["parameters"]]
    changed["paths"]["/pet/{petId}"]["get"]["parameters"].append(
        {"name": "X-Request-Id", "in": "header", "required": True, "schema": {"type": "string"}}
    )
    items = _by_key(_import(api, admin, spec=changed, prefix="pet_", dry_run=True).json)
    renamed = {d["field"]: d for d in items["DELETE /pet/{petId}"]["diff"]}
    assert items["DELETE /pet/{petId}"]["status"] == "changed" and set(renamed) == {"input_schema", "header_params"}
    assert renamed["header_params"]["old"] == [{"argument": "api_key", "header": "api_key"}]
    assert renamed["header_params"]["new"] == [{"argument": "x_api_token", "header": "X-Api-Token"}]
    added = {d["field"]: d for d in items["GET /pet/{petId}"]["diff"]}
    assert added["header_params"] == {
        "field": "header_params",
        "old": None,
        "new": [{"argument": "x_request_id", "header": "X-Request-Id"}],
    }
    assert added["input_schema"]["new"]["required"] == ["petId", "x_request_id"]
    assert sum(1 for i in items.values() if i["status"] == "changed") == 2

    applied = _import(api, admin, spec=changed, prefix="pet_", approve=["GET /pet/{petId}"]).json
    assert applied["applied"] == ["GET /pet/{petId}"]
    tools = {ep["tool_name"]: ep for ep in api.get("/api/v1/endpoints", headers=admin).json["items"]}
    assert tools["get_pet_by_id"]["header_params"] == [{"argument": "x_request_id", "header": "X-Request-Id"}]
    assert tools["delete_pet"]["header_params"] == [{"argument": "api_key", "header": "api_key"}]  # not approved


def test_a_reimport_refuses_an_unknown_approval_and_another_base_url(app, api, admin):
    assert _import(api, admin, spec=PETSTORE_30, prefix="pet_", include=["pet"]).status_code == 200
    stale = _import(api, admin, spec=PETSTORE_30, prefix="pet_", approve=["GET /nowhere"])
    assert stale.status_code == 400
    assert stale.json["message"] == "approve names operations that are not in this plan: GET /nowhere"
    moved = _import(api, admin, spec=PETSTORE_30, prefix="pet_", base_url="https://elsewhere.example.test")
    assert moved.status_code == 400
    assert "change its base URL on the connection, not through an import" in moved.json["message"]
    assert _count(app, Endpoint) == 6


def test_a_bundle_resolves_references_between_its_files(api, admin):
    main = {
        "openapi": "3.0.3",
        "info": {"title": "Bundle", "version": "1"},
        "servers": [{"url": "https://bundle.example.test/v1"}],
        "paths": {
            "/things": {
                "post": {
                    "operationId": "addThing",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "schemas/thing.yaml#/Thing"}}},
                    },
                }
            }
        },
    }
    thing = (
        "Thing:\n  type: object\n  required: [name]\n  properties:\n    id: {type: integer, readOnly: true}\n"
        "    name: {type: string}\n    owner: {$ref: 'common.yaml#/Owner'}\n"
    )
    common = "Owner:\n  type: object\n  properties:\n    email: {type: string, format: email}\n"
    plan = _import(
        api,
        admin,
        files={"api.json": json.dumps(main), "schemas/thing.yaml": thing, "schemas/common.yaml": common},
        prefix="b_",
        dry_run=True,
    )
    assert plan.status_code == 200, plan.json
    api_plan = plan.json
    assert api_plan["items"][0]["tool_name"] == "add_thing"


@pytest.fixture
def spec_server():
    """A real HTTP server on 127.0.0.1 serving the Petstore (or a redirect), recording each request's path."""
    served = {"body": json.dumps(PETSTORE_30).encode(), "redirect": None, "hits": []}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            served["hits"].append(self.path)
            if served["redirect"]:
                self.send_response(302)
                self.send_header("Location", served["redirect"])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(served["body"])))
            self.end_headers()
            self.wfile.write(served["body"])

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    served["url"] = f"http://127.0.0.1:{server.server_address[1]}/openapi.json"
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_a_url_is_fetched_once_through_the_egress_policy(app, api, admin, spec_server):
    url = spec_server["url"]
    plan = _import(api, admin, url=url, prefix="pet_", dry_run=True)
    assert plan.status_code == 200, plan.json
    assert plan.json["source"]["url"] == url and plan.json["counts"]["added"] == 18
    assert spec_server["hits"] == ["/openapi.json"]
    app.config["EGRESS_ALLOWLIST"] = "10.0.0.0/8"
    refused = _import(api, admin, url=url, prefix="pet_", dry_run=True)
    assert refused.status_code == 400
    assert refused.json["message"].startswith("url is refused by the egress policy")
    assert "not in EGRESS_ALLOWLIST" in refused.json["message"]
    assert spec_server["hits"] == ["/openapi.json"]  # refused before any connection


def test_a_redirect_to_a_refused_address_is_refused_too(api, admin, spec_server):
    spec_server["redirect"] = "http://169.254.169.254/latest/meta-data/"
    refused = _import(api, admin, url=spec_server["url"], prefix="pet_", dry_run=True)
    assert refused.status_code == 400
    assert "refused by the egress policy" in refused.json["message"]
    assert "cloud metadata" in refused.json["message"]


def test_a_url_answering_more_than_the_cap_is_refused(api, admin, spec_server, monkeypatch):
    from janus.services import openapi_documents

    monkeypatch.setattr(openapi_documents, "MAX_SPEC_BYTES", 4096)
    refused = _import(api, admin, url=spec_server["url"], prefix="pet_", dry_run=True)
    assert refused.status_code == 400
    assert refused.json["message"] == "url sent more than 0 MiB"


@pytest.mark.parametrize(
    "body, message",
    [
        ({"prefix": "pet_"}, "give exactly one of spec (the description), files (a bundle) or url"),
        ({"spec": "{", "prefix": "pet_"}, "the description is not valid JSON"),
        ({"spec": "a: [", "prefix": "pet_"}, "the description is neither valid JSON nor valid YAML"),
        ({"spec": {"openapi": "4.0"}, "prefix": "pet_"}, "the description is neither OpenAPI 3.0/3.1 nor Swagger 2.0"),
        ({"spec": PETSTORE_30, "prefix": "Pet"}, "prefix 'Pet' is invalid"),
        ({"spec": PETSTORE_30}, "give the tools' prefix"),
        ({"spec": PETSTORE_30, "prefix": "p_", "include": "pet"}, "include must be a list of globs or tags"),
        ({"url": "file:///etc/passwd", "prefix": "p_"}, "url must be an absolute http:// or https:// URL"),
        ({"spec": PETSTORE_30, "prefix": "p_", "bogus": 1}, "unknown field(s): bogus"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(app, api, admin, body, message):
    response = _import(api, admin, **body)
    assert response.status_code == 400, response.json
    assert response.json["error"] == "validation_error"
    assert message in response.json["message"]
    assert _count(app, Endpoint) == 0


def test_a_dead_url_is_a_400_naming_the_failure(api, admin):
    response = _import(api, admin, url=f"http://127.0.0.1:{refused_port()}/x.json", prefix="p_", dry_run=True)
    assert response.status_code == 400
    assert response.json["message"].startswith("url could not be fetched")


def test_a_yaml_alias_bomb_is_refused(api, admin):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for n in range(1, 9):
        lines.append(f"a{n}: &a{n} [" + ", ".join([f"*a{n - 1}"] * 10) + "]")
    response = _import(api, admin, spec="\n".join(lines), prefix="p_", dry_run=True)
    assert response.status_code == 400
    assert "aliases expand to more than" in response.json["message"]


def test_a_viewer_may_not_import(api, viewer):
    assert _import(api, viewer, spec=PETSTORE_30, prefix="pet_", dry_run=True).status_code == 403
