"""A real browser for tests: Debian's chromium driven by Playwright's sync API.

Playwright's own browser builds are never used (`playwright install` is never needed):
scripts/install-browser puts Debian's `chromium` on PATH and `launch_browser` hands it to
Playwright through `executable_path`. Nothing here registers pytest fixtures; a test (or a
conftest that wants a fixture) calls these directly:

    with browser_page() as session:
        session.page.goto(f"http://127.0.0.1:{port}/")
        session.assert_requests_only_to(f"http://127.0.0.1:{port}")
        assert session.console_errors == [] and session.page_errors == []
        screenshot(session.page, "portal-home")
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_VIEWPORT = (1440, 900)
FALLBACK_CHROMIUM = "/usr/bin/chromium"


def chromium_executable() -> str | None:
    """Debian's chromium (the /usr/bin/chromium launcher script), or None if not installed."""
    found = shutil.which("chromium")
    if found:
        return found
    if os.access(FALLBACK_CHROMIUM, os.X_OK):
        return FALLBACK_CHROMIUM
    return None


def require_chromium() -> str:
    """The chromium executable; a clear error (naming the install script) when it is missing."""
    exe = chromium_executable()
    if exe is None:
        raise RuntimeError("chromium is not installed: run scripts/install-browser (scripts/test does)")
    return exe


def launch_args() -> list[str]:
    """Extra command-line flags for chromium: only --no-sandbox, and only when running as root.

    Chromium refuses to start its sandbox as root ("Running as root without --no-sandbox is not
    supported"); CI runs as root. Debian's launcher adds --disable-dev-shm-usage by itself when
    /dev/shm is small, so that flag is not needed here.
    """
    return ["--no-sandbox"] if os.geteuid() == 0 else []


def artifacts_dir() -> Path:
    """Where screenshots go: $JANUS_TEST_ARTIFACTS, else <repo>/test-artifacts/ (created)."""
    path = Path(os.environ.get("JANUS_TEST_ARTIFACTS") or REPO_ROOT / "test-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


def screenshot(page, name: str, *, full_page: bool = False) -> Path:
    """Save a PNG of the page as <artifacts>/<name>.png and return its path."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise ValueError(f"screenshot name must be a plain file stem, got {name!r}")
    path = artifacts_dir() / f"{name}.png"
    # A capture needs a fresh compositor frame: one taken while a navigation was still under way hung
    # until its timeout (tests must wait for the navigation they cause; see expect_navigation). Wait for
    # the load, check a frame comes, and if none does bring the page to the front, which repaints it.
    page.wait_for_load_state("load")
    if not _paints(page):
        page.bring_to_front()
        _paints(page)
    # Animations off: a pulsing status dot must not keep the compositor from settling on a shared, busy CPU.
    page.screenshot(path=str(path), full_page=full_page, animations="disabled", timeout=30_000)
    return path


def _paints(page, within_ms: int = 3000) -> bool:
    """Whether the page renders an animation frame within the bound (never waits longer)."""
    from playwright.sync_api import Error as PlaywrightError

    try:
        return page.evaluate(
            "ms => new Promise(done => { requestAnimationFrame(() => done(true)); setTimeout(() => done(false), ms); })",
            within_ms,
        )
    except PlaywrightError:  # a navigation replaced the document meanwhile: let it finish
        page.wait_for_load_state("load")
        return False


def origin_of(url: str) -> str:
    """scheme://host[:port] of a URL (the port as written; lower-cased scheme and host)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


@dataclass
class BrowserSession:
    """One browser context and its page, with what the page did on the network and console."""

    browser: object
    context: object
    page: object
    requests: list[str] = field(default_factory=list)  # every request URL, in order
    failed_requests: list[str] = field(default_factory=list)  # "URL: failure text"
    # Requests the browser itself gave up because the test navigated on (a favicon or an htmx fragment
    # still loading): not a failure of the gateway, so kept apart from failed_requests.
    aborted_requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)  # console messages of type "error"
    page_errors: list[str] = field(default_factory=list)  # uncaught exceptions in the page

    def request_origins(self) -> set[str]:
        return {origin_of(url) for url in self.requests}

    def assert_requests_only_to(self, origin: str) -> None:
        """Every recorded request went to `origin` (e.g. "http://127.0.0.1:8123")."""
        want = origin_of(origin)
        stray = [url for url in self.requests if origin_of(url) != want]
        assert not stray, f"requests outside {want}: {stray}"


def launch_browser(
    playwright, *, headless: bool = True, executable_path: str | None = None, args: list[str] | None = None
):
    """Launch Debian's chromium through Playwright (never a Playwright-downloaded browser)."""
    return playwright.chromium.launch(
        executable_path=executable_path or require_chromium(),
        headless=headless,
        args=launch_args() + list(args or []),
    )


@contextlib.contextmanager
def browser_page(
    *,
    viewport: tuple[int, int] = DEFAULT_VIEWPORT,
    headless: bool = True,
    executable_path: str | None = None,
    args: list[str] | None = None,
    default_timeout_ms: float = 15_000,
) -> Iterator[BrowserSession]:
    """Start Playwright, launch chromium headless, open a context (fixed viewport) and a page.

    The context records every request URL (any page of the context, including the first
    navigation), failed requests, console errors and page errors into the yielded session.
    Everything is closed on exit.
    """
    from playwright.sync_api import sync_playwright  # imported here: a test without a browser needs none

    width, height = viewport
    with sync_playwright() as pw:
        browser = launch_browser(pw, headless=headless, executable_path=executable_path, args=args)
        try:
            context = browser.new_context(viewport={"width": width, "height": height})
            context.set_default_timeout(default_timeout_ms)
            session = BrowserSession(browser=browser, context=context, page=None)
            context.on("request", lambda request: session.requests.append(request.url))

            def failed(request) -> None:
                bucket = session.aborted_requests if request.failure == "net::ERR_ABORTED" else session.failed_requests
                bucket.append(f"{request.url}: {request.failure}")

            context.on("requestfailed", failed)

            watched: list = []

            def watch(page) -> None:
                if any(page is seen for seen in watched):
                    return
                watched.append(page)
                page.on(
                    "console",
                    lambda msg: session.console_errors.append(_describe_console(msg)) if msg.type == "error" else None,
                )
                page.on("pageerror", lambda exc: session.page_errors.append(str(exc)))

            context.on("page", watch)
            session.page = context.new_page()
            watch(session.page)  # a no-op if the "page" event already attached the listeners
            yield session
        finally:
            browser.close()


def _describe_console(msg) -> str:
    location = msg.location or {}
    where = location.get("url")
    return f"{msg.text} ({where}:{location.get('lineNumber')})" if where else msg.text
