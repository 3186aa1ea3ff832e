"""A real OpenID Connect provider on 127.0.0.1 for the single sign-on tests, built from Authlib's
authorization-server components and served by werkzeug on a thread.

It speaks the real protocol: discovery, a JWKS with an RSA key made at start, the authorization code
flow with PKCE (S256 required) and OpenID Connect (nonce, ID tokens signed RS256), userinfo,
RP-initiated logout (end_session) and the device authorization grant (RFC 8628). What is not real is
the person: the test decides who signs in next, with which groups, and can spoil the next ID token
(issuer, audience, expiry, nonce, signature) to check that the gateway refuses it.

    with OidcProvider() as idp:
        idp.allow_redirect(gateway_url + "/login/sso/callback")
        idp.next_user = idp.person("alice", groups=["janus-admins"])
        ...

Only loopback addresses; everything is in memory and goes with the object.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc8628 import DeviceAuthorizationEndpoint, DeviceCodeGrant, DeviceCredentialDict
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode, OpenIDToken
from flask import Flask, abort, jsonify, redirect, request
from joserfc.jwk import RSAKey
from werkzeug.serving import WSGIRequestHandler, make_server

PORTAL_CLIENT_ID = "janus-portal"
PORTAL_CLIENT_SECRET = "portal-client-secret-" + "x" * 24
CLI_CLIENT_ID = "janus-cli"
ADMINS, VIEWERS, OTHERS = "janus-admins", "janus-viewers", "payroll"


@dataclass
class Person:
    sub: str
    username: str
    groups: list[str]
    email: str = ""

    def get_user_id(self) -> str:
        return self.sub

    def claims(self) -> dict[str, Any]:
        return {
            "sub": self.sub,
            "preferred_username": self.username,
            "email": self.email or f"{self.username}@example.test",
            "name": self.username.title(),
            "groups": list(self.groups),
        }


@dataclass
class Client(ClientMixin):
    client_id: str
    client_secret: str | None
    grant_types: tuple[str, ...]
    redirect_uris: set[str] = field(default_factory=set)

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return next(iter(self.redirect_uris), None)

    def get_allowed_scope(self, scope):
        return " ".join(s for s in (scope or "").split() if s in {"openid", "profile", "email", "groups"})

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri in self.redirect_uris  # exact match, as real IdPs do

    def check_client_secret(self, client_secret):
        return self.client_secret is not None and secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method, endpoint):
        if self.client_secret is None:
            return method == "none"
        return method in {"client_secret_basic", "client_secret_post"}

    def check_response_type(self, response_type):
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type):
        return grant_type in self.grant_types


@dataclass
class AuthCode:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: Person
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int = field(default_factory=lambda: int(time.time()))

    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope

    def get_nonce(self):
        return self.nonce

    def get_auth_time(self):
        return self.auth_time

    def get_acr(self):
        return None

    def get_amr(self):
        return None


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:  # the test output is not an access log
        pass


class OidcProvider:
    DROP = object()  # in spoil_next: leave this claim out of the next ID token (userinfo still has it)

    def __init__(self, *, device: bool = True, end_session: bool = True) -> None:
        self.device = device
        self.end_session = end_session
        self.key = RSAKey.generate_key(
            2048, parameters={"kid": "idp-key-1", "use": "sig", "alg": "RS256"}, private=True
        )
        # Same kid, another key: a token signed with it must fail the signature check, not the key lookup.
        self.impostor_key = RSAKey.generate_key(2048, parameters={"kid": "idp-key-1"}, private=True)
        self.portal = Client(PORTAL_CLIENT_ID, PORTAL_CLIENT_SECRET, ("authorization_code",))
        self.cli = Client(CLI_CLIENT_ID, None, (DeviceCodeGrant.GRANT_TYPE,))
        self.next_user: Person = self.person("alice", groups=[ADMINS])
        self.deny_next = False  # the person cancels at the IdP: error=access_denied
        self.spoil_next: dict[str, Any] = {}  # claims put into the next ID token over the real ones
        self.sign_next_with_impostor_key = False
        self.authorization_requests: list[dict[str, str]] = []
        self.token_requests: list[dict[str, str]] = []
        self.end_session_requests: list[dict[str, str]] = []
        self.issued_id_tokens: list[str] = []
        self.access_tokens: dict[str, Person] = {}
        self.codes: dict[str, AuthCode] = {}
        self.device_credentials: dict[str, DeviceCredentialDict] = {}
        self.device_grants: dict[str, tuple[Person, bool]] = {}
        self._lock = threading.Lock()
        self.app = self._build_app()
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True, request_handler=_Quiet)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- what tests use -----------------------------------------------------------

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def origin(self) -> str:
        return self.issuer

    @staticmethod
    def person(username: str, *, groups: list[str], sub: str | None = None) -> Person:
        return Person(sub=sub or f"sub-{username}-0001", username=username, groups=list(groups))

    def allow_redirect(self, uri: str) -> None:
        self.portal.redirect_uris.add(uri)

    def gateway_settings(self, gateway_url: str | None = None, **extra: str) -> dict[str, str]:
        """The OIDC_* environment of a gateway using this provider."""
        if gateway_url:
            self.allow_redirect(gateway_url.rstrip("/") + "/login/sso/callback")
        return {
            "OIDC_ISSUER": self.issuer,
            "OIDC_CLIENT_ID": PORTAL_CLIENT_ID,
            "OIDC_CLIENT_SECRET": PORTAL_CLIENT_SECRET,
            "OIDC_CLI_CLIENT_ID": CLI_CLIENT_ID,
            "OIDC_ADMIN_GROUPS": ADMINS,
            "OIDC_VIEWER_GROUPS": VIEWERS,
            **({"PUBLIC_URL": gateway_url.rstrip("/")} if gateway_url else {}),
            **extra,
        }

    def approve_device(self, user_code: str, person: Person | None = None, *, approved: bool = True) -> None:
        """The person enters the user code at the verification page and approves (or denies)."""
        with self._lock:
            if not any(c["user_code"] == user_code for c in self.device_credentials.values()):
                raise KeyError(f"no device authorization with user code {user_code!r}")
            self.device_grants[user_code] = (person or self.next_user, approved)

    def id_token(
        self, person: Person | None = None, *, audience: str = CLI_CLIENT_ID, key: RSAKey | None = None, **claims: Any
    ) -> str:
        """A well-signed ID token made directly (as the token endpoint would), for API-level tests."""
        from joserfc import jwt

        now = int(time.time())
        payload = {
            "iss": self.issuer,
            "aud": audience,
            "iat": now,
            "exp": now + 300,
            **(person or self.next_user).claims(),
        }
        payload.update(claims)
        return jwt.encode({"alg": "RS256", "kid": "idp-key-1"}, payload, key or self.key)

    def start(self) -> OidcProvider:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> OidcProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the server -----------------------------------------------------------------

    def _build_app(self) -> Flask:
        provider = self
        app = Flask("oidc-test-provider")
        app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {"authorization_code": 300, DeviceCodeGrant.GRANT_TYPE: 300}
        clients = {self.portal.client_id: self.portal, self.cli.client_id: self.cli}

        def save_token(token: dict, req: Any) -> None:
            with provider._lock:
                provider.access_tokens[token["access_token"]] = req.user

        server = AuthorizationServer(app, query_client=clients.get, save_token=save_token)

        class IdTokens:
            """What every ID token of this provider carries, and the test's spoilers."""

            def resolve_client_private_key(self, client):
                if provider.sign_next_with_impostor_key:
                    provider.sign_next_with_impostor_key = False
                    return provider.impostor_key
                return provider.key

            def get_client_algorithm(self, client):
                return "RS256"

            def get_client_claims(self, client):
                return {"iss": provider.issuer, "aud": [client.get_client_id()]}

            def get_encode_header(self, client):
                return {"alg": "RS256", "kid": "idp-key-1"}

            def generate_user_info(self, user, scope):
                info = UserInfo(user.claims())
                spoil, provider.spoil_next = provider.spoil_next, {}
                info.update({k: v for k, v in spoil.items() if v is not OidcProvider.DROP})  # the test's claims win
                for name in [k for k, v in spoil.items() if v is OidcProvider.DROP]:
                    info.pop(name, None)
                return info

        class OpenIdCode(IdTokens, OpenIDCode):
            def exists_nonce(self, nonce, req):
                return False

        class OpenIdDevice(IdTokens, OpenIDToken):
            pass

        class CodeGrant(grants.AuthorizationCodeGrant):
            TOKEN_ENDPOINT_AUTH_METHODS = ("client_secret_basic", "client_secret_post")

            def save_authorization_code(self, code, req):
                data = req.payload.data
                provider.codes[code] = AuthCode(
                    code=code,
                    client_id=req.client.get_client_id(),
                    redirect_uri=req.payload.redirect_uri,
                    scope=req.payload.scope,
                    user=req.user,
                    nonce=data.get("nonce"),
                    code_challenge=data.get("code_challenge"),
                    code_challenge_method=data.get("code_challenge_method"),
                )

            def query_authorization_code(self, code, client):
                found = provider.codes.get(code)
                return found if found and found.client_id == client.get_client_id() else None

            def delete_authorization_code(self, authorization_code):
                provider.codes.pop(authorization_code.code, None)

            def authenticate_user(self, authorization_code):
                return authorization_code.user

        class DeviceGrant(DeviceCodeGrant):
            def query_device_credential(self, device_code):
                return provider.device_credentials.get(device_code)

            def query_user_grant(self, user_code):
                return provider.device_grants.get(user_code)

            def should_slow_down(self, credential):
                return False

        class DeviceEndpoint(DeviceAuthorizationEndpoint):
            INTERVAL = 1  # seconds between polls: keeps the tests short
            EXPIRES_IN = 120

            def get_verification_uri(self):
                return provider.issuer + "/device"

            def save_device_credential(self, client_id, scope, data):
                provider.device_credentials[data["device_code"]] = DeviceCredentialDict(
                    client_id=client_id, scope=scope, expires_at=int(time.time()) + self.EXPIRES_IN, **data
                )

        server.register_grant(CodeGrant, [CodeChallenge(required=True), OpenIdCode(require_nonce=True)])
        server.register_grant(DeviceGrant, [OpenIdDevice()])
        server.register_endpoint(DeviceEndpoint)

        @app.get("/.well-known/openid-configuration")
        def discovery():
            doc = {
                "issuer": provider.issuer,
                "authorization_endpoint": provider.issuer + "/authorize",
                "token_endpoint": provider.issuer + "/token",
                "jwks_uri": provider.issuer + "/jwks",
                "userinfo_endpoint": provider.issuer + "/userinfo",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "scopes_supported": ["openid", "profile", "email", "groups"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
                "grant_types_supported": ["authorization_code"],
                "claims_supported": [
                    "sub",
                    "iss",
                    "aud",
                    "exp",
                    "iat",
                    "nonce",
                    "preferred_username",
                    "email",
                    "groups",
                ],
            }
            if provider.end_session:
                doc["end_session_endpoint"] = provider.issuer + "/logout"
            if provider.device:
                doc["device_authorization_endpoint"] = provider.issuer + "/device_authorization"
                doc["grant_types_supported"].append(DeviceCodeGrant.GRANT_TYPE)
            return jsonify(doc)

        @app.get("/jwks")
        def jwks():
            return jsonify({"keys": [provider.key.as_dict(private=False)]})

        @app.get("/authorize")
        def authorize():
            provider.authorization_requests.append(request.args.to_dict())
            if provider.deny_next:
                provider.deny_next = False
                target = request.args.get("redirect_uri", "")
                if target not in provider.portal.redirect_uris:
                    abort(400)
                query = urlencode({"error": "access_denied", "state": request.args.get("state", "")})
                return redirect(f"{target}?{query}")
            # The test decided who is at the keyboard: no login form, the person approves at once.
            grant = server.get_consent_grant(end_user=provider.next_user)
            return server.create_authorization_response(grant=grant, grant_user=provider.next_user)

        @app.post("/token")
        def token():
            provider.token_requests.append(request.form.to_dict())
            response = server.create_token_response()
            body = response.get_json(silent=True) or {}
            if "id_token" in body:
                provider.issued_id_tokens.append(body["id_token"])
            return response

        @app.post("/device_authorization")
        def device_authorization():
            return server.create_endpoint_response(DeviceEndpoint.ENDPOINT_NAME)

        @app.get("/device")
        def device_page():
            return "<p>Enter the code shown by your device.</p>"

        @app.get("/userinfo")
        def userinfo():
            scheme, _, value = request.headers.get("Authorization", "").partition(" ")
            person = provider.access_tokens.get(value) if scheme.lower() == "bearer" else None
            if person is None:
                return jsonify(error="invalid_token"), 401
            return jsonify(person.claims())

        @app.get("/logout")
        def logout():
            provider.end_session_requests.append(request.args.to_dict())
            target = request.args.get("post_logout_redirect_uri")
            if target and target.startswith(("http://127.0.0.1:", "http://localhost:")):
                return redirect(target)
            return "<p>You are signed out of the identity provider.</p>"

        return app
