"""A real `mcp-gateway` server process (gunicorn + gevent workers) for tests."""

from __future__ import annotations

import subprocess
import tempfile
import threading

import requests

from tests.support.stdio import MCP_GATEWAY, gateway_env
from tests.support.waiting import free_port, wait_for


class GatewayServer:
    def __init__(self, database_path: str, *, probe: dict | None = None, **env: str | None) -> None:
        """`probe`: keyword arguments of the /healthz request that tells the server is up (a TLS
        gateway's CA as `verify`, a client certificate as `cert`)."""
        self.probe = probe or {}
        self.port = int(env.pop("PORT", 0)) or free_port()
        host = env.pop("HOST", "127.0.0.1")
        self.env = gateway_env(database_path, PORT=str(self.port), **env)
        if host is None:
            self.env.pop("HOST", None)  # the default bind (0.0.0.0); tests still connect to 127.0.0.1
        else:
            self.env["HOST"] = host
        self.env.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="janus-test-metrics-"))
        self.log_chunks: list[bytes] = []
        self.proc: subprocess.Popen | None = None
        self._pump_thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.env.get("TLS_CERT_PATH") else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def log(self) -> str:
        return b"".join(self.log_chunks).decode(errors="replace")

    def start(self, timeout: float = 30.0) -> GatewayServer:
        self.proc = subprocess.Popen([MCP_GATEWAY], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=self.env)
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()

        def healthy():
            if self.proc.poll() is not None:
                raise AssertionError(f"mcp-gateway exited with {self.proc.returncode}:\n{self.log}")
            return requests.get(self.url + "/healthz", timeout=1, **self.probe).status_code == 200

        wait_for(healthy, timeout=timeout, interval=0.1, what="mcp-gateway /healthz")
        return self

    def _pump(self) -> None:
        for chunk in self.proc.stdout:
            self.log_chunks.append(chunk)

    def stop(self) -> int:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._close_log_pipe()
        return self.proc.returncode if self.proc else 0

    def _close_log_pipe(self) -> None:
        """Close our end of the log pipe once the pump has read it to the end (else a ResourceWarning)."""
        if self.proc is None or self._pump_thread is None:
            return
        self._pump_thread.join(5)  # EOF comes when the server and all its workers are gone
        if not self._pump_thread.is_alive():  # never close a file another thread is reading
            self.proc.stdout.close()

    def __enter__(self) -> GatewayServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
