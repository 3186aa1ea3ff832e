"""`mcp-cli user list|add|modify|delete`: portal and admin-API users, through /api/v1/users.

Passwords are never options (they would sit in shell history and `ps`): `add` and `modify --password`
read them from a hidden prompt, or the first line of stdin when it is not a terminal.
"""

from __future__ import annotations

from urllib.parse import quote

import click

from janus.cli.mcp_cli_catalog import BOOL, _delete, changes, emit_json, json_flag, note, read_secret, require_changes
from janus.cli.mcp_cli_render import table
from janus.cli.mcp_cli_session import Settings

ROLES = ("admin", "viewer")  # janus.schemas.user.ROLES (mcp-cli imports nothing of the server side)


@click.group("user", help="Portal and admin-API users: list, add (local users), modify, delete.")
def user_group() -> None:
    pass


@user_group.command("list", help="List users with their role, source (local or sso) and state.")
@json_flag
@click.pass_obj
def user_list(settings: Settings) -> None:
    items = settings.api().json("GET", "/api/v1/users")["items"]
    if settings.json_output:
        return emit_json(items)
    click.echo(
        table(
            ("ID", "Username", "Role", "Source", "Enabled", "Created"),
            [
                (u["id"], u["username"], u["role"], u.get("source", "local"), u["enabled"], u["created_at"])
                for u in items
            ],
        )
    )


@user_group.command(
    "add", help="Create a local user (password prompted, or the first line of stdin); prints its id on stdout."
)
@click.option("--username", required=True, help="Letters, digits and . _ @ - (at most 150).")
@click.option("--role", type=click.Choice(ROLES), help="admin changes things, viewer reads (default viewer).")
@click.option("--enabled", type=BOOL, help="true or false (default true).")
@json_flag
@click.pass_obj
def user_add(settings: Settings, username: str, role: str | None, enabled: bool | None) -> None:
    api = settings.api()  # before the prompt: not logged in fails at once
    password = read_secret("Password")
    user = api.json(
        "POST", "/api/v1/users", json_body=changes(username=username, password=password, role=role, enabled=enabled)
    )
    if settings.json_output:
        return emit_json(user)
    click.echo(user["id"])
    note(f"User {user['username']!r} created (role {user['role']}).")


@user_group.command(
    "modify",
    help="Change a user; only the options given change. A new password or disabling ends the user's sign-ins. "
    "SSO users have no local password, and their role follows the identity provider.",
)
@click.option("--id", "user_id", required=True, help="User id (see `mcp-cli user list`).")
@click.option("--role", type=click.Choice(ROLES))
@click.option("--enabled", type=BOOL, help="true or false: disabling ends the user's sign-ins at once.")
@click.option("--password", "new_password", is_flag=True, help="Set a new local password (prompted, or stdin).")
@json_flag
@click.pass_obj
def user_modify(settings: Settings, user_id: str, role: str | None, enabled: bool | None, new_password: bool) -> None:
    body = changes(role=role, enabled=enabled)
    if not body and not new_password:
        require_changes(body, "--role, --enabled, --password")
    api = settings.api()
    if new_password:
        body["password"] = read_secret("New password")
    user = api.json("PATCH", f"/api/v1/users/{quote(user_id, safe='')}", json_body=body)
    if settings.json_output:
        return emit_json(user)
    note(f"User {user['username']!r} updated (role {user['role']}, {'enabled' if user['enabled'] else 'disabled'}).")


@user_group.command("delete", help="Delete a user; its sign-ins end with it.")
@click.option("--id", "user_id", required=True, help="User id.")
@json_flag
@click.pass_obj
def user_delete(settings: Settings, user_id: str) -> None:
    _delete(settings, f"/api/v1/users/{quote(user_id, safe='')}", {"id": user_id}, f"User {user_id}")
