"""Signing in to the portal in a browser test, the way a person does: the login form."""

from __future__ import annotations


def sign_in(page, base: str, password: str, username: str = "admin", path: str = "/") -> None:
    """Open `path`, get sent to the login form, sign in, and land back on `path`.

    Going straight to `path` (not via the dashboard) also keeps the dashboard's health
    probes from being cut off mid-flight by the next navigation.
    """
    page.goto(base + path)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(base + path)


def portal_gateway(tmp, password: str, workers: int = 1, **env: str):
    """A started gateway (gunicorn, `workers` gevent workers) on a SQLite file in `tmp`, with the
    bootstrap admin `admin`/`password` and a local vault beside it: what every portal browser test
    signs in to. Rows the test writes through its own app land in `tmp / "gateway.db"`."""
    from tests.support.server import GatewayServer

    return GatewayServer(
        str(tmp / "gateway.db"),
        ADMIN_USERNAME="admin",
        ADMIN_PASSWORD=password,
        VAULT_LOCAL_PATH=str(tmp / "secrets.json"),
        WEB_CONCURRENCY=str(workers),
        **env,
    ).start()
