"""A real `mcp-gateway` server process (gunicorn + gevent workers) for tests."""

from __future__ import annotations

import socket
import subprocess
import tempfile
import threading

import requests

from tests.support.stdio import MCP_GATEWAY, gateway_env
from tests.support.waiting import wait_for

# gunicorn takes a listening socket handed over the way systemd's socket activation does: fd 3, with
# LISTEN_FDS and LISTEN_PID (the pid of the process that becomes gunicorn). The shell learns its own pid
# ($$), which `exec` keeps through mcp-gateway to gunicorn, moves the socket from stdin to fd 3 and
# gives the gateway an empty stdin.
_SOCKET_ACTIVATED = 'LISTEN_PID=$$ LISTEN_FDS=1; export LISTEN_PID LISTEN_FDS; exec "$0" "$@" 3<&0 0</dev/null'


def listening_socket(host: str, port: int = 0) -> socket.socket:
    """A TCP socket listening on host:port (port 0: one the kernel picks that nobody else holds)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn's own bind: a restart's TIME_WAIT
        sock.bind((host, port))
        sock.listen(2048)  # gunicorn's default backlog
    except BaseException:
        sock.close()
        raise
    return sock


class GatewayServer:
    """One `mcp-gateway` server process on its own port.

    The port is never chosen by binding a free one, closing it and telling the gateway its number: in
    between, any other process (another xdist worker's gateway, an outgoing connection) may take it. The
    test process binds the socket (port 0 unless PORT names one, as a restart on the same port does) and
    hands the bound, listening socket to gunicorn; it keeps no copy once the gateway has it, so when the
    gateway stops, nothing listens there any more, as before.
    """

    def __init__(
        self,
        database_path: str,
        *,
        probe: dict | None = None,
        listener: socket.socket | None = None,
        executable: str = MCP_GATEWAY,
        cwd: str | None = None,
        **env: str | None,
    ) -> None:
        """`probe`: keyword arguments of the /healthz request that tells the server is up (a TLS
        gateway's CA as `verify`, a client certificate as `cert`). `listener`: a socket from
        `listening_socket`, for a test that must name the port in the settings (PUBLIC_URL, an IdP's
        redirect URI) before the gateway starts; the first start hands it over (and closes this copy).
        `executable` and `cwd`: another installation's `mcp-gateway` (tests/test_packaging.py's fresh
        virtualenv), run away from the checkout, whose janus/ would otherwise come first on sys.path."""
        self.probe = probe or {}
        self.executable = executable
        self.cwd = cwd
        self._listener = listener
        if listener is not None:
            env.setdefault("PORT", str(listener.getsockname()[1]))
        self.requested_port = int(env.pop("PORT", 0) or 0)
        host = env.pop("HOST", "127.0.0.1")
        # The default bind (HOST unset: 0.0.0.0) is the address of the handed socket; tests still connect to
        # 127.0.0.1, and the gateway's configuration (its Host allow-list) is the shipped one.
        self.bind_host = host or "0.0.0.0"  # noqa: S104 - the default bind under test
        self.port = self.requested_port  # the real one once started
        self.env = gateway_env(database_path, PORT=str(self.port), **env)
        if host is None:
            self.env.pop("HOST", None)
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

    def start(self, timeout: float = 60.0) -> GatewayServer:
        # Started again (a restart): the same port as the first time.
        listener, self._listener = self._listener, None
        with listener if listener is not None else listening_socket(self.bind_host, self.port) as listener:
            self.port = listener.getsockname()[1]
            self.env["PORT"] = str(self.port)  # the app's own idea of its port (the demo mock's URL)
            self.proc = subprocess.Popen(
                ["/bin/sh", "-c", _SOCKET_ACTIVATED, self.executable],
                stdin=listener.fileno(),
                cwd=self.cwd,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=self.env,
            )
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()

        def healthy():
            if self.proc.poll() is not None:
                raise AssertionError(f"mcp-gateway exited with {self.proc.returncode}:\n{self.log}")
            return requests.get(self.url + "/healthz", timeout=1, **self.probe).status_code == 200

        try:
            wait_for(healthy, timeout=timeout, interval=0.1, what="mcp-gateway /healthz")
        except AssertionError as exc:
            # Say why: a start that hangs (a lock, a worker that never boots) shows in the server's own log.
            raise AssertionError(f"{exc}\n--- mcp-gateway log (last 4000 characters) ---\n{self.log[-4000:]}") from None
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
