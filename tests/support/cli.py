"""Drive the real `mcp-cli` console script, and talk MCP over /mcp to check what its changes did."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.support.http_gateway import initialize, mcp_headers

MCP_CLI = shutil.which("mcp-cli") or str(Path(sys.executable).with_name("mcp-cli"))
ADMIN_PASSWORD = "admin-password-for-tests"  # what tests/support/stdio.py gateway_env sets
PROTOCOL = "2025-11-25"


@dataclass
class Cli:
    """`mcp-cli` with its own HOME, so every test starts logged out and never touches the real ~/.config."""

    home: Path
    xdg: bool = True  # set XDG_CONFIG_HOME (to <home>/xdg) or leave it unset so ~/.config is used

    @property
    def config_dir(self) -> Path:
        return (self.home / "xdg" if self.xdg else self.home / ".config") / "mcp-gateway"

    @property
    def cache_file(self) -> Path:
        return self.config_dir / "cli.json"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_GATEWAY_", "MCP_CLI_", "XDG_"))}
        env["HOME"] = str(self.home)
        if self.xdg:
            env["XDG_CONFIG_HOME"] = str(self.home / "xdg")
        env.update(extra)
        return env

    def run(
        self,
        *args: str,
        input: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 120,
        cwd: Path | None = None,
    ) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [MCP_CLI, *args],
            input=input if input is not None else "",
            capture_output=True,
            text=True,
            env=self.env(**(env or {})),
            timeout=timeout,
            cwd=cwd,
        )
        assert "Traceback" not in result.stderr, result.stderr
        return result

    def ok(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        result = self.run(*args, **kwargs)
        assert result.returncode == 0, f"mcp-cli {' '.join(args)} exited {result.returncode}:\n{result.stderr}"
        return result

    def shell(self, script: str, input: str | None = None) -> subprocess.CompletedProcess:
        """Run a README walk-through as written: `./mcp-cli` is the installed console script."""
        result = subprocess.run(
            ["bash", "-ec", script.replace("./mcp-cli", MCP_CLI)],
            input=input or "",
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=120,
        )
        assert "Traceback" not in result.stderr, result.stderr
        assert result.returncode == 0, f"script exited {result.returncode}:\n{script}\n{result.stderr}"
        return result

    def login(self, addr: str, username: str = "admin", password: str = ADMIN_PASSWORD) -> subprocess.CompletedProcess:
        return self.ok("login", username, "--addr", addr, input=password + "\n")

    def json(self, *args: str):
        return json.loads(self.ok("--json", *args).stdout)


# -- MCP over Streamable HTTP ------------------------------------------------------


def _rpc(url: str, token: str, session_id: str, method: str, params: dict | None, id: int) -> dict:
    body = {"jsonrpc": "2.0", "id": id, "method": method, **({"params": params} if params is not None else {})}
    response = requests.post(
        url + "/mcp",
        data=json.dumps(body),
        timeout=30,
        headers=mcp_headers(token, **{"Mcp-Session-Id": session_id, "MCP-Protocol-Version": PROTOCOL}),
    )
    assert response.status_code == 200, response.text
    if response.headers.get("Content-Type", "").startswith("text/event-stream"):
        for line in response.text.splitlines():
            if line.startswith("data:"):
                message = json.loads(line[5:])
                if message.get("id") == id:
                    return message
        raise AssertionError(f"no answer to request {id} in the stream:\n{response.text}")
    return response.json()


def tool_names(url: str, token: str) -> list[str]:
    session_id = initialize(url, token, PROTOCOL)
    names, cursor, page = [], None, 1
    while True:
        answer = _rpc(url, token, session_id, "tools/list", {"cursor": cursor} if cursor else None, page + 1)
        names += [tool["name"] for tool in answer["result"]["tools"]]
        cursor = answer["result"].get("nextCursor")
        if not cursor:
            return sorted(names)
        page += 1


def call_tool(url: str, token: str, name: str, arguments: dict) -> dict:
    """The whole JSON-RPC answer to tools/call (`result` or `error`)."""
    session_id = initialize(url, token, PROTOCOL)
    return _rpc(url, token, session_id, "tools/call", {"name": name, "arguments": arguments}, 2)
