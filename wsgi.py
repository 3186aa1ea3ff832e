"""Entry point for WSGI servers other than `mcp-gateway` (e.g. `gunicorn -c gunicorn.conf.py wsgi:app`).

gevent must patch the standard library before anything else imports it.
"""

from gevent import monkey

monkey.patch_all()

from janus.wsgi import app  # noqa: E402

__all__ = ["app"]
