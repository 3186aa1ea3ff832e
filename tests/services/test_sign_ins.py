"""The sign-in guard (per-address rate, per-(username, address) lockout), the client address, off-loop hashing."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from janus.services import sign_ins
from janus.services.sign_ins import Guard, Limits, client_address


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_the_rate_is_a_budget_per_address_that_a_minute_boundary_does_not_refill():
    clock = Clock(60 * 1000 + 59.9)  # a moment before a minute boundary
    guard = Guard(clock)
    assert [guard.admit("a", 2) for _ in range(3)] == [0, 0, 31]
    assert guard.admit("b", 2) == 0  # another address is not affected
    clock.now += 0.2  # the next minute begins: nothing comes back (a fixed window gave 2 more here)
    assert guard.admit("a", 2) == 30
    clock.now += 30  # one attempt regained every 60 / rate seconds
    assert [guard.admit("a", 2) for _ in range(2)] == [0, 30]  # 0.2 s of the wait already passed
    assert guard.admit("a", 0) == 0  # 0: no limit


def test_the_rate_buckets_stay_bounded_in_memory(monkeypatch):
    monkeypatch.setattr(sign_ins, "MAX_TRACKED_ADDRESSES", 10)
    guard = Guard(Clock())
    for n in range(50):
        guard.admit(f"10.0.0.{n}", 2)
    assert len(guard._attempts) == 10


def test_the_lockout_is_per_username_and_address_and_refusals_do_not_extend_it():
    clock = Clock()
    guard, limits = Guard(clock), Limits(max_failures=3, lockout_minutes=10)
    for _ in range(3):
        assert guard.locked_for("root", "a", limits) == 0
        guard.failed("root", "a", limits)
    assert guard.locked_for("root", "a", limits) == 601
    assert guard.locked_for("root", "b", limits) == 0 and guard.locked_for("other", "a", limits) == 0
    clock.now += 300
    assert guard.locked_for("root", "a", limits) == 301  # asking again moved nothing
    clock.now += 300
    assert guard.locked_for("root", "a", limits) == 0


def test_a_success_or_an_unlock_clears_the_pair():
    guard, limits = Guard(Clock()), Limits(max_failures=1)
    guard.failed("root", "a", limits)
    guard.succeeded("root", "a")
    assert guard.locked_for("root", "a", limits) == 0
    guard.failed("root", "a", limits)
    assert guard.locked_for("root", "a", limits, lambda name: 0.0) > 0  # unlocked before the failure: still locked
    assert guard.locked_for("root", "a", limits, lambda name: 2_000_000.0) == 0
    assert guard.locked_for("root", "a", limits) == 0  # and forgotten


def test_the_lockout_counters_stay_bounded_in_memory(monkeypatch):
    monkeypatch.setattr(sign_ins, "MAX_TRACKED_PAIRS", 10)
    guard, limits = Guard(Clock()), Limits(max_failures=1)
    for n in range(50):
        guard.failed(f"user{n}", "a", limits)
    assert len(guard._failures) == 10
    assert guard.locked_for("user49", "a", limits) > 0 and guard.locked_for("user0", "a", limits) == 0


def test_a_refusal_is_noted_once_per_period():
    clock = Clock()
    guard = Guard(clock)
    assert [guard.first_refusal(("rate", "a"), 60) for _ in range(3)] == [True, False, False]
    clock.now += 61
    assert guard.first_refusal(("rate", "a"), 60) is True


@pytest.mark.parametrize(
    "remote, forwarded, hops, expected",
    [
        ("10.0.0.1", None, 0, "10.0.0.1"),
        ("10.0.0.1", "1.2.3.4", 0, "10.0.0.1"),  # not behind a trusted proxy: the header is the client's word
        ("10.0.0.1", "1.2.3.4", 1, "1.2.3.4"),
        ("10.0.0.1", "spoofed, 1.2.3.4", 1, "1.2.3.4"),  # only what the trusted proxy appended counts
        ("10.0.0.1", "spoofed, 1.2.3.4, 10.0.0.9", 2, "1.2.3.4"),
        ("10.0.0.1", "1.2.3.4", 2, "10.0.0.1"),  # fewer entries than proxies: not believable
        (None, None, 0, "unknown"),
    ],
)
def test_the_client_address_trusts_forwarded_for_only_as_far_as_configured(remote, forwarded, hops, expected):
    assert client_address(remote, forwarded, hops) == expected


def test_under_gevent_a_hash_runs_off_the_loop_while_other_greenlets_keep_running():
    script = textwrap.dedent("""
        from gevent import monkey
        monkey.patch_all()
        import hashlib, threading
        import gevent
        from janus.services.sign_ins import off_loop

        ticks, done = [], []
        def ticker():
            while not done:
                ticks.append(1)
                gevent.sleep(0.001)
        gevent.spawn(ticker)
        gevent.sleep(0)
        loop_thread = threading.get_ident()
        def work():
            hashlib.pbkdf2_hmac("sha256", b"pw", b"salt", 1_500_000)
            return threading.get_ident()
        before = len(ticks)
        worker_thread = off_loop(work)
        during = len(ticks) - before
        done.append(1)
        print(during, worker_thread != loop_thread)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    during, elsewhere = out.stdout.split()
    assert elsewhere == "True" and int(during) > 0


def test_without_gevent_the_hash_runs_in_the_calling_thread():
    import threading

    assert sign_ins.off_loop(threading.get_ident) == threading.get_ident()


def test_ending_sign_ins_reports_what_it_ended(app):
    # The counts come from the UPDATE's row count (Session.execute is typed as a Result without one).
    from janus.services import users as users_service

    with app.app_context():
        user = users_service.create_user(
            "setup", {"username": "ops", "password": "long enough password", "role": "admin"}
        )
        limits = Limits()
        portal = sign_ins.start(user["id"], limits)
        sign_ins.start(user["id"], limits, kind=sign_ins.API)
        sign_ins.start(user["id"], limits, kind=sign_ins.API)
        assert sign_ins.end("never issued") is False
        assert sign_ins.end(portal) is True
        assert sign_ins.end(portal) is False  # signing out twice is not an error, and ends nothing
        # An account change ends the rest (janus.services.users, which counts them the same way).
        assert users_service._end_sign_ins(user["id"]) == 2  # the API sign-ins; the portal one had ended
        assert users_service._end_sign_ins(user["id"]) == 0
