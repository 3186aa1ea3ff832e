"""The portal's OpenAPI import page: upload the Petstore, see the plan, tick what to apply; bad input shown at its field."""

from __future__ import annotations

import html
import io
import re
from pathlib import Path

from sqlalchemy import select

from janus.extensions import db
from janus.models import Endpoint

PETSTORE = (Path(__file__).resolve().parents[1] / "fixtures" / "openapi" / "petstore-3.0.yaml").read_bytes()
URL = "/connections/import"


def _tools(app) -> list[str]:
    with app.app_context():
        return sorted(db.session.scalars(select(Endpoint.tool_name)))


def test_upload_preview_then_apply_only_the_ticked_operations(admin):
    assert 'id="import-openapi"' in admin.get("/connections").get_data(as_text=True)
    page = admin.client.post(
        URL,
        data={
            "csrf_token": admin.csrf,
            "action": "preview",
            "prefix": "pet_",
            "base_url": "http://127.0.0.1:9/v2",
            "include": "store, user",
            "file": (io.BytesIO(PETSTORE), "petstore.yaml"),
        },
        content_type="multipart/form-data",
    )
    text = page.get_data(as_text=True)
    assert page.status_code == 200, text
    assert "Swagger Petstore" in text and "http://127.0.0.1:9/v2" in text
    ticked = {html.unescape(k) for k in re.findall(r'name="approve" value="([^"]+)"[^>]*checked', text)}
    assert len(ticked) == 12 and {k.split(" ")[1].split("/")[1] for k in ticked} == {"store", "user"}
    assert "multipart/form-data; Janus sends JSON bodies only" not in text  # skipped pet operations are filtered out
    assert _tools(admin.app) == []
    spec_text = html.unescape(re.search(r'<textarea name="spec_text"[^>]*>(.*?)</textarea>', text, re.S).group(1))
    reply = admin.post(
        URL,
        {
            "action": "apply",
            "spec_text": spec_text,
            "prefix": "pet_",
            "base_url": "http://127.0.0.1:9/v2",
            "include": "store, user",
            "approve": ["GET /store/inventory", "GET /user/{username}"],
        },
    )
    assert reply.status_code == 303
    assert _tools(admin.app) == ["get_inventory", "get_user_by_name"]
    assert "Applied 2 change(s) to Swagger Petstore." in admin.get("/tools").get_data(as_text=True)


def test_a_description_of_megabytes_goes_through_preview_and_apply(admin):
    # The previewed text goes back with the apply as a form field: a large description must fit through.
    padded = PETSTORE + b"\nx-padding: " + b"x" * 1_100_000 + b"\n"  # an extension: ignored, but carried
    assert len(padded) > 1_000_000
    # (As the text field the apply sends: a multipart body this large makes the test client spool it to a file
    # it never closes.)
    page = admin.post(URL, {"action": "preview", "spec_text": padded.decode(), "prefix": "pet_"})
    assert page.status_code == 200, page.get_data(as_text=True)[:500]
    spec_text = html.unescape(
        re.search(r'<textarea name="spec_text"[^>]*>(.*?)</textarea>', page.get_data(as_text=True), re.S).group(1)
    )
    reply = admin.post(
        URL, {"action": "apply", "spec_text": spec_text, "prefix": "pet_", "approve": ["GET /user/logout"]}
    )
    assert reply.status_code == 303
    assert _tools(admin.app) == ["logout_user"]


def test_only_a_signed_in_admin_may_send_a_description_past_the_request_size_limit(admin, viewer, portal_app):
    """MAX_REQUEST_BYTES (4 MiB) holds for every request but an admin's import: CSRF protection reads the form
    before any view, so the limit is raised before it, and only for an admin (nobody else makes the gateway read
    tens of megabytes)."""
    padded = (PETSTORE + b"\nx-padding: " + b"x" * 5_000_000 + b"\n").decode()
    assert len(padded) > portal_app.config["MAX_REQUEST_BYTES"]
    page = admin.post(URL, {"action": "preview", "spec_text": padded, "prefix": "pet_"})
    assert page.status_code == 200 and 'id="import-plan"' in page.get_data(as_text=True)
    assert viewer.post(URL, {"action": "preview", "spec_text": padded, "prefix": "pet_"}).status_code == 413
    anonymous = portal_app.test_client().post(URL, data={"action": "preview", "spec_text": padded})
    assert anonymous.status_code == 413
    assert _tools(admin.app) == []


def test_bad_input_is_shown_next_to_its_field(admin):
    reply = admin.post(URL, {"action": "preview", "prefix": "pet_"})
    assert reply.status_code == 422
    assert "upload a description file or give its URL" in reply.get_data(as_text=True)
    reply = admin.client.post(
        URL,
        data={"csrf_token": admin.csrf, "prefix": "Bad", "file": (io.BytesIO(PETSTORE), "p.yaml")},
        content_type="multipart/form-data",
    )
    assert reply.status_code == 422
    assert "prefix &#39;Bad&#39; is invalid" in reply.get_data(as_text=True)
    assert _tools(admin.app) == []


def test_a_viewer_cannot_import(viewer):
    assert viewer.get(URL).status_code in (302, 303, 403)
    assert 'id="import-openapi"' not in viewer.get("/connections").get_data(as_text=True)
