"""A second process on the bus, for tests, and `Worker`, which drives it from a test.

Run as `python bus_worker.py DATABASE_URI RUNTIME_DIR threads|gevent`: like a gunicorn
gevent worker it patches first (gevent mode), then starts a bus, subscribes the key
"echo" and prints one JSON line: {"node", "pid", "gevent"}. Each message to "echo" is
a JSON order: {"op": "echo", "node", "key", "body"} publishes body back to node/key
(then prints {"echoed": <publish result>}); {"op": "quit"} closes the bus and exits 0.
It also exits after IDLE_EXIT seconds without an order, so a failed test never
leaves it behind.
"""

import sys

if __name__ == "__main__" and sys.argv[3] == "gevent":
    from gevent import monkey

    monkey.patch_all()
    from psycogreen.gevent import patch_psycopg

    patch_psycopg()

import json
import os
import queue
import subprocess
import threading
import time
from pathlib import Path

IDLE_EXIT = 60.0
REPO = Path(__file__).resolve().parents[2]


class Worker:
    """This script in its own process: a real second worker."""

    def __init__(self, database_uri: str, runtime_dir: str, mode: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, database_uri, runtime_dir, mode],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            cwd=REPO,
        )
        self._lines: queue.Queue[bytes] = queue.Queue()
        self._stderr: list[bytes] = []
        self._pumps = (
            threading.Thread(target=lambda: [self._lines.put(line) for line in self.proc.stdout], daemon=True),
            threading.Thread(target=lambda: self._stderr.extend(self.proc.stderr), daemon=True),
        )
        for pump in self._pumps:
            pump.start()
        self.hello = self.read_line()
        self.node = self.hello["node"]

    def read_line(self, timeout: float = 20.0) -> dict:
        try:
            return json.loads(self._lines.get(timeout=timeout))
        except queue.Empty:
            raise AssertionError(
                f"bus worker said nothing; stderr: {b''.join(self._stderr).decode()[-2000:]}"
            ) from None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        # Our ends of its pipes, once the pumps have read them to the end (else a ResourceWarning).
        for pump, pipe in zip(self._pumps, (self.proc.stdout, self.proc.stderr), strict=True):
            pump.join(5)
            if not pump.is_alive():  # never close a file another thread is reading
                pipe.close()


def order(op: str, **fields) -> str:
    return json.dumps({"op": op, **fields})


def main(database_uri: str, runtime_dir: str, mode: str) -> int:
    from janus.transports.bus import create_bus

    bus = create_bus(database_uri, runtime_dir=runtime_dir or None)
    bus.start()
    mailbox = bus.subscribe("echo")
    patched = mode == "gevent" and monkey.is_module_patched("threading")
    print(json.dumps({"node": bus.node, "pid": os.getpid(), "gevent": patched}), flush=True)
    idle_until = time.monotonic() + IDLE_EXIT
    try:
        while time.monotonic() < idle_until:
            raw = mailbox.get(timeout=1.0)
            if raw is None:
                continue
            idle_until = time.monotonic() + IDLE_EXIT
            message = json.loads(raw)
            if message["op"] == "quit":
                return 0
            delivered = bus.publish(message["node"], message["key"], message["body"])
            print(json.dumps({"echoed": delivered}), flush=True)
        return 3
    finally:
        bus.close()


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
