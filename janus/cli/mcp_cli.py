"""`mcp-cli`: the remote admin client. It speaks only HTTP(S) to a gateway's admin API.

The same click group is `flask mcp-cli`. Commands, flags and the verify/metrics
layouts follow the reference product's README. It imports nothing of the server
side (models, services, extensions, Flask, SQLAlchemy); a test keeps it that way.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from janus.cli.mcp_cli_catalog import emit_json, json_flag, note, read_secret, register
from janus.cli.mcp_cli_import import register as register_import
from janus.cli.mcp_cli_render import (
    VERIFY_RULE,
    VERIFY_STEPS,
    VERIFY_TITLE,
    logs_table,
    metric_rows,
    metrics_report,
    status_lines,
    step_line,
    step_result,
    target_ok,
    targets_table,
)
from janus.cli.mcp_cli_session import (
    ADDR_ENV,
    DEFAULT_ADDR,
    Api,
    CliError,
    Settings,
    cache_path,
    clear_cache,
    normalize_addr,
    save_cache,
)
from janus.cli.mcp_cli_sso import device_login
from janus.cli.mcp_cli_users import user_group
from janus.version import __version__

# janus.services.audit_statuses.STATUSES, spelled out: mcp-cli loads nothing of the server side (it talks
# to the admin API); tests/cli/test_mcp_cli.py keeps the two equal.
LOG_STATUSES = ("success", "failure", "denied", "cancelled", "throttled")

VERIFY_TIMEOUT = 300.0  # the gateway probes every target (5 s each at most)
LOG_ROWS = 100

HELP = """Janus admin client: talks to a gateway's admin API over HTTP(S).

\b
Start with:  mcp-cli login <username> --addr <gateway-url>
The session is cached in $XDG_CONFIG_HOME/mcp-gateway/cli.json (~/.config/mcp-gateway/cli.json).

\b
Output: stdout carries data only (tables, ids, token values; the API's JSON with --json);
confirmations and errors go to stderr. Exit status: 0 success, 1 failure, 2 usage error.
"""


@click.group(
    name="mcp-cli", help=HELP, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110}
)
@click.option(
    "--addr",
    envvar=ADDR_ENV,
    metavar="URL",
    help=f"Gateway URL (default: ${ADDR_ENV}, else the address of the cached login, else {DEFAULT_ADDR}).",
)
@click.option("--token", metavar="JWT", help="Session token to use (default: the cached login's).")
@click.option("--insecure", is_flag=True, help="Skip TLS certificate verification.")
@click.option("--json", "json_output", is_flag=True, help="Machine output: print the API's JSON.")
@click.option(
    "--cacert",
    envvar="MCP_CLI_CACERT",
    metavar="PEM",
    type=click.Path(exists=True, dir_okay=False),
    help="CA bundle to verify the gateway's certificate with.",
)
@click.option(
    "--cert",
    envvar="MCP_CLI_CERT",
    metavar="PEM",
    type=click.Path(exists=True, dir_okay=False),
    help="Client certificate, for gateways that require mTLS.",
)
@click.option(
    "--key",
    envvar="MCP_CLI_KEY",
    metavar="PEM",
    type=click.Path(exists=True, dir_okay=False),
    help="Private key of --cert (if not inside it).",
)
@click.version_option(__version__, prog_name="mcp-cli", message="%(prog)s %(version)s")
@click.pass_context
def mcp_cli(ctx: click.Context, addr, token, insecure, json_output, cacert, cert, key) -> None:
    ctx.obj = Settings(
        addr_option=addr,
        token_option=token,
        insecure=insecure,
        json_output=json_output,
        cacert=cacert,
        cert=cert,
        key=key,
    )


register(mcp_cli)
mcp_cli.add_command(user_group)
register_import(mcp_cli)


# -- session ---------------------------------------------------------------------


@mcp_cli.command(
    help="Log in and cache the session. The password is prompted for (hidden) on a terminal; "
    "otherwise it is the first line of stdin. With --sso (no username): sign in at the gateway's "
    "identity provider with the device authorization grant (open the URL shown, enter the code)."
)
@click.argument("username", required=False)
@click.option("--addr", "login_addr", metavar="URL", help="Gateway URL (default: as for the global --addr).")
@click.option("--sso", is_flag=True, help="Single sign-on through the gateway's OIDC provider (device grant).")
@json_flag
@click.pass_obj
def login(settings: Settings, username: str | None, login_addr: str | None, sso: bool) -> None:
    addr = normalize_addr(login_addr) if login_addr else settings.addr
    if sso and username:
        raise click.UsageError("--sso takes no username: the identity provider says who you are")
    if not sso and not username:
        raise click.UsageError("give a USERNAME, or --sso to sign in through the identity provider")
    data = device_login(settings, addr) if sso else _password_login(settings, addr, str(username))
    user = data.get("user") or {}
    path = save_cache(
        {
            "addr": addr,
            "token": data["token"],
            "username": user.get("username", username),
            "expires_at": data.get("expires_at"),
        }
    )
    if settings.json_output:
        return emit_json({k: v for k, v in data.items() if k != "token"} | {"addr": addr, "cache": str(path)})
    note(
        f"Logged in to {addr} as {user.get('username', username)} (role {user.get('role', '?')}); "
        f"session valid until {data.get('expires_at')}, cached in {path}."
    )


@mcp_cli.command(help="Log out: end the session on the gateway (POST /api/v1/logout), then forget the cached one.")
@click.pass_obj
def logout(settings: Settings) -> None:
    token, addr = settings.cache.get("token"), settings.cache.get("addr")
    if not token or not addr:
        note("Removed the cached session file." if clear_cache() else "No cached session.")
        return
    try:
        # Only ever to the gateway that issued the token (never the --addr of this call).
        Api(settings, addr, token, "cache").request("POST", "/api/v1/logout")
        where = f"over on {addr}"
    except CliError as exc:
        if exc.status != 401:
            clear_cache()
            raise CliError(
                f"removed the cached session {cache_path()}, but could not end it on the gateway "
                f"({exc.message}); it stays valid there until {settings.cache.get('expires_at')} unless "
                "an admin disables the user or changes its password"
            ) from None
        where = f"already over on {addr}"  # expired, logged out elsewhere, or ended by an admin
    clear_cache()
    note(f"Logged out: the session is {where}; removed the cached session {cache_path()}.")


def _password_login(settings: Settings, addr: str, username: str) -> dict:
    password = read_secret("Password")
    try:
        return settings.api(authenticated=False, addr=addr).json(
            "POST", "/api/v1/login", json_body={"username": username, "password": password}, auth=False
        )
    except CliError as exc:
        if exc.status == 401:
            raise CliError(f"login to {addr} as {username!r} failed: {exc.message}") from None
        raise


# -- diagnostics -------------------------------------------------------------------


@mcp_cli.command(help="Diagnostics: gateway reachable, session valid, database schema, vault, and every target API.")
@json_flag
@click.pass_context
def verify(ctx: click.Context) -> None:
    settings: Settings = ctx.obj
    if settings.json_output:
        Api(settings, settings.addr, None, None).request("GET", "/healthz", auth=False, timeout=10)
        result = settings.api().json("GET", "/api/v1/verify", timeout=VERIFY_TIMEOUT)
        emit_json(result)
        ctx.exit(0 if all(c.get("ok") for c in result.get("checks", [])) else 1)

    def progress(step: str) -> None:
        click.echo(VERIFY_STEPS[step], nl=False)

    def finish(ok: bool, detail: str | None = None) -> None:
        click.echo(step_result(ok, detail))

    click.echo(VERIFY_TITLE)
    click.echo(VERIFY_RULE)
    progress("server")
    try:
        Api(settings, settings.addr, None, None).request("GET", "/healthz", auth=False, timeout=10)
    except CliError as exc:
        finish(False, exc.message)
        ctx.exit(1)
    finish(True)

    progress("admin_token")
    try:
        result = settings.api().json("GET", "/api/v1/verify", timeout=VERIFY_TIMEOUT)
    except CliError as exc:
        finish(False, exc.message)
        ctx.exit(1)
    checks = {c.get("step"): c for c in result.get("checks", [])}
    failed = False
    for step in ("admin_token", "database", "vault"):
        check = checks.get(step) or {"ok": False, "detail": "not reported by the gateway"}
        if step != "admin_token":
            progress(step)
        finish(bool(check.get("ok")), check.get("detail"))
        failed |= not check.get("ok")

    targets = result.get("targets") or []
    enabled_failing = [t for t in targets if not target_ok(t) and t.get("enabled", True)]
    if not targets:
        click.echo(step_line("targets", True, "no connections registered"))
    else:
        click.echo(
            step_line("targets", False, f"{len(enabled_failing)} of {len(targets)} failing")
            if enabled_failing
            else step_line("targets", None)
        )
        click.echo(targets_table(targets))
    ctx.exit(1 if failed or enabled_failing else 0)


@mcp_cli.command(help="Gateway settings: version, active port, database, vault provider, TLS/mTLS, catalog counts.")
@json_flag
@click.pass_obj
def status(settings: Settings) -> None:
    api = settings.api()
    data = api.json("GET", "/api/v1/status")
    if settings.json_output:
        return emit_json(data)
    for line in status_lines(api.addr, data):
        click.echo(line)


@mcp_cli.command(
    help="Fetch the gateway's Prometheus metrics (GET /metrics, with the admin session of `mcp-cli "
    "login` or --token) and show the mcp_* metrics and process metrics as a table. Latency "
    "quantiles are estimated from the histogram buckets, as Prometheus's histogram_quantile does."
)
@click.option("--all", "show_all", is_flag=True, help="Show every metric, not just mcp_* and process ones.")
@json_flag
@click.pass_obj
def metrics(settings: Settings, show_all: bool) -> None:
    try:
        api = settings.api()
    except CliError:
        # Not logged in: a gateway with METRICS_PUBLIC=true still answers; any other says 401, named below.
        api = Api(settings, settings.addr, None, None)
    try:
        text = api.request("GET", "/metrics").text
    except CliError as exc:
        if exc.status == 401 and api.token is None:
            raise CliError(f"{api.addr}/metrics needs an admin session: {settings.login_hint(api.addr)}") from None
        raise
    try:
        rows = metric_rows(text, show_all=show_all or settings.json_output)
    except ValueError as exc:
        raise CliError(f"{api.addr}/metrics is not Prometheus text: {exc}") from None
    if settings.json_output:
        return emit_json([{"name": n, "labels": labels, "value": v} for n, labels, v in rows])
    click.echo(metrics_report(rows))


@mcp_cli.command(help=f"The last {LOG_ROWS} tool executions: time, token, tool, status, HTTP status, duration, error.")
@click.option("--tool", help="Only this tool.")
@click.option("--status", "status_filter", type=click.Choice(list(LOG_STATUSES)), help="Only this outcome.")
@click.option("--trace", help="Only the calls of this W3C trace id (32 hex digits).")
@click.option(
    "--retried/--not-retried", default=None, help="Only calls sent upstream more than once (or only the others)."
)
@click.option(
    "--redacted/--not-redacted", default=None, help="Only calls whose answer DLP masked (or only the others)."
)
@json_flag
@click.pass_obj
def logs(
    settings: Settings,
    tool: str | None,
    status_filter: str | None,
    trace: str | None,
    retried: bool | None,
    redacted: bool | None,
) -> None:
    params: dict[str, Any] = {"per_page": LOG_ROWS}
    if tool:
        params["tool"] = tool
    if trace:
        params["trace"] = trace
    for name, wanted in (("retried", retried), ("redacted", redacted)):
        if wanted is not None:
            params[name] = "true" if wanted else "false"
    if status_filter:
        params["status"] = status_filter
    data = settings.api().json("GET", "/api/v1/audit/tool-calls", params=params)
    if settings.json_output:
        return emit_json(data)
    items = data.get("items") or []
    if not items:
        note("No tool executions recorded yet.")
        return
    click.echo(logs_table(items))


# -- entry point -------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    """Console script: one line on stderr for every failure, never a traceback."""
    try:
        code = mcp_cli.main(args=argv, prog_name="mcp-cli", standalone_mode=False)
    except click.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        click.echo(f"Error: {exc.format_message()}{hint}", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, and keep the interpreter's final flush from failing too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except Exception as exc:  # noqa: BLE001 - a bug must still end in one readable line
        click.echo(f"Error: unexpected failure ({type(exc).__name__}): {exc}", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
