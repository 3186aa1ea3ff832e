"""The Telemetry page in Debian's chromium against a real gateway: uPlot charts under the strict CSP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from janus.extensions import db
from janus.models import ToolCallLog
from tests.conftest import make_app
from tests.support.browser import browser_page, screenshot
from tests.support.portal import portal_gateway, sign_in

PASSWORD = "telemetry browser password 7"

# Does the canvas hold any painted pixel? (A chart that failed to draw leaves it transparent.)
PAINTED = """(selector) => {
  const canvas = document.querySelector(selector + ' canvas');
  if (!canvas || !canvas.width || !canvas.height) return false;
  const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) return true;
  return false;
}"""


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("telemetry")
    server = portal_gateway(tmp, PASSWORD, workers=2)
    server.app = make_app({"DATABASE_PATH": str(tmp / "gateway.db")})  # rows written beside the running server
    yield server
    server.stop()


def _add_calls(app, calls: list[tuple[str, float, str]], minutes_ago: float = 1) -> None:
    with app.app_context():
        at = datetime.now(UTC) - timedelta(minutes=minutes_ago)
        db.session.add_all(
            [
                ToolCallLog(
                    created_at=at - timedelta(seconds=i),
                    tool_name=tool,
                    duration_ms=ms,
                    status=status,
                    http_status=200 if status == "success" else 502,
                    token_name="Ops",
                    transport="streamable_http",
                )
                for i, (tool, ms, status) in enumerate(calls)
            ]
        )
        db.session.commit()


def test_charts_draw_under_the_csp_and_the_panel_refreshes_in_place(gateway):
    base = gateway.url
    _add_calls(
        gateway.app,
        [
            ("lch_get_non_cash_collateral", 4.0, "success"),
            ("coinbase_get_btc_stats", 122.0, "success"),
            ("ustreasury_get_avg_interest_rates", 862.0, "success"),
        ],
        minutes_ago=30,
    )
    _add_calls(
        gateway.app,
        [("coinbase_get_btc_stats", ms, "success") for ms in (40.0, 65.0, 90.0, 310.0)]
        + [("coinbase_get_btc_stats", 2400.0, "failure")],
        minutes_ago=5,
    )
    with browser_page() as browser:
        page = browser.page
        sign_in(page, base, PASSWORD, path="/telemetry")
        for chart in ("#chart-volume", "#chart-latency"):
            page.locator(chart + " canvas").wait_for()
            page.wait_for_function(PAINTED, arg=chart)
        assert page.locator('[data-stat="success_rate"]').inner_text() == "87.5%"
        assert page.locator('[data-stat="p95"]').inner_text() == "2400ms"
        assert page.locator('[data-stat="total"]').inner_text() == "8"
        # With the charts drawn the tables fold away, still there for screen readers and keyboards.
        assert page.locator("details#volume-numbers").get_attribute("open") is None
        page.locator("details#latency-numbers summary").press("Enter")
        assert page.locator("#latency-table").is_visible()
        assert page.locator("#tools-table tbody tr").count() == 3
        screenshot(page, "portal-telemetry", full_page=True)

        # Refresh: new rows appear without a page load, charts redrawn, the opened table stays open.
        page.evaluate("window.__sameDocument = true")
        _add_calls(gateway.app, [("dog_random_image", 15.0, "denied"), ("dog_random_image", 16.0, "success")])
        page.get_by_role("link", name="Refresh").click()
        page.locator('[data-stat="total"]', has_text="10").wait_for()
        assert page.evaluate("window.__sameDocument") is True
        assert page.locator('[data-stat="errors"]').inner_text() == "1 / 1"
        assert page.locator("#tools-table tbody tr").count() == 4
        page.wait_for_function(PAINTED, arg="#chart-volume")
        assert page.locator("details#latency-numbers").get_attribute("open") is not None

        # Another window: the select submits itself and the volume chart has 12 five-minute buckets.
        page.get_by_label("Time window").select_option("1h")
        page.wait_for_url(base + "/telemetry?window=1h")
        page.wait_for_function(PAINTED, arg="#chart-volume")
        assert page.locator("#volume-table tbody tr").count() == 12

        # The theme toggle redraws the charts in the light palette.
        page.get_by_role("button", name="Light theme").click()
        page.wait_for_function(PAINTED, arg="#chart-latency")
        screenshot(page, "portal-telemetry-light")
        page.get_by_role("button", name="Light theme").click()
    browser.assert_requests_only_to(base)
    assert any(url.endswith("/static/vendor/uplot/uPlot.iife.min.js") for url in browser.requests)
    assert browser.failed_requests == [] and browser.console_errors == [] and browser.page_errors == []
