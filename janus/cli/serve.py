"""Become the HTTP server: migrate and seed once, then exec gunicorn (a fresh process: gevent patches cleanly).

Shared by `mcp-gateway` (gateway.py, which builds the app) and `flask janus serve` (janus_group.py,
handed the app by Flask's CLI). It takes the app and never builds one: the app factory registers
`flask janus`, so the commands it registers must not import the factory.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def exec_server(app: Flask) -> int:
    from janus.services.bootstrap import bootstrap

    bootstrap(app)
    sys.stdout.flush()
    sys.stderr.flush()
    argv = [sys.executable, "-m", "gunicorn", "--config", "python:janus.gunicorn_conf", "janus.wsgi:app"]
    os.execv(sys.executable, argv)  # noqa: S606 - becomes gunicorn; a fixed argv, no shell involved
    return 0  # not reached
