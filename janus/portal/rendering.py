"""Page or fragment: one decision, made here from HX-Request (house style 4–5)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from flask import Response, make_response, render_template, request, url_for
from jinja2_fragments.flask import render_block


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def render(template: str, block: str | None = None, status: int = 200, **context: Any) -> Response:
    """The whole page, or for an htmx request only `block` of the same template.

    `Vary: HX-Request` keeps caches from serving a fragment as a page or the reverse.
    """
    if block is not None and is_htmx():
        body = render_block(template, block, **context)
    else:
        body = render_template(template, **context)
    response = make_response(body, status)
    response.vary.add("HX-Request")
    return response


def redirect_to(url: str) -> Response:
    """After a change: htmx follows HX-Redirect (a full page load), a plain form a 303."""
    if is_htmx():
        response = make_response("", 200)
        response.headers["HX-Redirect"] = url
        return response
    response = make_response("", 303)
    response.headers["Location"] = url
    return response


def row_urls(param: str, **endpoints: str) -> Callable[[str], dict[str, str]]:
    """url_for once per endpoint, then a plain substitution per row.

    A 500-row table calling url_for seven times a row spent most of its render time
    there (bench/portal_pages.py); the URLs are the same as url_for's, built once.
    """
    sentinel = "__janus_row__"
    values: dict[str, Any] = {param: sentinel}  # Any: url_for also takes non-str keywords (_external: bool)
    patterns = {name: url_for(endpoint, **values) for name, endpoint in endpoints.items()}

    def for_row(value: str) -> dict[str, str]:
        quoted = quote(str(value), safe="")
        return {name: pattern.replace(sentinel, quoted) for name, pattern in patterns.items()}

    return for_row
