"""The WSGI app for gunicorn (`janus.wsgi:app`).

gunicorn's gevent worker monkey-patches before loading this module; psycopg2
needs its own hook to yield to other greenlets while waiting on PostgreSQL.
"""

from __future__ import annotations

from janus import create_app
from janus.logs import RequestIds
from janus.transports.wire import ReadDeadline


def _cooperative_psycopg() -> None:
    try:
        from gevent import monkey
    except ImportError:
        return
    if monkey.is_module_patched("socket"):
        from psycogreen.gevent import patch_psycopg

        patch_psycopg()


_cooperative_psycopg()
app = create_app()
# Around everything, /mcp included: a body that does not arrive in time is answered 408 (issue 10, item 6).
app.wsgi_app = ReadDeadline(  # type: ignore[method-assign]  # Flask's documented way to wrap its WSGI app
    app.wsgi_app, app.config["REQUEST_READ_TIMEOUT_SECONDS"]
)
if app.config["LOG_FORMAT"] == "json":
    # Outermost, so every log line of the request (the read deadline's too) carries its request id.
    app.wsgi_app = RequestIds(app.wsgi_app)  # type: ignore[method-assign]
