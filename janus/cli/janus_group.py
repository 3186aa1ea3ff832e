"""`flask janus …`: server-side operations that run where the database is."""

from __future__ import annotations

import os
import sys

import click
from flask import current_app


@click.group(name="janus", help="Janus gateway operations.")
def janus_group() -> None:
    pass


@janus_group.command("serve", help="Migrate, seed (SEED_DEMO_DATA) and run the gunicorn+gevent server.")
def serve_command() -> None:
    from janus.cli.serve import exec_server

    sys.exit(exec_server(current_app._get_current_object()))  # type: ignore[attr-defined]  # LocalProxy method


@janus_group.command("stdio", help="Serve MCP over stdin/stdout (token from MCP_GATEWAY_TOKEN).")
def stdio_command() -> None:
    from janus.services.bootstrap import bootstrap
    from janus.transports.stdio import run_stdio

    app = current_app._get_current_object()  # type: ignore[attr-defined]  # LocalProxy method
    bootstrap(app, create_admin=False)
    sys.exit(run_stdio(app, os.environ.get("MCP_GATEWAY_TOKEN") or app.config["MCP_GATEWAY_TOKEN"] or None))


@janus_group.command("bootstrap", help="Migrate the database, create the first admin, seed the demo if enabled.")
def bootstrap_command() -> None:
    from janus.services.bootstrap import bootstrap

    bootstrap(current_app._get_current_object())  # type: ignore[attr-defined]  # LocalProxy method
    click.echo("database ready")


@janus_group.group("vault", help="Secret vault maintenance.")
def vault_group() -> None:
    pass


@vault_group.command("rotate-key", help="Re-encrypt every secret of the local vault under a new key.")
@click.option(
    "--new-key-env",
    metavar="NAME",
    help="Environment variable holding the new key (base64 of 32 bytes). "
    "Required when VAULT_ENCRYPTION_KEY is set; otherwise a new key file is generated.",
)
def vault_rotate_key_command(new_key_env: str | None) -> None:
    from janus.services.bootstrap import ensure_schema
    from janus.services.errors import ServiceError
    from janus.services.vault_keys import rotate_key

    ensure_schema()  # the rotation is audited
    if new_key_env and not os.environ.get(new_key_env):
        raise click.ClickException(f"the environment variable {new_key_env} is not set")
    try:
        count, location, from_env = rotate_key(
            "cli", os.environ[new_key_env] if new_key_env else None, new_key_env or ""
        )
    except ServiceError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"re-encrypted {count} value(s); the key is in {location}")
    if from_env:
        click.echo(f"set VAULT_ENCRYPTION_KEY to the value of {new_key_env} wherever Janus runs, then restart it")


@janus_group.group("users", help="Break-glass for portal/admin users, run on the server (no login needed).")
def users_group() -> None:
    pass


@users_group.command("unlock", help="Forget USERNAME's failed sign-ins (lockout) in every running worker.")
@click.argument("username")
def users_unlock_command(username: str) -> None:
    from janus.services import sign_ins
    from janus.services.bootstrap import ensure_schema
    from janus.services.errors import ServiceError

    ensure_schema()
    try:
        sign_ins.unlock("cli", username)
    except ServiceError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"unlocked {username}: failed sign-ins before now no longer count, from any address")


@users_group.command(
    "set-password",
    help="Give USERNAME a new password (prompted, or the first line of stdin), "
    "enable it, end its sessions and unlock it.",
)
@click.argument("username")
def users_set_password_command(username: str) -> None:
    from janus.services import sign_ins
    from janus.services import users as users_service
    from janus.services.bootstrap import ensure_schema
    from janus.services.errors import ServiceError

    ensure_schema()
    password = (
        click.prompt("New password", hide_input=True, confirmation_prompt=True)
        if sys.stdin.isatty()
        else sys.stdin.readline().rstrip("\r\n")
    )
    try:
        users_service.reset_password("cli", username, password)
        sign_ins.unlock("cli", username)
    except ServiceError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"new password set for {username}; its sessions are ended and its lockout cleared")


@janus_group.group("audit", help="The tool-call audit log: rollups, retention, export.")
def audit_group() -> None:
    pass


@audit_group.command("prune", help="Export, then delete, tool-call audit rows older than AUDIT_RETENTION_DAYS.")
@click.option("--days", type=click.IntRange(min=1), help="Override AUDIT_RETENTION_DAYS for this run.")
@click.option("--export-dir", type=click.Path(file_okay=False), help="Override AUDIT_EXPORT_DIR for this run.")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), help="Override AUDIT_EXPORT_FORMAT.")
@click.option("--batch", type=click.IntRange(1, 50_000), default=5_000, show_default=True, help="Rows a transaction.")
@click.option("--pause", type=click.FloatRange(0, 10), default=0.1, show_default=True, help="Seconds between batches.")
def audit_prune_command(days: int | None, export_dir: str | None, fmt: str | None, batch: int, pause: float) -> None:
    from janus.services import audit_retention
    from janus.services.bootstrap import ensure_schema
    from janus.services.errors import ServiceError

    ensure_schema()
    try:
        result = audit_retention.prune(days=days, export_dir=export_dir, fmt=fmt, batch=batch, pause=pause)
    except ServiceError as exc:
        raise click.ClickException(exc.message) from None
    if result.skipped:
        click.echo(f"nothing pruned: {result.skipped}")
        return
    where = f", exported to {result.exported_to}" if result.exported_to else ""
    click.echo(f"pruned {result.pruned} tool-call audit row(s) created before {result.cutoff}{where}")


@audit_group.command(
    "export", help="Write the tool-call audit rows of a time range (every column) to a file or stdout."
)
@click.option("--since", help="ISO 8601 date-time, e.g. 2026-11-25T00:00:00Z (default: the first row).")
@click.option("--until", help="ISO 8601 date-time, inclusive (default: the last row).")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), help="File to write (default: stdout).")
def audit_export_command(since: str | None, until: str | None, fmt: str, output: str | None) -> None:
    from janus.services import audit_retention
    from janus.services.bootstrap import ensure_schema
    from janus.services.errors import ServiceError

    ensure_schema()
    try:
        chunks = audit_retention.export_rows(since=since, until=until, fmt=fmt)
    except ServiceError as exc:
        raise click.ClickException(exc.message) from None
    with click.open_file(output or "-", "w", encoding="utf-8") as out:
        for chunk in chunks:
            out.write(chunk)


@audit_group.command(
    "rollup", help="Bring the telemetry rollups up to date now (e.g. after an upgrade, before a read)."
)
def audit_rollup_command() -> None:
    from janus.services import audit_rollups
    from janus.services.bootstrap import ensure_schema

    ensure_schema()
    counted = audit_rollups.advance(budget_seconds=None)
    click.echo(f"rolled up {counted} tool-call audit row(s); the rollups are current")
