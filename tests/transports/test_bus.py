"""The SSE message bus on real Unix sockets and the real PostgreSQL; two buses in one process act as two workers."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import uuid

import psycopg2
import pytest

from janus.transports.bus import Bus, Mailbox, create_bus
from janus.transports.bus.local import LocalSocketBus, default_runtime_dir
from janus.transports.bus.postgres import PAYLOAD_LIMIT, PostgresBus, dsn_from_uri, encode_payloads, split_utf8
from tests.conftest import _pg_engine_url
from tests.support.waiting import wait_for
from tests.transports.bus_worker import Worker, order

# -- fixtures -----------------------------------------------------------------------------


@pytest.fixture
def runtime_dir():
    # Not tmp_path: pytest's deep per-test paths can outgrow the Unix socket path limit.
    path = tempfile.mkdtemp(prefix="janus-bus-test-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _local_bus(runtime_dir: str) -> LocalSocketBus:
    bus = LocalSocketBus(runtime_dir=runtime_dir)
    bus.start()
    return bus


@pytest.fixture
def local_pair(runtime_dir):
    a, b = _local_bus(runtime_dir), _local_bus(runtime_dir)
    yield a, b
    a.close()
    b.close()


@pytest.fixture(scope="session")
def pg_uri(pg_database):
    """The URI of this test process's own database (tests/conftest.py: the bus channel is per database)."""
    return _pg_engine_url("public")


@pytest.fixture
def pg_pair(pg_uri):
    a, b = create_bus(pg_uri), create_bus(pg_uri)
    a.start()
    b.start()
    yield a, b
    a.close()
    b.close()


@pytest.fixture(params=["local", pytest.param("postgres", marks=pytest.mark.postgres)])
def pair(request):
    """Two started buses of one kind, like two workers (or replicas) of one deployment."""
    return request.getfixturevalue("local_pair" if request.param == "local" else "pg_pair")


def _pg_admin(pg_uri: str):
    conn = psycopg2.connect(dsn_from_uri(pg_uri))
    conn.autocommit = True
    return conn


def _round_trips(sender: Bus, receiver: Bus, count: int = 200) -> None:
    """`count` messages, each waited for before the next is sent; bench/bus_latency.py times the same loop."""
    mailbox = receiver.subscribe("round-trips")
    for i in range(count):
        message = json.dumps({"jsonrpc": "2.0", "id": i, "result": {"content": [{"type": "text", "text": "x" * 1000}]}})
        assert sender.publish(receiver.node, "round-trips", message)
        assert mailbox.get(timeout=10) == message


# -- the mailbox ----------------------------------------------------------------------------


def test_mailbox_get_answers_none_on_timeout():
    assert Mailbox("k").get(timeout=0.01) is None


def test_full_mailbox_drops_the_oldest_message():
    mailbox = Mailbox("k", maxsize=3)
    for i in range(5):
        assert mailbox.put(str(i))
    assert [mailbox.get(timeout=0) for _ in range(3)] == ["2", "3", "4"]
    assert mailbox.dropped == 2


def test_a_mailbox_past_its_byte_cap_drops_everything_closes_and_says_so():
    overflowed = []
    mailbox = Mailbox("k", max_bytes=100, on_overflow=overflowed.append)
    assert mailbox.put("a" * 60) and mailbox.queued_bytes == 60
    assert not mailbox.put("b" * 60)  # 120 > 100: the reader has fallen behind
    assert mailbox.overflowed and mailbox.closed and mailbox.queued_bytes == 0
    assert overflowed == [mailbox]
    assert mailbox.get(timeout=0) is None
    assert not mailbox.put("c")


def test_an_empty_mailbox_takes_one_message_larger_than_its_byte_cap():
    mailbox = Mailbox("k", max_bytes=100)
    assert mailbox.put("a" * 500)  # a reader keeping up still gets a result larger than the cap
    assert mailbox.get(timeout=0) == "a" * 500 and mailbox.queued_bytes == 0
    assert mailbox.put("b" * 80) and mailbox.put("c" * 20) and not mailbox.overflowed


def test_closing_a_mailbox_wakes_its_waiting_reader():
    mailbox = Mailbox("k")
    results = []
    reader = threading.Thread(target=lambda: results.append(mailbox.get(timeout=30)))
    reader.start()
    mailbox.close()
    reader.join(timeout=10)
    assert results == [None] and mailbox.closed
    assert not mailbox.put("late")


def test_subscribe_replaces_and_ends_the_previous_mailbox(local_pair):
    a, _ = local_pair
    first = a.subscribe("s")
    second = a.subscribe("s")
    assert first.closed and not second.closed
    first.close()  # the old stream unwinding must not detach its successor
    assert a.publish(a.node, "s", "hello")
    assert second.get(timeout=5) == "hello"


# -- choosing a carrier ---------------------------------------------------------------------


def test_create_bus_picks_the_carrier_from_the_database_uri():
    assert isinstance(create_bus("sqlite:////srv/janus.db"), LocalSocketBus)
    bus = create_bus("postgresql+psycopg2://u:p@db:5432/janus?options=-csearch_path%3Djanus")
    assert isinstance(bus, PostgresBus) and isinstance(bus, Bus)
    assert bus.dsn == "postgresql://u:p@db:5432/janus?options=-csearch_path%3Djanus"
    assert len(bus.node) == 32
    with pytest.raises(ValueError):
        create_bus("mysql://db/janus")


def test_default_runtime_dir_is_private_and_named_after_the_database():
    uri = f"sqlite:////tmp/janus-{uuid.uuid4().hex}.db"
    bus = create_bus(uri)
    try:
        bus.start()
        directory = default_runtime_dir(uri)
        assert os.path.basename(directory).startswith("janus-bus-") and len(os.path.basename(directory)) == 22
        assert os.path.dirname(bus.node) == directory and os.path.exists(bus.node)
        assert os.stat(directory).st_mode & 0o777 == 0o700
    finally:
        bus.close()
        shutil.rmtree(default_runtime_dir(uri), ignore_errors=True)


def test_runtime_dir_too_long_for_a_socket_path_is_refused():
    with pytest.raises(ValueError, match="too long"):
        LocalSocketBus(runtime_dir="/tmp/" + "d" * 120)


# -- delivery (both carriers) ---------------------------------------------------------------


def test_publish_to_own_node_puts_directly_and_knows_unknown_keys(pair):
    a, _ = pair
    mailbox = a.subscribe("s1")
    assert a.publish(a.node, "s1", "hello")
    assert mailbox.get(timeout=5) == "hello"
    assert a.publish(a.node, "nobody", "hello") is False


def test_publish_reaches_a_mailbox_on_another_node(pair):
    a, b = pair
    mailbox = b.subscribe("s1")
    assert a.publish(b.node, "s1", '{"jsonrpc":"2.0","id":1,"result":{}}')
    assert mailbox.get(timeout=10) == '{"jsonrpc":"2.0","id":1,"result":{}}'


def test_a_2_mib_message_arrives_whole(pair):
    a, b = pair
    mailbox = b.subscribe("big")
    message = json.dumps({"text": ("héllo wörld ✓ " * 160_000)[: 2 * 1024 * 1024]})
    assert a.publish(b.node, "big", message)
    assert mailbox.get(timeout=30) == message


def test_many_messages_arrive_inorder(pair):
    a, b = pair
    mailbox = b.subscribe("seq")
    for i in range(500):
        assert a.publish(b.node, "seq", str(i))
    assert [mailbox.get(timeout=10) for _ in range(500)] == [str(i) for i in range(500)]


def test_concurrent_publishers_deliver_everything_in_per_senderorder(pair):
    a, b = pair
    mailbox = b.subscribe("many")
    senders, per_sender = 8, 50
    # Some messages are chunked on PostgreSQL, so reassembly runs with publishers racing.
    big = "y" * 20_000
    failures = []

    def send(sender: int) -> None:
        for i in range(per_sender):
            if not a.publish(b.node, "many", json.dumps([sender, i, big if i % 10 == 0 else ""])):
                failures.append((sender, i))

    threads = [threading.Thread(target=send, args=(s,)) for s in range(senders)]
    for thread in threads:
        thread.start()
    received = [json.loads(mailbox.get(timeout=30)) for _ in range(senders * per_sender)]
    for thread in threads:
        thread.join(timeout=30)
    assert failures == []
    for sender in range(senders):
        assert [i for s, i, _ in received if s == sender] == list(range(per_sender))


def test_publish_does_not_reach_a_different_key(pair):
    a, b = pair
    other = b.subscribe("other")
    a.publish(b.node, "nobody", "lost")
    assert a.publish(b.node, "other", "marker")
    # Delivery is in order, so once the marker is here the first message was handled (and dropped).
    assert other.get(timeout=10) == "marker"


def test_two_hundred_round_trips_all_arrive(pair):
    a, b = pair
    _round_trips(a, b)


# -- the local carrier ------------------------------------------------------------------------


def test_publish_to_an_unknown_key_on_another_node_answers_false(local_pair):
    a, b = local_pair
    assert a.publish(b.node, "nobody", "hello") is False


def test_publish_to_a_closed_node_answers_false(local_pair):
    a, b = local_pair
    b.subscribe("s1")
    b.close()
    assert a.publish(b.node, "s1", "hello") is False


def test_publish_outside_the_runtime_dir_is_refused_without_connecting(local_pair):
    a, _ = local_pair
    assert a.publish("/var/run/docker.sock", "s1", "hello") is False


def test_close_removes_the_socket_file_stops_the_listener_and_ends_streams(runtime_dir):
    bus = _local_bus(runtime_dir)
    mailbox = bus.subscribe("s1")
    listener = bus._thread
    assert os.path.exists(bus.node)
    bus.close()
    assert not os.path.exists(bus.node)
    assert not listener.is_alive()
    assert mailbox.get(timeout=5) is None and mailbox.closed
    bus.close()  # idempotent


def test_stale_socket_file_of_a_dead_process_is_swept_and_harmless(runtime_dir):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(timeout=10)
    stale = os.path.join(runtime_dir, f"{dead.pid}-deadbeef.sock")
    crashed = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    crashed.bind(stale)
    crashed.listen(1)
    crashed.close()  # like a crash: the file stays, nobody accepts
    sender = LocalSocketBus(runtime_dir=runtime_dir)  # not started: publishing needs no listener
    assert sender.publish(stale, "s1", "hello") is False
    bus = _local_bus(runtime_dir)
    try:
        assert not os.path.exists(stale)
        mailbox = bus.subscribe("s1")
        assert sender.publish(bus.node, "s1", "hello")
        assert mailbox.get(timeout=5) == "hello"
    finally:
        bus.close()


@pytest.mark.parametrize("mode", ["threads", "gevent"])
def test_cross_process_delivery_both_ways(runtime_dir, mode):
    here = _local_bus(runtime_dir)
    worker = Worker("sqlite:///unused.db", runtime_dir, mode)
    try:
        assert worker.hello["gevent"] is (mode == "gevent")
        replies = here.subscribe("replies")
        body = json.dumps({"result": "z" * (1024 * 1024)})  # 1 MiB each way
        assert here.publish(worker.node, "echo", order("echo", node=here.node, key="replies", body=body))
        assert replies.get(timeout=30) == body
        assert worker.read_line() == {"echoed": True}
        # The worker may exit on "quit" before its ack is written, so the answer here can be
        # either; the clean exit below is what this checks.
        here.publish(worker.node, "echo", order("quit"))
        assert worker.proc.wait(timeout=20) == 0
        assert not os.path.exists(worker.node)  # close() at exit removed its socket file
        assert here.publish(worker.node, "echo", "anyone?") is False
    finally:
        worker.stop()
        here.close()


def test_publish_to_a_killed_process_answers_false_and_its_file_is_swept(runtime_dir):
    here = _local_bus(runtime_dir)
    worker = Worker("sqlite:///unused.db", runtime_dir, "threads")
    try:
        worker.proc.send_signal(signal.SIGKILL)
        worker.proc.wait(timeout=10)
        assert os.path.exists(worker.node)  # a crash leaves the file behind
        assert here.publish(worker.node, "echo", order("quit")) is False
        later = _local_bus(runtime_dir)
        later.close()
        assert not os.path.exists(worker.node)
    finally:
        worker.stop()
        here.close()


# -- the PostgreSQL carrier -------------------------------------------------------------------


def test_dsn_from_uri_drops_the_driver_and_keeps_options():
    uri = "postgresql+psycopg2://u@h:5/d?options=-csearch_path%3Ds"
    assert dsn_from_uri(uri) == "postgresql://u@h:5/d?options=-csearch_path%3Ds"
    assert dsn_from_uri("postgres://u@h/d") == "postgresql://u@h/d"
    with pytest.raises(ValueError):
        dsn_from_uri("sqlite:///x.db")


def test_split_utf8_never_cuts_a_character():
    text = "a€🙂" * 1000
    chunks = split_utf8(text.encode("utf-8"), 7)
    assert "".join(chunks) == text
    assert all(len(c.encode("utf-8")) <= 7 for c in chunks)


def test_a_100_kb_message_is_chunked_under_the_notify_limit():
    message = "ä€🙂x" * 10_000  # multi-byte characters straddle chunk borders
    payloads = encode_payloads(uuid.uuid4().hex, "session", message)
    assert len(payloads) > 10
    assert all(len(p.encode("utf-8")) <= PAYLOAD_LIMIT for p in payloads)
    assert len({p.split("\n", 2)[1] for p in payloads}) == len(payloads)  # distinct: PostgreSQL folds duplicates


@pytest.mark.postgres
def test_a_100_kb_message_is_reassembled_from_its_chunks(pg_pair):
    a, b = pg_pair
    mailbox = b.subscribe("chunks")
    message = json.dumps({"text": "ä€🙂x" * 10_000})
    assert len(message.encode("utf-8")) > 100_000
    assert a.publish(b.node, "chunks", message)
    assert mailbox.get(timeout=10) == message


@pytest.mark.postgres
def test_unknown_key_or_gone_node_cannot_be_confirmed_by_postgres(pg_pair):
    a, b = pg_pair
    assert a.publish(b.node, "nobody", "hello") is True
    assert a.publish(uuid.uuid4().hex, "s1", "hello") is True


@pytest.mark.postgres
def test_listener_reconnects_after_its_backend_is_terminated(pg_pair, pg_uri, caplog):
    caplog.set_level(logging.WARNING, logger="janus.transports.bus.postgres")
    a, b = pg_pair
    mailbox = b.subscribe("s1")
    old_pid = b.listener_backend_pid
    with _pg_admin(pg_uri) as admin, admin.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(%s)", (old_pid,))
        assert cur.fetchone()[0] is True
    admin.close()
    wait_for(lambda: b.listener_backend_pid != old_pid, timeout=20, what="a new listener connection")
    # Messages sent while the listener was away are lost by design; probe until one arrives.
    probes = iter(range(10_000))
    got = wait_for(
        lambda: a.publish(b.node, "s1", f"probe-{next(probes)}") and mailbox.get(timeout=0.2),
        timeout=20,
        what="delivery after reconnect",
    )
    assert got.startswith("probe-")
    assert "bus listener lost its PostgreSQL connection" in caplog.text
    assert "bus listener reconnected" in caplog.text


@pytest.mark.postgres
def test_close_ends_the_listening_session_and_its_streams(pg_uri):
    bus = create_bus(pg_uri)
    bus.start()
    bus.start()  # idempotent
    mailbox = bus.subscribe("s1")
    pid = bus.listener_backend_pid
    bus.close()
    assert mailbox.get(timeout=5) is None
    admin = _pg_admin(pg_uri)
    try:

        def gone():
            with admin.cursor() as cur:
                cur.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,))
                return cur.fetchone()[0] == 0

        wait_for(gone, timeout=10, what="the listener session to end")
    finally:
        admin.close()


@pytest.mark.postgres
@pytest.mark.parametrize("mode", ["threads", "gevent"])
def test_cross_process_delivery_through_postgres(pg_uri, mode):
    here = create_bus(pg_uri)
    here.start()
    worker = Worker(pg_uri, "", mode)
    try:
        assert worker.hello["gevent"] is (mode == "gevent")
        replies = here.subscribe("replies")
        body = json.dumps({"result": "€" * 50_000})  # chunked each way
        assert here.publish(worker.node, "echo", order("echo", node=here.node, key="replies", body=body))
        assert replies.get(timeout=30) == body
        assert worker.read_line() == {"echoed": True}
        # The worker may exit on "quit" before its ack is written, so the answer here can be
        # either; the clean exit below is what this checks.
        here.publish(worker.node, "echo", order("quit"))
        assert worker.proc.wait(timeout=20) == 0
    finally:
        worker.stop()
        here.close()


# -- is a node alive? -------------------------------------------------------------------------


def test_a_node_is_alive_while_its_bus_runs_and_not_once_it_closed(pair):
    a, b = pair
    assert a.node_alive(a.node) and a.node_alive(b.node)
    b.close()
    # PostgreSQL: b's listening session goes with its connection (a remembers "alive" for a moment).
    wait_for(lambda: not a.node_alive(b.node), what="the closed node to count as gone")


@pytest.mark.postgres
def test_a_killed_process_is_not_alive_on_postgresql(pg_uri, runtime_dir):
    here = create_bus(pg_uri)
    here.start()
    worker = Worker(pg_uri, runtime_dir, "threads")
    try:
        assert here.node_alive(worker.node)
        worker.proc.send_signal(signal.SIGKILL)  # no cleanup at all: only its connection closing tells
        worker.proc.wait(timeout=10)
        wait_for(lambda: not here.node_alive(worker.node), what="the killed process to count as gone")
        assert here.node_alive(here.node)
    finally:
        worker.stop()
        here.close()


@pytest.mark.postgres
def test_a_node_missing_once_is_asked_again_before_it_counts_as_gone(pg_pair, monkeypatch):
    """A listener reconnecting after a network blip is briefly without its session: not dead."""
    import janus.transports.bus.postgres as bus_postgres

    a, b = pg_pair
    answers = iter([False, True])
    monkeypatch.setattr(bus_postgres, "ALIVE_RECHECK_SECONDS", 0.01)
    monkeypatch.setattr(a, "_has_listener", lambda node: next(answers))
    assert a.node_alive(b.node)
