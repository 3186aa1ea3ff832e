"""gunicorn configuration (`gunicorn --config python:janus.gunicorn_conf janus.wsgi:app`).

Reads the same environment as the app. Imports nothing that pulls in Flask:
this runs in the master, before workers fork and gevent patches them.
"""

from __future__ import annotations

import gc
import logging
import os
import secrets
import shutil
import signal
import tempfile

from janus.config import JWT_SECRET_GENERATED_ENV, check_spool_dir, server_tls_context
from janus.config import load as _load_config
from janus.logs import gunicorn_logger_class

_cfg = _load_config()
_log = logging.getLogger("janus.gunicorn")

_host = _cfg["HOST"]
bind = [f"[{_host}]:{_cfg['PORT']}" if ":" in _host and not _host.startswith("[") else f"{_host}:{_cfg['PORT']}"]
workers = max(1, int(_cfg["WEB_CONCURRENCY"]))
# gevent's worker plus a per-client-address connection cap (MAX_CONNECTIONS_PER_CLIENT).
worker_class = "janus.gunicorn_worker.JanusGeventWorker"
# The most connections one worker holds; slow clients are kept from filling it by the per-client cap
# and by the request-read deadline (REQUEST_READ_TIMEOUT_SECONDS, janus/wsgi.py).
worker_connections = 1000
timeout = 30
graceful_timeout = 10
# Also the deadline for a request line and headers: gunicorn's gevent worker reads every request's
# head, the first one included, under a timeout of this many seconds and then drops the connection.
keepalive = 5
errorlog = "-"
loglevel = str(_cfg["LOG_LEVEL"]).lower()
proc_name = "mcp-gateway"
if _cfg["LOG_FORMAT"] == "json":
    logger_class = gunicorn_logger_class("json")  # gunicorn's error (and any access) log as JSON lines

if _cfg["TLS_CERT_PATH"] and _cfg["TLS_KEY_PATH"]:
    # gunicorn serves TLS when these are set; the context itself is ours (ssl_context below).
    certfile = _cfg["TLS_CERT_PATH"]
    keyfile = _cfg["TLS_KEY_PATH"]

    def ssl_context(conf, default_ssl_context_factory):
        """TLS 1.2+ and, with CLIENT_CA_PATH, client certificates from that CA alone (janus.config).

        gunicorn's own factory would trust the system's CAs for client certificates when no CA file is
        given and knows no minimum version (`ssl_version` is deprecated and ignored). The handshake is
        deferred to the worker (JanusGeventWorker.handle), after the per-client connection cap and
        under a deadline, so a refused handshake is one log line rather than a gevent traceback.
        """
        return server_tls_context(_cfg, deferred_handshake=True)


# Every worker must sign and verify sessions with the same key.
if not os.environ.get("JWT_SECRET"):
    os.environ["JWT_SECRET"] = secrets.token_urlsafe(48)
    os.environ[JWT_SECRET_GENERATED_ENV] = "1"

# Metrics from all workers are summed through files in this directory; it must
# be set before any worker creates a metric. A directory the operator chose is
# left as it is (stdio processes may share it); our own temporary one is removed.
_OWN_METRICS_DIR = None
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _OWN_METRICS_DIR = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="janus-metrics-")


def on_starting(server) -> None:
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
    check_spool_dir(_cfg["AUDIT_SPOOL_DIR"])  # before any worker answers a call it could not audit
    if os.environ.get(JWT_SECRET_GENERATED_ENV):
        server.log.warning(
            "JWT_SECRET is not set: using a random key for this start; portal and CLI sessions "
            "will not survive a restart or span replicas"
        )


def on_exit(server) -> None:
    if _OWN_METRICS_DIR:
        shutil.rmtree(_OWN_METRICS_DIR, ignore_errors=True)


def post_worker_init(worker) -> None:
    """On SIGTERM, end this worker's SSE streams cleanly before gunicorn's graceful timeout."""
    original = worker.handle_exit

    def handle_exit(sig, frame):
        original(sig, frame)
        from janus.transports.http_runtime import shutdown_all

        try:
            import gevent

            gevent.spawn(shutdown_all)  # not inside the signal handler
        except ImportError:
            shutdown_all()

    from janus.runtime import refresh_catalogs_in_background

    refresh_catalogs_in_background()
    worker.handle_exit = handle_exit
    signal.signal(signal.SIGTERM, handle_exit)  # gunicorn bound the old method before this hook
    signal.siginterrupt(signal.SIGTERM, False)
    # The app, its imports and templates live as long as the worker: move them out of the garbage
    # collector's view, so a full collection scans only what requests allocate (it tripled the
    # render time of a 500-tool page, bench/portal_pages.py).
    gc.freeze()


def worker_exit(server, worker) -> None:
    """Write every queued audit row before the worker process ends."""
    from janus.runtime import flush_all

    flush_all()


def child_exit(server, worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
