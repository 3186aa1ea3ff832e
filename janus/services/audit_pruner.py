"""The periodic prune of AUDIT_RETENTION_DAYS: a daemon thread (a greenlet under gunicorn+gevent) per server process.

Every process of every replica runs one, each waking every AUDIT_PRUNE_INTERVAL_SECONDS (with
jitter, so they do not wake together); the prune's own lock (janus.services.audit_retention) lets one
of them work and the others skip. Started only when AUDIT_RETENTION_DAYS is set: without it nothing
runs and nothing is imported.
"""

from __future__ import annotations

import logging
import random
import threading

from flask import Flask

log = logging.getLogger(__name__)


class Pruner:
    def __init__(self, app: Flask) -> None:
        self.app = app
        self.interval = float(app.config["AUDIT_PRUNE_INTERVAL_SECONDS"])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="janus-audit-prune", daemon=True)

    def start(self) -> Pruner:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval * random.uniform(0.5, 1.0)):  # noqa: S311 - jitter, not a secret
            self.run_once()

    def run_once(self) -> None:
        from janus.extensions import db
        from janus.services import audit_retention

        with self.app.app_context():
            try:
                result = audit_retention.prune()
                if result.pruned:
                    log.info(
                        "pruned %d tool-call audit rows created before %s (exported to %s)",
                        result.pruned,
                        result.cutoff,
                        result.exported_to,
                    )
            except Exception:  # a full disk or a database restart must not end the loop: next interval retries
                log.exception("the audit prune failed; it is retried in %.0f s", self.interval)
            finally:
                db.session.remove()
