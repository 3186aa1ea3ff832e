"""`mcp-cli login --sso`: the OAuth 2.0 device authorization grant (RFC 8628) at the gateway's IdP.

1. GET /api/v1/login/sso on the gateway: the issuer and the (public) client id to use.
2. The IdP's discovery document: without a `device_authorization_endpoint` the IdP cannot sign in a
   terminal, and the command says so and exits 1.
3. The device authorization request; the verification URL and the user code go to stderr.
4. Polling the token endpoint at the interval the IdP asks (slower on `slow_down`) until the person
   approves, denies, or the code expires.
5. POST /api/v1/login/sso with the ID token: the gateway validates it, maps the groups to a role
   exactly as for the portal, and answers its usual session token, cached like a password login.

The IdP's tokens are sent to the gateway once and never printed or cached.
"""

from __future__ import annotations

import time
from typing import Any

import click
import requests

from janus.cli.mcp_cli_session import TIMEOUT, Api, CliError, Settings

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
MAX_WAIT = 900.0  # never poll longer than this, whatever expires_in says


def _idp_json(http: requests.Session, method: str, url: str, what: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    try:
        response = http.request(method, url, timeout=TIMEOUT, **kwargs)
    except requests.RequestException as exc:
        raise CliError(f"cannot reach the identity provider's {what} at {url}: {type(exc).__name__}") from None
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise CliError(f"the identity provider's {what} at {url} answered HTTP {response.status_code} without JSON")
    return response.status_code, body


def device_login(settings: Settings, addr: str, echo=click.echo) -> dict[str, Any]:
    """Run the device grant and exchange its ID token at the gateway; the gateway's login answer."""
    gateway = Api(settings, addr, None, None)
    try:
        sso = gateway.json("GET", "/api/v1/login/sso", auth=False)
    except CliError as exc:
        if exc.status == 404:
            raise CliError(
                f"single sign-on is not configured on {addr} (no OIDC_ISSUER): log in with a password"
            ) from None
        raise
    issuer, client_id, scope = str(sso["issuer"]).rstrip("/"), sso["client_id"], sso.get("scope") or "openid"
    http = requests.Session()
    http.headers["User-Agent"] = "mcp-cli"
    http.verify = gateway.http.verify
    status, metadata = _idp_json(http, "GET", issuer + "/.well-known/openid-configuration", "discovery document")
    if status != 200:
        raise CliError(f"the identity provider's discovery document at {issuer} answered HTTP {status}")
    device_endpoint, token_endpoint = metadata.get("device_authorization_endpoint"), metadata.get("token_endpoint")
    if not isinstance(device_endpoint, str) or not isinstance(token_endpoint, str):
        raise CliError(
            f"the identity provider at {issuer} does not offer the device authorization grant (its discovery "
            "document lists no device_authorization_endpoint), so a terminal cannot sign in with SSO there; "
            "sign in to the portal in a browser, or ask for the grant to be enabled for client "
            f"{client_id!r}"
        )
    status, started = _idp_json(
        http, "POST", device_endpoint, "device authorization endpoint", data={"client_id": client_id, "scope": scope}
    )
    if status != 200 or "device_code" not in started:
        raise CliError(
            f"the identity provider refused the device authorization request ({started.get('error', status)}): "
            f"is client {client_id!r} allowed the device grant?"
        )
    uri = started.get("verification_uri_complete") or started.get("verification_uri")
    echo(f"To sign in, open {started.get('verification_uri')} and enter the code {started['user_code']}", err=True)
    if started.get("verification_uri_complete"):
        echo(f"(or open {uri})", err=True)
    echo("Waiting for the sign-in to be approved…", err=True)
    interval = max(1.0, float(started.get("interval") or 5))
    deadline = time.monotonic() + min(float(started.get("expires_in") or 600), MAX_WAIT)
    form = {"grant_type": DEVICE_GRANT, "device_code": started["device_code"], "client_id": client_id}
    while True:
        if time.monotonic() >= deadline:
            raise CliError(
                "the sign-in was not approved in time (the device code expired); run mcp-cli login --sso again"
            )
        time.sleep(interval)  # RFC 8628 §3.5: the client waits the interval between polls
        status, answer = _idp_json(http, "POST", token_endpoint, "token endpoint", data=form)
        error = answer.get("error")
        if status == 200 and "id_token" in answer:
            break
        if error == "authorization_pending":
            continue
        if error == "slow_down":
            interval += 5
            continue
        if error == "access_denied":
            raise CliError("the sign-in was denied at the identity provider")
        if error == "expired_token":
            raise CliError("the device code expired before the sign-in was approved; run mcp-cli login --sso again")
        if status == 200:
            raise CliError("the identity provider answered no ID token: is 'openid' among the client's scopes?")
        raise CliError(f"the identity provider refused the token request ({error or status})")
    body = {"id_token": answer["id_token"]}
    if isinstance(answer.get("access_token"), str):
        body["access_token"] = answer["access_token"]
    try:
        return gateway.json("POST", "/api/v1/login/sso", json_body=body, auth=False)
    except CliError as exc:
        if exc.status in (401, 403):
            raise CliError(f"the gateway at {addr} refused the SSO sign-in: {exc.message}") from None
        raise
