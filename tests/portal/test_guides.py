"""Guides: every snippet is filled in with this gateway's real URL and command, is valid, and actually works."""

from __future__ import annotations

import html
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from janus.cli.mcp_cli import mcp_cli
from tests.conftest import make_app
from tests.support.catalog import add_connection, add_endpoint, add_token
from tests.support.portal import portal_gateway
from tests.support.upstream import Upstream, echo

PLACEHOLDER = "<client token>"
MCP_GATEWAY = str(Path(sys.executable).with_name("mcp-gateway"))
TOKEN = "guides_test_token_with_enough_entropy_01"
PASSWORD = "guides test password 42"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def snippets(page: str) -> dict[str, str]:
    """Each snippet's text as a user copies it (the Copy button takes the <code>'s text)."""
    found = {
        m.group(1): html.unescape(m.group(2)).strip()
        for m in re.finditer(r'<code id="snippet-([\w-]+)">(.*?)</code>', page, re.S)
    }
    assert set(found) == {"claude-desktop", "claude-code", "vscode", "python-http", "python-sse", "rest", "mcp-cli"}
    return found


def commands(shell_text: str) -> list[list[str]]:
    """The commands of a shell snippet: comments dropped, backslash continuations joined."""
    joined = re.sub(r"\\\n\s*", " ", shell_text)
    return [shlex.split(line) for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_the_guides_show_this_gateways_urls_and_its_own_mcp_gateway_command(admin):
    admin.app.config.update(TOKEN_HASH_KEY="")  # the default: the stdio process finds the key file beside the vault
    page = admin.get("/guides")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    found = snippets(text)
    desktop = json.loads(found["claude-desktop"])["mcpServers"]["api-gateway"]
    assert desktop["command"] == MCP_GATEWAY and os.access(desktop["command"], os.X_OK)
    assert desktop["args"] == ["-stdio"]
    with admin.app.app_context():
        db_path = admin.app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
    assert desktop["env"] == {
        "DATABASE_PATH": db_path,
        "VAULT_PROVIDER": "local",
        "VAULT_LOCAL_PATH": admin.app.config["VAULT_LOCAL_PATH"],
        "MCP_GATEWAY_TOKEN": PLACEHOLDER,
    }
    vscode = json.loads(found["vscode"])
    assert vscode["servers"]["janus"] == {
        "type": "http",
        "url": "http://localhost/mcp",
        "headers": {"Authorization": "Bearer ${input:janus-token}"},
    }
    assert vscode["inputs"][0]["id"] == "janus-token" and vscode["inputs"][0]["password"] is True
    assert commands(found["claude-code"]) == [
        [
            "claude",
            "mcp",
            "add",
            "--transport",
            "http",
            "janus",
            "http://localhost/mcp",
            "--header",
            f"Authorization: Bearer {PLACEHOLDER}",
        ]
    ]
    assert 'URL = "http://localhost/mcp"' in found["python-http"]
    assert 'URL = "http://localhost/sse"' in found["python-sse"]
    assert "http://localhost/api/openapi.json" in found["rest"]
    assert ["mcp-cli", "login", "alice", "--addr", "http://localhost"] in commands(found["mcp-cli"])
    assert 'href="/openapi"' in text  # the OpenAPI reference is one click away


def test_the_snippets_follow_public_url_behind_a_proxy(admin):
    admin.app.config["PUBLIC_URL"] = "https://janus.bank.example/"
    found = snippets(admin.get("/guides").get_data(as_text=True))
    assert json.loads(found["vscode"])["servers"]["janus"]["url"] == "https://janus.bank.example/mcp"
    assert 'URL = "https://janus.bank.example/sse"' in found["python-sse"]
    assert "http://localhost" not in "".join(found.values())


def test_every_snippet_is_valid_json_python_or_shell_and_every_mcp_cli_command_exists(admin):
    found = snippets(admin.get("/guides").get_data(as_text=True))
    for name in ("claude-desktop", "vscode"):
        json.loads(found[name])
    for name in ("python-http", "python-sse"):
        compile(found[name], f"<snippet {name}>", "exec")
    for name in ("claude-code", "rest", "mcp-cli"):
        check = subprocess.run(["bash", "-n"], input=found[name], text=True, capture_output=True)
        assert check.returncode == 0, (name, check.stderr)
    cli_lines = commands(found["mcp-cli"])
    assert len(cli_lines) >= 10
    for argv in cli_lines:
        assert argv[0] == "mcp-cli"
        # --help after the real arguments: click still refuses an unknown command or option, but runs nothing.
        result = CliRunner().invoke(mcp_cli, argv[1:] + ["--help"])
        assert result.exit_code == 0, (argv, result.output)


def test_no_secret_value_reaches_the_page(admin):
    add_token(admin.app, "Real", TOKEN, "*")
    admin.app.config.update(
        MCP_GATEWAY_TOKEN="stdio_token_value_that_must_stay_hidden",
        VAULT_ENCRYPTION_KEY="c2VjcmV0LWtleS1ieXRlcy10aGF0LW11c3Qtbm90LWxlYWs=",
    )
    text = admin.get("/guides").get_data(as_text=True)
    for secret in (
        TOKEN,
        "stdio_token_value_that_must_stay_hidden",
        admin.app.config["VAULT_ENCRYPTION_KEY"],
        admin.app.config["JWT_SECRET"],
        admin.app.config["TOKEN_HASH_KEY"],
    ):
        assert secret not in text
    env = json.loads(snippets(text)["claude-desktop"])["mcpServers"]["api-gateway"]["env"]
    assert env["VAULT_ENCRYPTION_KEY"] == "<this gateway's VAULT_ENCRYPTION_KEY>"
    assert env["MCP_GATEWAY_TOKEN"] == PLACEHOLDER


def test_behind_postgres_and_a_cloud_vault_the_stdio_config_names_settings_but_never_credentials(admin):
    admin.app.config.update(
        DATABASE_KIND="postgresql",
        DATABASE_URL="postgres://janus:db-password-9@db:5432/janus",
        VAULT_PROVIDER="aws",
        AWS_REGION="eu-west-1",
        AWS_SECRETS_ENDPOINT_URL="https://key:vpce-password-7@vpce.example",
    )
    text = admin.get("/guides").get_data(as_text=True)
    assert "db-password-9" not in text and "vpce-password-7" not in text
    env = json.loads(snippets(text)["claude-desktop"])["mcpServers"]["api-gateway"]["env"]
    assert env == {
        "DATABASE_URL": "<this gateway's DATABASE_URL>",
        "VAULT_PROVIDER": "aws",
        "AWS_REGION": "eu-west-1",
        "TOKEN_HASH_KEY": "<this gateway's TOKEN_HASH_KEY>",
        "MCP_GATEWAY_TOKEN": PLACEHOLDER,
    }


def test_a_viewer_reads_the_guides_and_a_stranger_is_sent_to_sign_in(viewer, portal_app):
    page = viewer.get("/guides")
    assert page.status_code == 200 and "claude_desktop_config.json" in page.get_data(as_text=True)
    stranger = portal_app.test_client().get("/guides")
    assert stranger.status_code == 302 and stranger.headers["Location"].startswith("/login")


def test_the_claude_desktop_config_starts_a_stdio_gateway_that_lists_the_tokens_tools(admin, upstream):
    conn = add_connection(admin.app, "Ledger", upstream.url, "ledger_")
    add_endpoint(admin.app, conn, "get_entry", "/entries/{{id}}")
    add_token(admin.app, "Desktop", TOKEN, "ledger_*")
    config = json.loads(snippets(admin.get("/guides").get_data(as_text=True))["claude-desktop"])
    server = config["mcpServers"]["api-gateway"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_GATEWAY_", "DATABASE_", "VAULT_"))}
    env.update({**server["env"], "MCP_GATEWAY_TOKEN": TOKEN})  # what the user does with the placeholders
    if "TOKEN_HASH_KEY" in server["env"]:
        env["TOKEN_HASH_KEY"] = admin.app.config["TOKEN_HASH_KEY"]
    listing = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    done = subprocess.run(
        [server["command"], *server["args"]],
        input=json.dumps(listing) + "\n",
        text=True,
        capture_output=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    tools = json.loads(done.stdout.splitlines()[0])["result"]["tools"]
    assert [t["name"] for t in tools] == ["ledger_get_entry"]


# -- the HTTP snippets, run against a real gateway -------------------------------------------


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("guides")
    upstream = Upstream().start()
    upstream.route("/entries/", echo)
    server = portal_gateway(tmp, PASSWORD, workers=1)
    app = make_app({"DATABASE_PATH": str(tmp / "gateway.db")})
    conn = add_connection(app, "Ledger", upstream.url, "ledger_")
    add_endpoint(app, conn, "get_entry", "/entries/{{id}}")
    add_token(app, "Agents", TOKEN, "ledger_*")
    yield server
    server.stop()
    upstream.stop()


def _guides_page(base: str) -> str:
    with requests.Session() as http:
        csrf = CSRF.search(http.get(base + "/login", timeout=10).text).group(1)
        signed_in = http.post(
            base + "/login", data={"username": "admin", "password": PASSWORD, "csrf_token": csrf}, timeout=10
        )
        assert signed_in.url == base + "/"
        return http.get(base + "/guides", timeout=10).text


@pytest.mark.parametrize("name", ["python-http", "python-sse"])
def test_the_python_sdk_snippets_list_the_tools_of_this_gateway(gateway, name):
    code = snippets(_guides_page(gateway.url))[name]
    assert gateway.url in code
    ran = subprocess.run(
        [sys.executable, "-c", code.replace(PLACEHOLDER, TOKEN)], text=True, capture_output=True, timeout=60
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "['ledger_get_entry']"


def test_the_copy_buttons_copy_a_snippet_and_the_search_narrows_the_sections_in_a_browser(gateway):
    from tests.support.browser import browser_page, screenshot
    from tests.support.portal import sign_in

    base = gateway.url
    with browser_page() as browser:
        page = browser.page
        browser.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
        sign_in(page, base, PASSWORD, path="/guides")
        screenshot(page, "portal-guides", full_page=True)

        box = page.locator("figure", has=page.locator("#snippet-claude-code"))
        box.get_by_role("button", name="Copy").click()
        box.get_by_role("button", name="Copied").wait_for()
        copied = page.evaluate("navigator.clipboard.readText()")
        assert (
            copied == f'claude mcp add --transport http janus {base}/mcp --header "Authorization: Bearer {PLACEHOLDER}"'
        )

        search = page.get_by_label("Search the guides")
        search.fill("mutual TLS")
        page.locator("#guide-search-status").filter(has_text="1 of 5 sections match.").wait_for()
        assert page.locator(".guide-section:visible").evaluate_all("s => s.map(e => e.id)") == ["settings"]
        search.fill("no such words anywhere")
        page.locator("#guide-search-empty").wait_for()
        search.fill("")
        assert page.locator(".guide-section:visible").count() == 5
        assert browser.console_errors == [] and browser.page_errors == []
    browser.assert_requests_only_to(base)
    assert browser.failed_requests == []
