"""Property-based: schemathesis sends generated requests to every operation of the OpenAPI document.

Every answer must be a documented status with a body matching its documented schema, and never a 500.
Bounded (examples per operation, a per-example deadline, derandomized) so the run takes seconds in CI.
Each operation runs against a fresh app (the `app` fixture, SQLite and PostgreSQL) signed in as an admin.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from janus import create_app
from janus.admin_api.apidocs import SPEC_ROUTE
from tests.admin_api.conftest import add_user, create

CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]

# The document the gateway serves. Serving it touches no database, so an app without one will do;
# the requests go to the test's own app (`app=` below).
schema = schemathesis.openapi.from_wsgi(
    SPEC_ROUTE, create_app({"JWT_SECRET": "only-to-load-the-openapi-document", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
)


BOUNDS = settings(
    max_examples=15,
    deadline=timedelta(seconds=5),  # generous: login and user creation hash passwords (~0.2 s each)
    derandomize=True,  # the same examples on every run, so a CI failure reproduces locally
    database=None,  # no .hypothesis/ directory in the checkout
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)


@schema.parametrize()
@BOUNDS
def test_every_operation_answers_as_documented_and_never_with_a_server_error(case, app, admin):
    case.call_and_validate(headers=admin, checks=CHECKS, app=app)


@pytest.fixture
def existing(app, api, admin) -> dict[str, str]:
    """One resource of each kind, so that generated changes reach real rows instead of a 404."""
    conn = create(api, admin, "/api/v1/connections", {"name": "C", "base_url": "http://127.0.0.1:9", "prefix": "c_"})
    ep = create(api, admin, "/api/v1/endpoints", {"connection_id": conn["id"], "tool_name": "t", "path_template": "/t"})
    token = create(api, admin, "/api/v1/tokens", {"name": "t"})
    assert api.put("/api/v1/vault/keys/prod/k", headers=admin, json={"value": "v"}).status_code == 200
    return {
        "connection_id": conn["id"],
        "endpoint_id": ep["id"],
        "token_id": token["id"],
        "key": "prod/k",
        "user_id": add_user(app, "other", "viewer"),
    }


@schema.include(path_regex=r"[{]").parametrize()
@BOUNDS
def test_generated_changes_to_existing_resources_answer_as_documented(case, app, admin, existing):
    case.path_parameters = {name: existing.get(name, value) for name, value in case.path_parameters.items()}
    case.call_and_validate(headers=admin, checks=CHECKS, app=app)
