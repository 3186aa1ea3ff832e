"""The per-process runtime (janus/runtime.py)."""

from __future__ import annotations

import threading
import time

from janus.runtime import get_runtime
from janus.transports.http_runtime import http_runtime


def test_requests_arriving_together_on_a_fresh_worker_build_one_runtime(sqlite_app, monkeypatch):
    """Building reads the database (a switch under gevent): without the lock each caller built its own,
    with its own audit writer and connection pools."""
    import janus.runtime as runtime_module

    real = runtime_module.server_key
    builds = []

    def slow_server_key(app):
        builds.append(threading.current_thread().name)
        time.sleep(0.05)  # long enough for every other caller to arrive meanwhile
        return real(app)

    monkeypatch.setattr(runtime_module, "server_key", slow_server_key)
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(http_runtime(sqlite_app))) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(got) == 5 and all(rt is got[0] for rt in got)
    assert len(builds) == 1
    assert get_runtime(sqlite_app) is got[0].runtime
