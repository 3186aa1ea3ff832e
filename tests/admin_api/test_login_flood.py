"""A login flood against one real gunicorn+gevent worker (issue 10, item 5): the worker keeps answering.

Real `mcp-gateway` processes on 127.0.0.1; every loop is bounded in count and time, and
nothing here is a timing threshold: the assertions are about order and counts.
"""

from __future__ import annotations

import secrets
import threading
import time

import pytest
import requests
from sqlalchemy import create_engine, text
from werkzeug.security import generate_password_hash

from tests.support.server import GatewayServer

LOGIN = "/api/v1/login"
# Costly enough that a hash on the gevent loop would hold every other request for a long while.
SLOW_HASH = "pbkdf2:sha256:1500000"
CLIENTS, PER_CLIENT, FLOOD_SECONDS = 8, 15, 20.0


@pytest.fixture
def gateway(tmp_path, request):
    server = GatewayServer(str(tmp_path / "gateway.db"), WEB_CONCURRENCY="1", **getattr(request, "param", {}))
    server.start()
    yield server
    server.stop()


def _add_slow_user(gateway: GatewayServer, username: str) -> None:
    engine = create_engine("sqlite:///" + gateway.env["DATABASE_PATH"])
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (id, username, password_hash, role, enabled, created_at) "
                "VALUES (:id, :username, :hash, 'viewer', 1, CURRENT_TIMESTAMP)"
            ),
            {
                "id": secrets.token_hex(16),
                "username": username,
                "hash": generate_password_hash("the right password 1", method=SLOW_HASH),
            },
        )
    engine.dispose()


def _audit(gateway: GatewayServer, action: str) -> list[tuple[str, str]]:
    engine = create_engine("sqlite:///" + gateway.env["DATABASE_PATH"])
    with engine.connect() as conn:
        rows = [
            tuple(r)
            for r in conn.execute(text("SELECT actor, details FROM admin_audit_logs WHERE action = :a"), {"a": action})
        ]
    engine.dispose()
    return rows


@pytest.mark.parametrize("gateway", [{"LOGIN_RATE_PER_IP": "1000"}], indirect=True)
def test_a_password_being_hashed_does_not_hold_up_the_workers_other_requests(gateway):
    _add_slow_user(gateway, "slow")
    answered: list[int] = []
    done = threading.Event()

    def login() -> None:
        try:
            requests.post(gateway.url + LOGIN, json={"username": "slow", "password": "a wrong password"}, timeout=120)
        finally:
            done.set()

    thread = threading.Thread(target=login)
    thread.start()
    with requests.Session() as http:
        for _ in range(2000):  # bounded; the login ends the loop long before
            status = http.get(gateway.url + "/healthz", timeout=60).status_code
            if done.is_set():
                break
            answered.append(status)
    thread.join(120)
    # On the loop, the hash would have stopped the worker: /healthz answers only after the login does.
    assert len(answered) >= 20 and set(answered) == {200}, answered


def test_a_flood_of_random_usernames_is_throttled_per_address_and_never_stalls_the_worker(gateway):
    statuses: list[int] = []
    retry_after: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + FLOOD_SECONDS

    def flood() -> None:
        with requests.Session() as http:
            for _ in range(PER_CLIENT):
                if time.monotonic() > deadline:
                    return
                name = "x" * 40 + secrets.token_hex(4)  # attacker-chosen text that must not reach the log
                response = http.post(gateway.url + LOGIN, json={"username": name, "password": "guess"}, timeout=60)
                with lock:
                    statuses.append(response.status_code)
                    if response.status_code == 429:
                        retry_after.append(response.headers.get("Retry-After", ""))

    flooders = [threading.Thread(target=flood) for _ in range(CLIENTS)]
    for thread in flooders:
        thread.start()
    probes: list[int] = []
    with requests.Session() as http:
        while any(t.is_alive() for t in flooders) and len(probes) < 5000:
            probes.append(http.get(gateway.url + "/healthz", timeout=60).status_code)
    for thread in flooders:
        thread.join(120)

    assert probes and set(probes) == {200}  # every /healthz during the flood was answered
    assert set(statuses) <= {401, 429} and statuses.count(429) > 0
    assert all(value.isdigit() and 1 <= int(value) <= 61 for value in retry_after)
    # At most the rate (per minute window; the run may straddle two) were checked and recorded.
    failures = _audit(gateway, "login.failure")
    assert statuses.count(401) == len(failures) <= 2 * 20
    assert {actor for actor, _ in failures} == {"(unknown user)"}
    assert len(_audit(gateway, "login.throttled")) <= 2  # one per address and minute, not one per refusal
    assert "x" * 40 not in gateway.log
