"""janus.services.off_process: work run in a real child process (`python -m janus.child_process`), its
result or its refusal brought back, its failures reported without a traceback to the client."""

from __future__ import annotations

import hashlib
import os
import time

import pytest

from janus.services.errors import ValidationError
from janus.services.off_process import ChildFailed, in_child


def child_facts(value: str) -> dict:
    return {"pid": os.getpid(), "niceness": os.nice(0), "echo": value.upper()}


def child_environment(*names: str) -> dict:
    return {name: os.environ.get(name) for name in names}


def digests(*parts: bytes) -> list[tuple[str, int, str]]:
    return [(type(p).__name__, len(p), hashlib.sha256(p).hexdigest()) for p in parts]


def refuse(field: str) -> None:
    raise ValidationError(f"{field} is not acceptable", field=field)


def crash() -> None:
    raise RuntimeError("a bug in the child")


def die() -> None:
    os._exit(3)


def linger(seconds: float) -> None:
    time.sleep(seconds)


def app_facts() -> dict:
    from flask import current_app

    from janus.extensions import db

    with db.engine.connect() as conn:  # the app's database, reachable from the child
        one = conn.exec_driver_sql("SELECT 1").scalar()
    return {"uri": current_app.config["SQLALCHEMY_DATABASE_URI"], "one": one, "http": current_app.config["SERVE_HTTP"]}


def test_the_work_runs_in_another_process_at_a_lower_priority_and_returns_its_result():
    facts = in_child(child_facts, "plan")
    assert facts["echo"] == "PLAN"
    assert facts["pid"] != os.getpid()
    assert facts["niceness"] >= os.nice(0) + 10 or facts["niceness"] == 19


def test_large_byte_strings_reach_the_child_whole_and_as_bytes():
    """A description's bytes go out of band (pickle protocol 5) and through a pipe far smaller than them."""
    big, other, small = os.urandom(3 * 1024 * 1024 + 7), os.urandom(200_000), b"prefix"
    assert in_child(digests, big, small, other) == digests(big, small, other)


def test_each_pipe_descriptor_is_closed_exactly_once(monkeypatch):
    """The defect: the child's stdin was closed when written, then again on the way out. Its number had
    often been reused meanwhile — by SQLite opening the database for another greenlet — and the second close
    took the file away from SQLite: the workers failed with "disk I/O error" (SQLITE_IOERR_SHORT_READ)."""
    closed: list[int] = []
    real_close = os.close

    def close(fd: int) -> None:
        closed.append(fd)
        real_close(fd)

    monkeypatch.setattr(os, "close", close)
    assert in_child(child_facts, "x")["echo"] == "X"
    assert len(closed) == 4 and len(set(closed)) == 4, closed  # two pipes, two ends each, once each


def test_the_child_leaves_the_workers_metrics_and_blocking_monitor_alone(monkeypatch, tmp_path):
    """In the workers' multiprocess metrics directory the child's gauges outlived it (a file per import,
    summed into every scrape); gevent's monitor would report the child, which never yields, as blocked."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setenv("GEVENT_MONITOR_THREAD_ENABLE", "true")
    monkeypatch.setenv("JANUS_PROBE", "kept")
    names = ("PROMETHEUS_MULTIPROC_DIR", "GEVENT_MONITOR_THREAD_ENABLE", "JANUS_PROBE")
    assert in_child(child_environment, *names) == {
        "PROMETHEUS_MULTIPROC_DIR": None,
        "GEVENT_MONITOR_THREAD_ENABLE": None,
        "JANUS_PROBE": "kept",  # the rest of the worker's environment: the app is built from it
    }


def test_a_refusal_in_the_child_is_raised_here_with_its_field():
    with pytest.raises(ValidationError) as refused:
        in_child(refuse, "prefix")
    assert refused.value.status == 400
    assert refused.value.message == "prefix is not acceptable"
    assert refused.value.field == "prefix" and refused.value.fields == {"prefix": "prefix is not acceptable"}


@pytest.mark.parametrize("fn", [crash, die], ids=["raises", "exits"])
def test_a_failing_child_is_a_clear_503_without_its_traceback(fn, capfd):
    with pytest.raises(ChildFailed) as failed:
        in_child(fn)
    assert failed.value.status == 503
    assert "a bug in the child" not in failed.value.message and "Traceback" not in failed.value.message
    assert "the gateway's log has the reason" in failed.value.message
    if fn is crash:  # the traceback went where the worker's logs go
        assert "a bug in the child" in capfd.readouterr().err


def test_a_child_that_runs_too_long_is_stopped():
    started = time.monotonic()
    with pytest.raises(ChildFailed, match="longer than 2 s"):
        in_child(linger, 60.0, timeout=2)
    assert time.monotonic() - started < 50  # killed, not waited for


def test_with_an_app_config_the_work_runs_in_an_app_on_that_database(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'child.db'}"
    # The child builds its app from the environment (as the worker's came from it) with the config on top.
    monkeypatch.setenv("VAULT_LOCAL_PATH", str(tmp_path / "secrets.json"))
    facts = in_child(app_facts, app_config={"SQLALCHEMY_DATABASE_URI": uri})
    assert facts == {"uri": uri, "one": 1, "http": False}
