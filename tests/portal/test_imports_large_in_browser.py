"""The Import OpenAPI page in Debian's chromium with a large real description: GitHub's REST API (npm
@octokit/openapi, ~13 MB of JSON, 1,200 operations; scripts/install-openapi-fixtures installs it) uploaded with
the file input to a real gateway, the plan previewed (over 1,000 tools, the skipped ones with their reasons),
everything unticked, a few operations found with the filter and ticked, applied, and the tools listed on /tools.
The upload-and-preview time is printed (`pytest -s`), not asserted."""

from __future__ import annotations

import re
import time

import pytest

from tests.admin_api.test_imports_large import GITHUB
from tests.conftest import IN_CI
from tests.support.browser import browser_page, screenshot
from tests.support.portal import sign_in
from tests.support.server import GatewayServer

PASSWORD = "large import browser test password 42"
# The label operations of a repository: a handful among GitHub's 1,200 (found by path, as an admin would).
FILTER = "/repos/{owner}/{repo}/labels"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    if not GITHUB.is_file():
        message = f"{GITHUB} is missing: run scripts/install-openapi-fixtures (scripts/test does)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    tmp = tmp_path_factory.mktemp("import-openapi-large")
    server = GatewayServer(
        str(tmp / "gateway.db"),
        ADMIN_USERNAME="admin",
        ADMIN_PASSWORD=PASSWORD,
        VAULT_LOCAL_PATH=str(tmp / "secrets.json"),
        WEB_CONCURRENCY="1",
    ).start()
    yield server
    server.stop()


def _number(text: str, label: str) -> int:
    found = re.search(r"(\d+) " + label, text)
    assert found, f"no '{label}' count in {text!r}"
    return int(found.group(1))


def test_githubs_description_is_uploaded_previewed_filtered_ticked_and_applied(gateway):
    base = gateway.url
    with browser_page(default_timeout_ms=120_000) as browser:
        page = browser.page
        sign_in(page, base, PASSWORD, path="/connections/import")
        page.get_by_label("Description file").set_input_files(str(GITHUB))
        page.get_by_label("Tool name prefix").fill("gh_")
        page.get_by_label("Base URL (optional)").fill("http://127.0.0.1:9/api")
        started = time.perf_counter()
        page.get_by_role("button", name="Preview").click()
        page.locator("#import-plan").wait_for()
        page.locator("#plan-ticked").filter(has_text="ticked").wait_for()  # the script has set the page up
        preview_seconds = time.perf_counter() - started

        counts = page.locator("#import-counts").inner_text()
        added, skipped = _number(counts, "added"), _number(counts, "skipped")
        assert added >= 1000 and skipped >= 1
        assert page.locator("#import-plan tbody tr").count() == added
        reasons = page.locator("#import-skipped li").all_inner_texts()
        assert len(reasons) == skipped
        assert all(re.fullmatch(r"(GET|PUT|POST|DELETE|PATCH|HEAD) /\S*: .+", r) for r in reasons), reasons[:3]
        assert any("Janus does not send" in r or "Janus sends JSON bodies only" in r for r in reasons)
        assert page.locator("input[name=approve]:checked").count() == added  # no filter: every new tool ticked

        page.get_by_role("button", name="Untick shown", exact=True).click()
        assert page.locator("input[name=approve]:checked").count() == 0
        page.get_by_label("Filter operations").fill(FILTER)
        shown = page.locator("#import-plan tbody tr:visible")
        page.wait_for_function(
            "n => document.querySelectorAll('#import-plan tbody tr:not([hidden])').length < n", arg=added
        )
        wanted = sorted(shown.locator("td:nth-child(3) code").all_inner_texts())
        assert 1 <= len(wanted) <= 20 and all(n.startswith("gh_") for n in wanted), wanted
        assert all(FILTER in key for key in shown.locator("td:nth-child(4) code").all_inner_texts())
        page.get_by_role("button", name="Tick shown", exact=True).click()
        ticked = page.locator("#plan-ticked").inner_text()
        assert ticked.startswith(f"{len(wanted)} of {added} ticked"), ticked
        assert page.locator("input[name=approve]:checked").count() == len(wanted)
        screenshot(page, "import-openapi-github-filtered")

        started = time.perf_counter()
        page.get_by_role("button", name="Apply ticked changes").click()
        page.wait_for_url(base + "/tools")
        apply_seconds = time.perf_counter() - started
        body = page.locator("body").inner_text()
        assert f"Applied {len(wanted)} change(s) to GitHub's official OpenAPI spec" in body
        listed = page.locator("#tool-count").inner_text()
        assert listed.startswith(f"{len(wanted)} tool"), listed
        for name in wanted:
            assert name in body
        assert browser.page_errors == [] and browser.console_errors == []
        browser.assert_requests_only_to(base)
    print(
        f"github in chromium: upload + preview of {added} tools ({skipped} skipped) {preview_seconds:.1f}s; "
        f"apply of {len(wanted)} {apply_seconds:.1f}s"
    )
