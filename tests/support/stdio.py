"""Drive a real `mcp-gateway -stdio` process line by line."""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
from pathlib import Path

MCP_GATEWAY = shutil.which("mcp-gateway") or str(Path(sys.executable).with_name("mcp-gateway"))
# One token hash key for the test process that seeds tokens and the gateways it starts (as replicas share
# TOKEN_HASH_KEY); tests/services/test_token_key.py covers the key file and vault paths with it unset.
TEST_TOKEN_HASH_KEY = "amFudXMtdGVzdC10b2tlbi1oYXNoLWtleS0zMmJ5dGU="


def gateway_env(database_path: str, token: str | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_GATEWAY_", "DATABASE_", "PROMETHEUS_"))}
    env.update(
        {
            "DATABASE_PATH": database_path,
            "VAULT_LOCAL_PATH": str(Path(database_path).with_name("secrets.json")),
            "ADMIN_PASSWORD": "admin-password-for-tests",
            "LOG_LEVEL": "INFO",
            "TOKEN_HASH_KEY": TEST_TOKEN_HASH_KEY,
            # Generous client limits: modules that poll or load a gateway test other things; the limits
            # themselves are tests/transports/test_rate_limits.py's (which sets its own).
            "MCP_RATE_PER_CLIENT": "5000",
            "MCP_BURST_PER_CLIENT": "5000",
        }
    )
    if token is not None:
        env["MCP_GATEWAY_TOKEN"] = token
    env.update(extra)
    return env


class StdioGateway:
    def __init__(self, env: dict[str, str], args: tuple[str, ...] = ("-stdio",)) -> None:
        self.proc = subprocess.Popen(
            [MCP_GATEWAY, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        self.lines: queue.Queue[bytes] = queue.Queue()
        self.stderr_chunks: list[bytes] = []
        self.stdout_done = threading.Event()  # set when the process closed stdout
        self._pumps = (
            threading.Thread(target=self._pump_stdout, daemon=True),
            threading.Thread(target=self._pump_stderr, daemon=True),
        )
        for pump in self._pumps:
            pump.start()

    def _pump_stdout(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line)
        self.stdout_done.set()

    def _pump_stderr(self) -> None:
        for chunk in self.proc.stderr:
            self.stderr_chunks.append(chunk)

    @property
    def stderr(self) -> str:
        return b"".join(self.stderr_chunks).decode(errors="replace")

    def send_raw(self, data: bytes) -> None:
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send(self, message: dict) -> None:
        self.send_raw(json.dumps(message).encode() + b"\n")

    def recv(self, timeout: float = 15.0) -> dict:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no response within {timeout}s; stderr:\n{self.stderr}") from None
        return json.loads(line)

    def request(self, method: str, params: dict | None = None, id: int = 1, timeout: float = 15.0) -> dict:
        message = {"jsonrpc": "2.0", "id": id, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)
        return self.recv(timeout)

    def close(self, timeout: float = 15.0) -> int:
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        self._close_output_pipes()
        return code

    def _close_output_pipes(self) -> None:
        """Close our ends of stdout and stderr once the pumps have read them to the end (else a ResourceWarning)."""
        for pump, pipe in zip(self._pumps, (self.proc.stdout, self.proc.stderr), strict=True):
            pump.join(5)
            if not pump.is_alive():  # never close a file another thread is reading
                pipe.close()

    def __enter__(self) -> StdioGateway:
        return self

    def __exit__(self, *exc) -> None:
        if self.proc.poll() is None:
            try:
                self.close(5)
                return
            except subprocess.TimeoutExpired:
                self.proc.wait(5)  # close() killed it
        try:
            self.proc.stdin.close()
        except OSError:  # the process is gone; nothing left to flush to
            pass
        self._close_output_pipes()
