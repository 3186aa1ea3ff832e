"""`mcp-cli connection|endpoint|vault|token …`: the catalog, through the admin API.

stdout carries data only (tables, ids, token values, JSON with --json), so
`id=$(mcp-cli connection add …)` works; confirmations go to stderr.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import click

from janus.cli.mcp_cli_header_params import HEADER_FLAGS, header_param_options, header_params_body
from janus.cli.mcp_cli_render import impact_report, table
from janus.cli.mcp_cli_resilience import connection_fields, connection_options, endpoint_fields, endpoint_option
from janus.cli.mcp_cli_session import CliError, Settings
from janus.cli.mcp_cli_shaping import (
    REDACTION_FLAG,
    SHAPING_FLAGS,
    redaction_body,
    redaction_option,
    shaping_body,
    shaping_options,
)
from janus.cli.mcp_cli_tool_metadata import OPTIONS as METADATA_OPTIONS
from janus.cli.mcp_cli_tool_metadata import metadata_changes, metadata_options

BOOL = click.BOOL  # true/false, yes/no, 1/0


def json_flag(command: Callable) -> Callable:
    """`--json` after the subcommand too (`mcp-cli connection list --json`)."""

    def enable(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
        settings = ctx.find_object(Settings)
        if value and settings is not None:
            settings.json_output = True

    return click.option(
        "--json",
        "json_output",
        is_flag=True,
        expose_value=False,
        callback=enable,
        help="Print the API's JSON instead of text.",
    )(command)


PAGE_LIMIT = 1000  # the admin API's largest page (janus.services.listing.MAX_LIMIT)
MAX_PAGES = 1000  # a bound on the walk, whatever a server answers


def every_item(settings: Settings, path: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every entry of a paged admin API list (the API sends at most PAGE_LIMIT at a time), following
    `next_cursor`: a seek, so entries added or removed meanwhile neither repeat nor push others out. A
    gateway from before cursors answers without it; then the pages are numbered."""
    api = settings.api()
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    page = 1
    for _ in range(MAX_PAGES):
        where = {"cursor": cursor} if cursor else {"page": page}
        body = api.json("GET", path, params={**(params or {}), **where, "limit": PAGE_LIMIT})
        batch = body["items"]
        items += batch
        if "next_cursor" in body:
            cursor = body["next_cursor"]
            if not cursor:
                break
        else:
            page += 1
            if not batch or len(items) >= body.get("total", 0):
                break
    return items


def note(message: str) -> None:
    click.echo(message, err=True)


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def changes(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def parse_json_option(value: str | None, option: str) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", param_hint=f"'{option}'") from None


def require_changes(data: dict[str, Any], options: str) -> None:
    if not data:
        raise click.UsageError(f"nothing to change: give at least one of {options}")


# -- connections -------------------------------------------------------------------


@click.group("connection", help="List, add, modify and delete API connections (downstream REST targets).")
def connection_group() -> None:
    pass


@connection_group.command("list", help="List connections.")
@json_flag
@click.pass_obj
def connection_list(settings: Settings) -> None:
    items = every_item(settings, "/api/v1/connections")
    if settings.json_output:
        return emit_json(items)
    click.echo(
        table(
            ("ID", "Name", "Prefix", "Base URL", "Auth", "Secret Ref", "Enabled", "Tools"),
            [
                (
                    c["id"],
                    c["name"],
                    c["prefix"],
                    c["base_url"],
                    c.get("auth_type"),
                    c.get("auth_secret_ref"),
                    c.get("enabled"),
                    c.get("endpoint_count"),
                )
                for c in items
            ],
        )
    )


@connection_group.command("add", help="Register a connection; prints its id on stdout.")
@click.option("--name", required=True, help="Display name, unique.")
@click.option("--url", required=True, help="Base URL of the REST API, e.g. https://internal.bank.net/api/v1.")
@click.option("--prefix", help="Tool name prefix ending in '_' (default: derived from the name).")
@click.option("--desc", help="Description.")
@click.option("--auth", help="Auth type: none, bearer, basic, custom_headers, oauth2_client_credentials.")
@click.option("--secret", help="Vault secret reference holding the credential, e.g. prod/database/accounts-key.")
@click.option("--enabled", type=BOOL, help="true or false (default true).")
@click.option("--timeout", type=float, help="Upstream timeout in seconds (default 30).")
@connection_options
@redaction_option
@json_flag
@click.pass_obj
def connection_add(
    settings: Settings, name, url, prefix, desc, auth, secret, enabled, timeout, redaction, **more
) -> None:
    body = connection_fields(more) | changes(
        name=name,
        base_url=url,
        prefix=prefix,
        description=desc,
        auth_type=auth,
        auth_secret_ref=secret,
        enabled=enabled,
        timeout_seconds=timeout,
    )
    body |= redaction_body(redaction)
    conn = settings.api().json("POST", "/api/v1/connections", json_body=body)
    if settings.json_output:
        return emit_json(conn)
    click.echo(conn["id"])
    note(f"Connection {conn['name']!r} created (tool prefix {conn['prefix']!r}).")


@connection_group.command("modify", help="Change a connection; only the options given change.")
@click.option("--id", "conn_id", required=True, help="Connection id.")
@click.option("--name")
@click.option("--url")
@click.option("--prefix")
@click.option("--desc")
@click.option("--auth")
@click.option("--secret", help="Vault secret reference ('' clears it).")
@click.option("--enabled", type=BOOL, help="true or false: a disabled connection's tools disappear at once.")
@click.option("--timeout", type=float)
@connection_options
@redaction_option
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print what the change would do to live clients (tools renamed or hidden, tokens that lose tools) "
    "and change nothing.",
)
@json_flag
@click.pass_obj
def connection_modify(
    settings: Settings, conn_id, name, url, prefix, desc, auth, secret, enabled, timeout, redaction, dry_run, **more
) -> None:
    body = connection_fields(more) | changes(
        name=name,
        base_url=url,
        prefix=prefix,
        description=desc,
        auth_type=auth,
        auth_secret_ref=secret,
        enabled=enabled,
        timeout_seconds=timeout,
    )
    body |= redaction_body(redaction)
    require_changes(
        body,
        "--name --url --prefix --desc --auth --secret --enabled --timeout --retries --breaker-threshold "
        "--breaker-cooldown " + REDACTION_FLAG,
    )
    path = f"/api/v1/connections/{quote(conn_id, safe='')}"
    if dry_run:
        return _print_impact(settings, path, body)
    # A new prefix renames every tool; enabling or disabling shows or hides them: say what it did.
    summary = _impact_summary(settings, path, body) if "prefix" in body or "enabled" in body else None
    conn = settings.api().json("PATCH", path, json_body=body)
    if settings.json_output:
        emit_json(conn)
    else:
        note(f"Connection {conn['name']!r} ({conn['id']}) updated.")
    if summary:
        note(summary)


@connection_group.command("delete", help="Delete a connection and its endpoints.")
@click.option("--id", "conn_id", required=True, help="Connection id.")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print what deleting would do to live clients (tools removed, tokens that lose tools) and delete nothing.",
)
@json_flag
@click.pass_obj
def connection_delete(settings: Settings, conn_id, dry_run) -> None:
    path = f"/api/v1/connections/{quote(conn_id, safe='')}"
    if dry_run:
        return _print_impact(settings, path, {"action": "delete"})
    summary = _impact_summary(settings, path, {"action": "delete"})
    _delete(settings, path, {"id": conn_id}, f"Connection {conn_id}")
    if summary:
        note(summary)


def _print_impact(settings: Settings, path: str, change: dict[str, Any]) -> None:
    """--dry-run: the gateway's preview (POST …/impact, which never writes; a gateway without it answers
    an error, never the change), in full on stdout."""
    impact = settings.api().json("POST", f"{path}/impact", json_body=change)
    if settings.json_output:
        emit_json(impact)
    else:
        click.echo(impact_report(impact))


def _impact_summary(settings: Settings, path: str, change: dict[str, Any]) -> str | None:
    """The preview's one-line summary, asked before the change is made; None when the gateway cannot
    answer it (an older gateway, a refused change: the change itself then says what is wrong)."""
    try:
        answer = settings.api().json("POST", f"{path}/impact", json_body=change)
    except CliError as exc:
        if exc.status is None:  # not an answer of the gateway (unreachable): the change would fail alike
            raise
        return None
    summary = answer.get("summary") if isinstance(answer, dict) else None
    return summary if isinstance(summary, str) else None


# -- endpoints ---------------------------------------------------------------------


@click.group("endpoint", help="List, add, modify and delete endpoints (the MCP tools of a connection).")
def endpoint_group() -> None:
    pass


@endpoint_group.command("list", help="List endpoints.")
@click.option("--conn-id", help="Only this connection's endpoints.")
@json_flag
@click.pass_obj
def endpoint_list(settings: Settings, conn_id) -> None:
    items = every_item(settings, "/api/v1/endpoints", changes(connection_id=conn_id))
    if settings.json_output:
        return emit_json(items)
    click.echo(
        table(
            ("ID", "Tool", "Method", "Path", "Connection", "Enabled"),
            [
                (
                    e["id"],
                    e.get("exposed_name") or e["tool_name"],
                    e.get("method"),
                    e.get("path_template"),
                    e.get("connection_name"),
                    e.get("enabled"),
                )
                for e in items
            ],
        )
    )


SCHEMA_HELP = 'Input JSON Schema as a JSON string, e.g. \'{"type":"object","properties":{...}}\'.'
TEMPLATE_HELP = "Body template (JSON text with {{param}} placeholders) for POST, PUT or PATCH."


@endpoint_group.command("add", help="Expose an endpoint as an MCP tool; prints its id on stdout.")
@click.option("--conn-id", required=True, help="Connection id.")
@click.option("--name", required=True, help="Tool name without the connection prefix, e.g. get_balance.")
@click.option("--desc", help="Description shown to MCP clients.")
@click.option(
    "--path", required=True, help="Route below the base URL; parameters as {{name}}, e.g. /balance/{{client_id}}."
)
@click.option("--method", help="HTTP method (default GET).")
@click.option("--schema", help=SCHEMA_HELP)
@click.option("--template", help=TEMPLATE_HELP)
@click.option("--enabled", type=BOOL, help="true or false (default true).")
@metadata_options
@endpoint_option
@shaping_options
@header_param_options
@json_flag
@click.pass_obj
def endpoint_add(settings: Settings, conn_id: str, **options: Any) -> None:
    body = {"connection_id": conn_id} | _endpoint_body(options, lambda: None)
    ep = settings.api().json("POST", "/api/v1/endpoints", json_body=body)
    if settings.json_output:
        return emit_json(ep)
    click.echo(ep["id"])
    tool = ep.get("exposed_name") or ep["tool_name"]
    note(f"Endpoint created: tool {tool!r} ({ep['method']} {ep['path_template']}).")


@endpoint_group.command("modify", help="Change an endpoint; only the options given change.")
@click.option("--id", "ep_id", required=True, help="Endpoint id.")
@click.option("--name")
@click.option("--desc")
@click.option("--path")
@click.option("--method")
@click.option("--schema", help=SCHEMA_HELP)
@click.option("--template", help=TEMPLATE_HELP + " '' removes it.")
@click.option("--enabled", type=BOOL)
@metadata_options
@endpoint_option
@shaping_options
@header_param_options
@json_flag
@click.pass_obj
def endpoint_modify(settings: Settings, ep_id: str, **options: Any) -> None:
    url = f"/api/v1/endpoints/{quote(ep_id, safe='')}"
    body = _endpoint_body(options, lambda: settings.api().json("GET", url).get("annotations"))
    require_changes(
        body,
        "--name --desc --path --method --schema --template --enabled --timeout "
        + METADATA_OPTIONS
        + " "
        + SHAPING_FLAGS
        + " "
        + HEADER_FLAGS,
    )
    ep = settings.api().json("PATCH", url, json_body=body)
    if settings.json_output:
        return emit_json(ep)
    note(f"Endpoint {ep.get('exposed_name') or ep['tool_name']!r} ({ep['id']}) updated.")


def _endpoint_body(options: dict[str, Any], current_annotations: Callable[[], dict[str, Any] | None]) -> dict[str, Any]:
    """The API fields of the options `endpoint add` and `endpoint modify` share (what was not given is left
    out); `current_annotations` gives the stored hints a modify lays the given ones over."""
    o = dict(options)
    return (
        endpoint_fields(o.pop("timeout_seconds"))
        | header_params_body(o.pop("header_params"), o.pop("fixed_headers"), o.pop("no_header_params"))
        | shaping_body(o.pop("projection"), o.pop("max_items"), o.pop("max_text_chars"), o.pop("table"))
        | changes(
            tool_name=o.pop("name"),
            description=o.pop("desc"),
            path_template=o.pop("path"),
            method=o.pop("method"),
            input_schema=parse_json_option(o.pop("schema"), "--schema"),
            body_template=o.pop("template"),
            enabled=o.pop("enabled"),
        )
        | metadata_changes(o, current_annotations)  # what is left: the tool-metadata options
    )


BULK_DONE = {"enable": "enabled", "disable": "disabled", "delete": "deleted"}


@endpoint_group.command(
    "bulk", help="Enable, disable or delete several endpoints at once (one transaction); exit 1 if an id is unknown."
)
@click.option("--action", required=True, type=click.Choice(tuple(BULK_DONE)), help="What to do with them.")
@click.option("--id", "ep_ids", required=True, multiple=True, help="Endpoint id; repeat for each (at most 1000).")
@json_flag
@click.pass_obj
def endpoint_bulk(settings: Settings, action, ep_ids) -> None:
    result = settings.api().json("POST", "/api/v1/endpoints/bulk", json_body={"action": action, "ids": list(ep_ids)})
    if settings.json_output:
        emit_json(result)
    else:
        changed = result["changed"]
        note(f"{changed} endpoint{'' if changed == 1 else 's'} {BULK_DONE[action]}.")
    if result["not_found"]:
        raise CliError(f"no endpoint has these ids: {', '.join(result['not_found'])}")


@endpoint_group.command("delete", help="Delete an endpoint.")
@click.option("--id", "ep_id", required=True, help="Endpoint id.")
@json_flag
@click.pass_obj
def endpoint_delete(settings: Settings, ep_id) -> None:
    _delete(settings, f"/api/v1/endpoints/{quote(ep_id, safe='')}", {"id": ep_id}, f"Endpoint {ep_id}")


# -- vault -------------------------------------------------------------------------


@click.group("vault", help="Secrets in the gateway's vault: names are listed, values go in and never come out.")
def vault_group() -> None:
    pass


def _key_path(key: str) -> str:
    return "/api/v1/vault/keys/" + quote(key, safe="/")


@vault_group.command("list", help="List secret names, one per line.")
@json_flag
@click.pass_obj
def vault_list(settings: Settings) -> None:
    keys = settings.api().json("GET", "/api/v1/vault/keys")["keys"]
    if settings.json_output:
        return emit_json(keys)
    for key in keys:
        click.echo(key)
    if not keys:
        note("The vault holds no secrets.")


@vault_group.command(
    "set",
    help="Store a secret. Without --val the value is read from stdin "
    "(a hidden prompt on a terminal), which keeps it out of the process list.",
)
@click.option("--key", required=True, help="Secret name, e.g. prod/database/accounts-key.")
@click.option("--val", help="Secret value.")
@json_flag
@click.pass_obj
def vault_set(settings: Settings, key, val) -> None:
    if val is None:
        val = read_secret("Secret value")
    result = settings.api().json("PUT", _key_path(key), json_body={"value": val})
    if settings.json_output:
        return emit_json(result)
    note(f"Secret {result.get('key', key)!r} stored.")


@vault_group.command("delete", help="Delete a secret.")
@click.option("--key", required=True, help="Secret name.")
@json_flag
@click.pass_obj
def vault_delete(settings: Settings, key) -> None:
    _delete(settings, _key_path(key), {"key": key}, f"Secret {key!r}")


def read_secret(prompt: str) -> str:
    """A hidden prompt on a terminal; otherwise the first line of stdin."""
    stdin = click.open_file("-")  # not click.get_text_stream: deprecated in Click 8.5, gone in 9
    if stdin.isatty():
        return click.prompt(prompt, hide_input=True)
    line = stdin.readline()
    value = line[:-1] if line.endswith("\n") else line
    value = value[:-1] if value.endswith("\r") else value
    if not value:
        raise CliError(f"no {prompt.lower()} on stdin (stdin is not a terminal, so the first line is read)")
    return value


# -- client tokens -----------------------------------------------------------------


CERT_FINGERPRINT_HELP = (
    "Bind the token to the client certificate with this SHA-256 fingerprint (mutual TLS): "
    "`openssl x509 -noout -fingerprint -sha256 -in client.pem`."
)
CERT_SUBJECT_HELP = (
    "Bind the token to client certificates with this subject (RFC 4514, e.g. 'CN=billing-agent,O=Example Corp'): "
    "`openssl x509 -noout -subject -nameopt RFC2253 -in client.pem`."
)


@click.group("token", help="Client tokens that MCP clients present (scoped by tool-name globs).")
def token_group() -> None:
    pass


@token_group.command("list", help="List client tokens (never their values).")
@json_flag
@click.pass_obj
def token_list(settings: Settings) -> None:
    items = every_item(settings, "/api/v1/tokens")
    if settings.json_output:
        return emit_json(items)
    click.echo(
        table(
            ("ID", "Name", "Role", "Scopes", "Token", "Enabled", "Expires", "Last Used", "Certificate"),
            [
                (
                    t["id"],
                    t["name"],
                    t.get("role"),
                    ",".join(t.get("scopes") or []),
                    t.get("token_hint"),
                    t.get("enabled"),
                    t.get("expires_at"),
                    t.get("last_used_at"),
                    t.get("cert_subject") or (t.get("cert_fingerprint") or "")[:16],
                )
                for t in items
            ],
        )
    )


@token_group.command(
    "add",
    help=(
        "Register a client token. stdout: line 1 is the new token's id; when --token is left out the gateway "
        "generates a value and line 2 is that value (shown only this once), so "
        "`{ read id; read value; } < <(mcp-cli token add --name x)` captures both."
    ),
)
@click.option("--name", required=True, help="Display name.")
@click.option(
    "--token",
    "value",
    help="The token value to accept (at least 24 visible characters); default: a secure one is generated.",
)
@click.option("--role", help="admin or developer (default developer).")
@click.option(
    "--scopes",
    help="Comma-separated tool-name globs, e.g. 'weather_*'; '*' for every tool. "
    "Without scopes the token sees no tools.",
)
@click.option("--expires", help="Expiry as an ISO 8601 time, e.g. 2026-01-01T00:00:00Z.")
@click.option("--cert-fingerprint", help=CERT_FINGERPRINT_HELP)
@click.option("--cert-subject", help=CERT_SUBJECT_HELP)
@click.option("--rate", type=int, help="This token's rate limit, requests a second (0: none); default: the gateway's.")
@click.option("--burst", type=int, help="Requests this token may send at once; default: the gateway's.")
@json_flag
@click.pass_obj
def token_add(
    settings: Settings, name, value, role, scopes, expires, cert_fingerprint, cert_subject, rate, burst
) -> None:
    body = changes(
        name=name,
        token=value,
        role=role,
        scopes=scopes,
        expires_at=expires,
        cert_fingerprint=cert_fingerprint,
        cert_subject=cert_subject,
        rate_per_second=rate,
        rate_burst=burst,
    )
    token = settings.api().json("POST", "/api/v1/tokens", json_body=body)
    if settings.json_output:
        return emit_json(token)
    click.echo(token["id"])
    if value is None:
        click.echo(token["token"])
        note(f"Token {token['name']!r} created; its value (line 2 above) is shown only this once.")
    else:
        note(f"Token {token['name']!r} created.")


@token_group.command("modify", help="Change a client token; only the options given change (its value never does).")
@click.option("--id", "token_id", required=True, help="Token id.")
@click.option("--name")
@click.option("--role", help="admin or developer.")
@click.option("--scopes", help="Comma-separated tool-name globs ('' for no tools).")
@click.option("--expires", help="Expiry as an ISO 8601 time ('' never expires).")
@click.option("--enabled", type=BOOL, help="true or false: a disabled token is refused at once.")
@click.option("--cert-fingerprint", help=CERT_FINGERPRINT_HELP + " '' unbinds.")
@click.option("--cert-subject", help=CERT_SUBJECT_HELP + " '' unbinds.")
@json_flag
@click.pass_obj
def token_modify(
    settings: Settings, token_id, name, role, scopes, expires, enabled, cert_fingerprint, cert_subject
) -> None:
    body = changes(
        name=name,
        role=role,
        scopes=scopes,
        expires_at=expires,
        enabled=enabled,
        cert_fingerprint=cert_fingerprint,
        cert_subject=cert_subject,
    )
    require_changes(body, "--name --role --scopes --expires --enabled --cert-fingerprint --cert-subject")
    token = settings.api().json("PATCH", f"/api/v1/tokens/{quote(token_id, safe='')}", json_body=body)
    if settings.json_output:
        return emit_json(token)
    note(f"Token {token['name']!r} ({token['id']}) updated.")


@token_group.command("limit", help="Set a token's own rate limit; 'default' puts the gateway's back.")
@click.option("--id", "token_id", required=True, help="Token id.")
@click.option("--rate", help="Requests a second (0: no limit), or 'default'.")
@click.option("--burst", help="Requests at once, or 'default'.")
@json_flag
@click.pass_obj
def token_limit(settings: Settings, token_id, rate, burst) -> None:
    body: dict[str, int | None] = {}
    for field, option, value in (("rate_per_second", "--rate", rate), ("rate_burst", "--burst", burst)):
        if value is None:
            continue
        if value != "default" and not value.isdigit():
            raise click.BadParameter(f"{value!r} is not a whole number or 'default'", param_hint=option)
        body[field] = None if value == "default" else int(value)
    if not body:
        raise click.UsageError("give --rate, --burst or both")
    token = settings.api().json("PATCH", f"/api/v1/tokens/{quote(token_id, safe='')}", json_body=body)
    if settings.json_output:
        return emit_json(token)
    note(
        f"Token {token['name']!r}: rate {token.get('rate_per_second')}, burst {token.get('rate_burst')} (None: default)."
    )


@token_group.command("delete", help="Delete (revoke) a client token.")
@click.option("--id", "token_id", required=True, help="Token id.")
@json_flag
@click.pass_obj
def token_delete(settings: Settings, token_id) -> None:
    _delete(settings, f"/api/v1/tokens/{quote(token_id, safe='')}", {"id": token_id}, f"Token {token_id}")


def _delete(settings: Settings, path: str, ident: dict, label: str) -> None:
    """Every `… delete` command: DELETE, then the JSON or the human confirmation."""
    settings.api().json("DELETE", path)
    if settings.json_output:
        emit_json({**ident, "deleted": True})
    else:
        note(f"{label} deleted.")


def register(group: click.Group) -> None:
    for command in (connection_group, endpoint_group, vault_group, token_group):
        group.add_command(command)
