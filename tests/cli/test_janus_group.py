"""`flask janus users …`: the break-glass commands an operator runs on the server when the admin is locked out."""

from __future__ import annotations

from tests.admin_api.conftest import PASSWORD, add_user, audit_rows
from tests.conftest import make_app

LOGIN = "/api/v1/login"
ATTACKER = {"REMOTE_ADDR": "203.0.113.7"}


def _lock_out(app, api) -> None:
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        api.post(LOGIN, json={"username": "root", "password": "guess"}, environ_base=ATTACKER)
    assert api.post(LOGIN, json={"username": "root", "password": PASSWORD}, environ_base=ATTACKER).status_code == 429


def _server_cli(app, *args: str, input: str | None = None):
    """The command as another process on the server runs it: its own app (and its own counters), same database."""
    other = make_app(
        {"DATABASE_PATH": app.config["DATABASE_PATH"]},
        VAULT_LOCAL_PATH=app.config["VAULT_LOCAL_PATH"],
        JWT_SECRET=app.config["JWT_SECRET"],
    )
    with other.app_context():  # as `flask --app janus` provides
        return other.test_cli_runner().invoke(args=["janus", "users", *args], input=input)


def test_users_unlock_ends_a_lockout_held_in_another_process(sqlite_app):
    add_user(sqlite_app, "root", "admin")
    api = sqlite_app.test_client()
    _lock_out(sqlite_app, api)

    result = _server_cli(sqlite_app, "unlock", "root")

    assert result.exit_code == 0, result.output
    assert "unlocked root" in result.output
    assert api.post(LOGIN, json={"username": "root", "password": PASSWORD}, environ_base=ATTACKER).status_code == 200
    [row] = audit_rows(sqlite_app, "login.unlock")
    assert (row.actor, row.details) == ("cli", {"via": "cli"})


def test_users_unlock_of_an_unknown_user_fails_with_a_message(sqlite_app):
    result = _server_cli(sqlite_app, "unlock", "nobody")
    assert result.exit_code == 1 and "user 'nobody' not found" in result.output


def test_users_set_password_sets_it_ends_sessions_and_unlocks(sqlite_app):
    add_user(sqlite_app, "root", "admin")
    api = sqlite_app.test_client()
    old = api.post(LOGIN, json={"username": "root", "password": PASSWORD}).json["token"]
    _lock_out(sqlite_app, api)

    result = _server_cli(sqlite_app, "set-password", "root", input="a fresh break-glass password\n")

    assert result.exit_code == 0, result.output
    assert api.get("/api/v1/status", headers={"Authorization": f"Bearer {old}"}).status_code == 401
    fresh = {"username": "root", "password": "a fresh break-glass password"}
    assert api.post(LOGIN, json=fresh, environ_base=ATTACKER).status_code == 200
    assert "a fresh break-glass password" not in str([r.details for r in audit_rows(sqlite_app)])


def test_users_set_password_refuses_a_short_password(sqlite_app):
    add_user(sqlite_app, "root", "admin")
    result = _server_cli(sqlite_app, "set-password", "root", input="short\n")
    assert result.exit_code == 1 and "password must be at least 12 characters" in result.output


def test_the_documented_command_line_works_in_a_real_process(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from tests.support.stdio import gateway_env

    flask = str(Path(sys.executable).with_name("flask"))
    env = gateway_env(str(tmp_path / "janus.db"))
    run = [flask, "--app", "janus", "janus", "users"]
    subprocess.run(
        [flask, "--app", "janus", "janus", "bootstrap"], env=env, capture_output=True, timeout=120, check=True
    )

    unlocked = subprocess.run([*run, "unlock", "admin"], env=env, capture_output=True, text=True, timeout=120)
    missing = subprocess.run([*run, "unlock", "nobody"], env=env, capture_output=True, text=True, timeout=120)

    assert unlocked.returncode == 0 and "unlocked admin" in unlocked.stdout, unlocked.stderr
    assert missing.returncode == 1 and "Error: user 'nobody' not found" in missing.stderr
    assert "Traceback" not in missing.stderr


def _audit_cli(app, *args: str):
    with app.app_context():
        return app.test_cli_runner().invoke(args=["janus", "audit", *args])


def test_audit_rollup_export_and_prune_from_the_command_line(sqlite_app, tmp_path):
    import json
    from datetime import UTC, datetime, timedelta

    from janus.extensions import db
    from janus.models import ToolCallLog

    now = datetime.now(UTC)
    with sqlite_app.app_context():
        db.session.add_all(
            ToolCallLog(created_at=now - timedelta(days=d), tool_name="t", status="success", duration_ms=2.0)
            for d in (40, 20, 1)
        )
        db.session.commit()
    rolled = _audit_cli(sqlite_app, "rollup")
    assert rolled.exit_code == 0 and "rolled up 3 tool-call audit row(s)" in rolled.output
    out = tmp_path / "range.jsonl"
    since = (now - timedelta(days=30)).isoformat()
    exported = _audit_cli(sqlite_app, "export", "--since", since, "-o", str(out))
    assert exported.exit_code == 0 and len(out.read_text().splitlines()) == 2
    assert {json.loads(line)["tool_name"] for line in out.read_text().splitlines()} == {"t"}
    refused = _audit_cli(sqlite_app, "prune")
    assert refused.exit_code == 1 and "AUDIT_RETENTION_DAYS is not set" in refused.output
    bad = _audit_cli(sqlite_app, "export", "--since", "last tuesday")
    assert bad.exit_code == 1 and "since must be an ISO 8601 date-time" in bad.output
    pruned = _audit_cli(sqlite_app, "prune", "--days", "30", "--export-dir", str(tmp_path / "x"), "--pause", "0")
    assert pruned.exit_code == 0 and "pruned 1 tool-call audit row(s)" in pruned.output
