"""Self-test of tests/support/browser.py: Debian's chromium through Playwright on a local page."""

from __future__ import annotations

import functools
import os
import struct
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.support import browser
from tests.support.waiting import wait_for

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

INDEX_HTML = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Janus browser harness</title>
  <link rel="icon" href="data:,">
  <script src="/static/app.js" defer></script>
</head>
<body>
  <h1 id="status">waiting for script</h1>
  <img id="logo" src="/static/logo.svg" alt="logo" width="64" height="64">
</body>
</html>
"""

APP_JS = """
document.getElementById("status").textContent = "script ran";
const logo = document.getElementById("logo");
const mark = () => { document.body.dataset.logo = logo.naturalWidth > 0 ? "loaded" : "broken"; };
if (logo.complete) { mark(); } else { logo.addEventListener("load", mark); logo.addEventListener("error", mark); }
"""

LOGO_SVG = """<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64">
  <rect width="64" height="64" rx="8" fill="#2b6cb0"/>
  <text x="32" y="42" font-size="28" text-anchor="middle" fill="#fff" font-family="sans-serif">J</text>
</svg>
"""


def _require_browser() -> None:
    """Locally a missing browser skips; in CI (scripts/test installs it) it fails the run."""
    problem = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        problem = f"playwright is not installed ({exc}): pip install -r requirements-dev.txt"
    if problem is None and browser.chromium_executable() is None:
        problem = "chromium is not installed: run scripts/install-browser"
    if problem:
        if IN_CI:
            pytest.fail(problem)
        pytest.skip(problem)


class _QuietHandler(SimpleHTTPRequestHandler):
    paths: list[str]

    def do_GET(self):
        self.server.paths.append(self.path)
        super().do_GET()

    def log_message(self, format, *args):
        pass


@pytest.fixture
def site(tmp_path: Path):
    """A static site on 127.0.0.1 (free port) served from a temp dir; yields (origin, served paths)."""
    (tmp_path / "static").mkdir()
    (tmp_path / "index.html").write_text(INDEX_HTML, encoding="utf-8")
    (tmp_path / "static" / "app.js").write_text(APP_JS, encoding="utf-8")
    (tmp_path / "static" / "logo.svg").write_text(LOGO_SVG, encoding="utf-8")
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(tmp_path)))
    server.daemon_threads = True
    server.paths = []
    thread = threading.Thread(target=server.serve_forever, name="browser-harness-site", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.paths
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_artifacts_dir_follows_env(tmp_path, monkeypatch):
    monkeypatch.setenv("JANUS_TEST_ARTIFACTS", str(tmp_path / "arts"))
    assert browser.artifacts_dir() == tmp_path / "arts"
    assert (tmp_path / "arts").is_dir()
    monkeypatch.delenv("JANUS_TEST_ARTIFACTS")
    assert browser.artifacts_dir() == browser.REPO_ROOT / "test-artifacts"


def test_launch_args_only_disable_sandbox_for_root():
    assert browser.launch_args() == (["--no-sandbox"] if os.geteuid() == 0 else [])


def test_page_loads_script_and_image_from_local_origin_only(site):
    _require_browser()
    origin, served = site
    with browser.browser_page() as session:
        page = session.page
        response = page.goto(origin + "/", wait_until="load")
        assert response is not None and response.status == 200

        assert page.title() == "Janus browser harness"
        page.wait_for_function("document.getElementById('status').textContent === 'script ran'")
        page.wait_for_function("document.body.dataset.logo !== undefined")
        assert page.text_content("#status") == "script ran"
        assert page.get_attribute("body", "data-logo") == "loaded"
        assert page.viewport_size == {"width": 1440, "height": 900}
        assert page.evaluate("[window.innerWidth, window.innerHeight]") == [1440, 900]

        shot = browser.screenshot(page, "browser-harness-selftest")

        # The page asked for exactly the document, the script and the image, all from the local origin.
        session.assert_requests_only_to(origin)
        assert session.request_origins() == {origin}
        assert sorted(session.requests) == sorted(
            [origin + "/", origin + "/static/app.js", origin + "/static/logo.svg"]
        )
        assert sorted(served) == ["/", "/static/app.js", "/static/logo.svg"]
        assert session.failed_requests == []
        assert session.console_errors == []
        assert session.page_errors == []

    assert shot == browser.artifacts_dir() / "browser-harness-selftest.png"
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])  # IHDR: the first chunk after the signature
    assert (width, height) == (1440, 900)


def test_console_and_page_errors_are_collected(site):
    _require_browser()
    origin, _ = site
    with browser.browser_page() as session:
        session.page.goto(origin + "/", wait_until="load")
        page = session.page
        with page.expect_console_message(lambda msg: msg.type == "error"):
            page.evaluate("console.error('harness: deliberate console error')")
        with page.expect_event("pageerror"):
            page.evaluate("setTimeout(() => { throw new Error('harness: deliberate page error'); }, 0)")
        assert any("deliberate console error" in e for e in session.console_errors), session.console_errors
        assert any("deliberate page error" in e for e in session.page_errors), session.page_errors


def test_a_refused_request_is_a_failure_and_one_cut_short_by_the_test_is_only_aborted(site):
    import socket

    _require_browser()
    origin, _ = site
    with socket.socket() as closed, socket.socket() as silent:
        closed.bind(("127.0.0.1", 0))  # nobody listens: refused
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel accepts, nobody answers: the request hangs until cancelled
        with browser.browser_page() as session:
            page = session.page
            page.goto(origin + "/", wait_until="load")
            page.evaluate("url => fetch(url).catch(() => null)", f"http://127.0.0.1:{closed.getsockname()[1]}/")
            # Cancelled by the page itself, as a navigation cancels a favicon or a fragment still loading.
            page.evaluate(
                """url => { const c = new AbortController();
                                      setTimeout(() => c.abort(), 300);
                                      return fetch(url, {signal: c.signal}).catch(() => null); }""",
                f"http://127.0.0.1:{silent.getsockname()[1]}/",
            )
            # page.wait_for_timeout lets Playwright deliver the requestfailed events meanwhile.
            wait_for(
                lambda: (page.wait_for_timeout(50), session.failed_requests and session.aborted_requests)[1],
                what="both requests recorded",
            )
    assert [f.rsplit(": ", 1)[1] for f in session.failed_requests] == ["net::ERR_CONNECTION_REFUSED"]
    assert [f.rsplit(": ", 1)[1] for f in session.aborted_requests] == ["net::ERR_ABORTED"]
