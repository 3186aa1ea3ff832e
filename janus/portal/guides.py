"""Guides (figures "docs gateway guide" and "docs integration guide"): how to connect clients, the CLI, settings.

Every snippet is filled in with this installation's real values (its URLs, the path of its own
`mcp-gateway` command, its database and vault) so it can be copied as is; the client token is
always a placeholder, never a real value.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from flask import current_app
from flask_login import login_required

from janus.portal.blueprint import bp
from janus.portal.rendering import render
from janus.portal.urls import gateway_urls
from janus.services import vault_keys

TEMPLATE = "portal/guides/index.html"
TOKEN_PLACEHOLDER = "<client token>"  # noqa: S105 - text shown in place of a token
SERVER_NAME = "api-gateway"  # the key README.md uses for Claude Desktop


@bp.get("/guides")
@login_required
def guides():
    urls, env = gateway_urls(), _stdio_env()
    return render(
        TEMPLATE,
        urls=urls,
        token=TOKEN_PLACEHOLDER,
        snippets=_json_snippets(urls, env),
        command=str(mcp_gateway_command()),
        settings=_settings(env),
    )


def mcp_gateway_command() -> Path:
    """The `mcp-gateway` console script installed beside the interpreter running this gateway."""
    return Path(sys.executable).with_name("mcp-gateway")


def _json_snippets(urls: dict[str, str], env: dict[str, str]) -> dict[str, str]:
    """The JSON files, made with json.dumps so a path with a quote or backslash still gives valid JSON."""
    claude_desktop = {
        "mcpServers": {
            SERVER_NAME: {
                "command": str(mcp_gateway_command()),
                "args": ["-stdio"],
                "env": env,
            }
        }
    }
    # An input variable: VS Code asks for the token once and keeps it in its secret storage, so the
    # file holds no secret and can be committed with the project.
    vscode = {
        "inputs": [
            {"type": "promptString", "id": "janus-token", "description": "Janus client token", "password": True}
        ],
        "servers": {
            "janus": {"type": "http", "url": urls["mcp"], "headers": {"Authorization": "Bearer ${input:janus-token}"}}
        },
    }
    return {
        name: json.dumps(value, indent=2) for name, value in (("claude_desktop", claude_desktop), ("vscode", vscode))
    }


def _stdio_env() -> dict[str, str]:
    """What a `mcp-gateway -stdio` process needs to open this gateway's database and vault (no secret values)."""
    cfg = current_app.config
    env: dict[str, str] = {}
    uri = str(cfg.get("SQLALCHEMY_DATABASE_URI") or "")
    if cfg.get("DATABASE_KIND") == "sqlite" and uri.startswith("sqlite:///"):
        env["DATABASE_PATH"] = uri.removeprefix("sqlite:///")
    else:
        env["DATABASE_URL"] = "<this gateway's DATABASE_URL>"  # it holds the database password
    vault = vault_keys.provider_info()
    env["VAULT_PROVIDER"] = vault["provider"]
    for item in vault["settings"]:
        name, value = item["name"], item["value"]
        if name == "VAULT_LOCAL_PATH":
            env[name] = str(Path(value or "./secrets.json").expanduser().resolve())  # the process starts elsewhere
        elif name.isupper() and value and "…" not in value:  # a URL with its userinfo cut off is not usable
            env[name] = value
    if str(cfg.get("VAULT_ENCRYPTION_KEY") or "").strip():
        env["VAULT_ENCRYPTION_KEY"] = "<this gateway's VAULT_ENCRYPTION_KEY>"
    if str(cfg.get("TOKEN_HASH_KEY") or "").strip():  # without it the stdio process refuses to start
        env["TOKEN_HASH_KEY"] = "<this gateway's TOKEN_HASH_KEY>"  # noqa: S105 - a placeholder
    env["MCP_GATEWAY_TOKEN"] = TOKEN_PLACEHOLDER
    return env


def _settings(env: dict[str, str]) -> dict[str, Any]:
    """The settings table's "this gateway" column: values that are safe to show, and only whether secrets are set."""
    cfg = current_app.config
    sqlite = cfg.get("DATABASE_KIND") == "sqlite"
    return {
        "PORT": cfg.get("PORT"),
        "DATABASE_PATH": env.get("DATABASE_PATH", "") if sqlite else "not used (DATABASE_URL is set)",
        "DATABASE_URL": "set (not shown)" if not sqlite else "",
        "VAULT_PROVIDER": cfg.get("VAULT_PROVIDER"),
        "VAULT_LOCAL_PATH": env.get("VAULT_LOCAL_PATH", ""),
        "TLS_CERT_PATH": cfg.get("TLS_CERT_PATH"),
        "TLS_KEY_PATH": cfg.get("TLS_KEY_PATH"),
        "CLIENT_CA_PATH": cfg.get("CLIENT_CA_PATH"),
        "PUBLIC_URL": cfg.get("PUBLIC_URL"),
        "JWT_SECRET": "generated at start" if cfg.get("JWT_SECRET_GENERATED") else "set (not shown)",
        "MCP_GATEWAY_TOKEN": "set (not shown)" if cfg.get("MCP_GATEWAY_TOKEN") else "",
    }
