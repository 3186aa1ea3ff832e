"""A raw HTTP upstream on 127.0.0.1 that holds each request open and records when its client hangs up.

The werkzeug upstream (upstream.py) cannot tell a test that the gateway closed a connection while a
handler waits; cancellation tests need exactly that: "the upstream sees the connection closed".
Each request is read, recorded by path, and held until the test releases it (then answered 200 with a
JSON body) or the gateway closes the connection (recorded in `hung_up`).
"""
from __future__ import annotations

import json
import select
import socket
import threading

from tests.support.waiting import wait_for


class HangingUpstream:
    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self.arrived: list[str] = []  # request paths, in arrival order
        self.hung_up: list[str] = []  # paths whose connection the gateway closed before the answer
        self.answered: list[str] = []
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._stopped.set()
        self.release.set()
        self._server.close()

    def wait_arrived(self, path: str, timeout: float = 15.0) -> None:
        wait_for(lambda: path in self.arrived, timeout=timeout, what=f"the upstream to receive {path}")

    def wait_hung_up(self, path: str, timeout: float = 15.0) -> None:
        wait_for(lambda: path in self.hung_up, timeout=timeout, what=f"the gateway to close the connection of {path}")

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            while True:  # keep-alive: one connection may carry several requests
                path = self._read_request(conn)
                if path is None:
                    return
                with self._lock:
                    self.arrived.append(path)
                if not self._hold(conn):
                    with self._lock:
                        self.hung_up.append(path)
                    return
                body = json.dumps({"path": path, "late": True}).encode()
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                             + str(len(body)).encode() + b"\r\n\r\n" + body)
                with self._lock:
                    self.answered.append(path)

    @staticmethod
    def _read_request(conn: socket.socket) -> str | None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        length = next((int(line.split(":", 1)[1]) for line in lines[1:] if line.lower().startswith("content-length:")), 0)
        while len(rest) < length:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            rest += chunk
        return lines[0].split(" ")[1].split("?", 1)[0]

    def _hold(self, conn: socket.socket) -> bool:
        """Wait for the release; False when the gateway closed the connection first."""
        while not self.release.is_set():
            readable, _, _ = select.select([conn], [], [], 0.05)
            if readable:
                try:
                    if conn.recv(1, socket.MSG_PEEK) == b"":
                        return False
                except OSError:
                    return False
        return True
