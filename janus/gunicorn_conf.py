"""gunicorn configuration (`gunicorn --config python:janus.gunicorn_conf janus.wsgi:app`).

Reads the same environment as the app. Imports nothing that pulls in Flask:
this runs in the master, before workers fork and gevent patches them.
"""
from __future__ import annotations

import glob
import logging
import os
import secrets
import ssl
import tempfile

from janus.config import load as _load_config

_cfg = _load_config()
_log = logging.getLogger("janus.gunicorn")

bind = [f"{_cfg['HOST']}:{_cfg['PORT']}"]
workers = max(1, int(_cfg["WEB_CONCURRENCY"]))
worker_class = "gevent"
worker_connections = 1000
timeout = 30
graceful_timeout = 10
keepalive = 5
errorlog = "-"
loglevel = str(_cfg["LOG_LEVEL"]).lower()
proc_name = "mcp-gateway"

if _cfg["TLS_CERT_PATH"] and _cfg["TLS_KEY_PATH"]:
    certfile = _cfg["TLS_CERT_PATH"]
    keyfile = _cfg["TLS_KEY_PATH"]
    if _cfg["CLIENT_CA_PATH"]:
        # Mutual TLS: clients must present a certificate signed by this CA.
        ca_certs = _cfg["CLIENT_CA_PATH"]
        cert_reqs = ssl.CERT_REQUIRED

# Every worker must sign and verify sessions with the same key.
if not os.environ.get("JWT_SECRET"):
    os.environ["JWT_SECRET"] = secrets.token_urlsafe(48)
    os.environ["JANUS_JWT_SECRET_GENERATED"] = "1"

# Metrics from all workers are summed through files in this directory; it must
# be set before any worker creates a metric.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="janus-metrics-")


def on_starting(server) -> None:
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(directory, exist_ok=True)
    for stale in glob.glob(os.path.join(directory, "*.db")):
        os.remove(stale)
    if os.environ.get("JANUS_JWT_SECRET_GENERATED"):
        server.log.warning(
            "JWT_SECRET is not set: using a random key for this start; portal and CLI sessions "
            "will not survive a restart or span replicas"
        )


def child_exit(server, worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
