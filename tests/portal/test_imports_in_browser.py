"""The Import OpenAPI page in Debian's chromium against a real gateway: upload the Petstore, preview, untick, apply."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.browser import browser_page, screenshot
from tests.support.portal import portal_gateway, sign_in

PASSWORD = "import browser test password 42"
PETSTORE = Path(__file__).resolve().parents[1] / "fixtures" / "openapi" / "petstore-3.0.yaml"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("import-openapi")
    server = portal_gateway(tmp, PASSWORD, workers=1)
    yield server
    server.stop()


def test_upload_preview_untick_and_apply(gateway):
    base = gateway.url
    with browser_page() as browser:
        page = browser.page
        sign_in(page, base, PASSWORD, path="/connections")
        page.get_by_role("link", name="Import OpenAPI").click()
        page.wait_for_url(base + "/connections/import")
        page.get_by_label("Description file").set_input_files(str(PETSTORE))
        page.get_by_label("Tool name prefix").fill("pet_")
        page.get_by_label("Base URL (optional)").fill("http://127.0.0.1:9/v2")
        page.get_by_label("Include (optional)").fill("store")
        page.get_by_role("button", name="Preview").click()
        plan = page.locator("#import-plan")
        plan.wait_for()
        assert page.locator("#import-counts").inner_text().startswith("18 added, 0 changed")
        boxes = page.get_by_role("checkbox")
        assert boxes.count() == 18  # every operation may be ticked; the filter ticks the store's four
        assert page.locator("input[name=approve]:checked").count() == 4
        page.get_by_label("Apply DELETE /store/order/{orderId}").uncheck()
        screenshot(page, "import-openapi-preview")
        page.get_by_role("button", name="Apply ticked changes").click()
        page.wait_for_url(base + "/tools")
        body = page.locator("body").inner_text()
        assert "Applied 3 change(s) to Swagger Petstore." in body
        assert "pet_get_inventory" in body and "pet_place_order" in body and "pet_delete_order" not in body
        browser.assert_requests_only_to(base)
