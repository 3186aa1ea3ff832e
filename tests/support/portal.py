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
