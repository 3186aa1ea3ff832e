"""/healthz latency while a login flood hits one gunicorn+gevent worker (issue 10, item 5).

Starts a real `mcp-gateway` (WEB_CONCURRENCY=1) on 127.0.0.1 with a fresh SQLite
database, measures /healthz alone, then again while CLIENTS threads post logins
with random usernames to /api/v1/login as fast as they can for SECONDS. Every
loop is bounded in count and time. Prints one JSON line.

    PYTHONPATH=$PWD .venv/bin/python bench/login_flood.py [--clients 8] [--seconds 8] [--rate 20]

`--rate` sets LOGIN_RATE_PER_IP (0 disables the per-address limit, which shows
the off-loop hashing alone). Run it with PYTHONPATH pointing at another checkout
to measure that code (an older gateway ignores the settings it does not know).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

GATEWAY = shutil.which("mcp-gateway", path=str(Path(sys.executable).parent)) or "mcp-gateway"
MAX_REQUESTS_PER_CLIENT = 5_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _probe(url: str, stop: threading.Event, deadline: float, out: list[float]) -> None:
    with requests.Session() as http:
        while not stop.is_set() and time.monotonic() < deadline and len(out) < 100_000:
            started = time.perf_counter()
            assert http.get(url + "/healthz", timeout=30).status_code == 200
            out.append((time.perf_counter() - started) * 1000)
            time.sleep(0.01)


def _flood(url: str, deadline: float, statuses: dict[int, int], lock: threading.Lock) -> None:
    with requests.Session() as http:
        for _ in range(MAX_REQUESTS_PER_CLIENT):
            if time.monotonic() >= deadline:
                return
            body = {"username": "u" + secrets.token_hex(6), "password": secrets.token_hex(8)}
            status = http.post(url + "/api/v1/login", json=body, timeout=60).status_code
            with lock:
                statuses[status] = statuses.get(status, 0) + 1


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered), 1),
        "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1], 1),
        "max_ms": round(ordered[-1], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rate", type=int, default=20, help="LOGIN_RATE_PER_IP for the gateway (0: no limit)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="janus-login-flood-"))
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_PATH": str(tmp / "janus.db"),
        "VAULT_LOCAL_PATH": str(tmp / "secrets.json"),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "LOG_LEVEL": "WARNING",
        "ADMIN_PASSWORD": "bench-admin-password",
        "LOGIN_RATE_PER_IP": str(args.rate),
        "JWT_SECRET": secrets.token_urlsafe(32),
    }
    proc = subprocess.Popen([GATEWAY], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("the gateway did not start")
            time.sleep(0.1)
        idle: list[float] = []
        _probe(url, threading.Event(), time.monotonic() + 2.0, idle)

        statuses: dict[int, int] = {}
        lock, stop = threading.Lock(), threading.Event()
        flood_deadline = time.monotonic() + args.seconds
        flooders = [
            threading.Thread(target=_flood, args=(url, flood_deadline, statuses, lock)) for _ in range(args.clients)
        ]
        for thread in flooders:
            thread.start()
        busy: list[float] = []
        prober = threading.Thread(target=_probe, args=(url, stop, flood_deadline, busy))
        prober.start()
        for thread in flooders:
            thread.join(args.seconds + 120)
        stop.set()
        prober.join(60)
        print(
            json.dumps(
                {
                    "clients": args.clients,
                    "seconds": args.seconds,
                    "rate_per_ip": args.rate,
                    "healthz_idle": _summary(idle),
                    "healthz_during_flood": _summary(busy),
                    "login_statuses": {str(k): v for k, v in sorted(statuses.items())},
                }
            )
        )
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
