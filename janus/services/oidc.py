"""The OIDC identity provider as Janus sees it: discovery, keys, and the one ID-token validator.

Portal sign-ins (authorization code + PKCE, janus.portal.sso) and `mcp-cli login --sso` (the device
grant, exchanged at POST /api/v1/login/sso) both end here, so both check the same things:

- the signature, against the IdP's JWKS (fetched from the discovery document's `jwks_uri`, fetched
  again once when a token names a key id it does not know: key rotation), asymmetric algorithms only
  (never `none` or HS256: a client secret must not be able to sign an identity);
- `iss` equal to OIDC_ISSUER, `aud` naming our client (OIDC_CLIENT_ID or OIDC_CLI_CLIENT_ID), `azp`
  when there are several audiences, `exp`/`iat`/`nbf`, a `sub`;
- the `nonce` of the sign-in, when there is one (the browser flow).

A failure is `SsoRefused` with a message that names what was wrong, never a token or secret.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import requests
from flask import Flask, current_app
from joserfc import jwt
from joserfc.errors import BadSignatureError, ClaimError, ExpiredTokenError, InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from janus.services.errors import ServiceError

ASYMMETRIC_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
METADATA_TTL = 3600.0  # the discovery document is read again after an hour
JWKS_REFETCH_MIN = 30.0  # an unknown key id refetches the JWKS at most this often (no amplification)
LEEWAY = 60  # seconds of clock skew allowed on exp/iat/nbf
MAX_TOKEN_LENGTH = 16_384


class SsoRefused(ServiceError):
    """A sign-in through the identity provider that Janus refuses (bad token, no group, …)."""

    status = 401
    error = "sso_refused"


class SsoUnavailable(ServiceError):
    """The identity provider cannot be reached or answers nonsense."""

    status = 502
    error = "sso_unavailable"


class SsoNotConfigured(ServiceError):
    status = 404
    error = "sso_not_configured"

    def __init__(self) -> None:
        super().__init__("single sign-on is not configured on this gateway (OIDC_ISSUER is unset)")


@dataclass(frozen=True)
class Settings:
    issuer: str
    client_id: str
    client_secret: str
    cli_client_id: str
    scopes: str
    groups_claim: str
    username_claim: str
    admin_groups: tuple[str, ...]
    viewer_groups: tuple[str, ...]
    only: bool
    timeout: float

    @classmethod
    def from_config(cls, cfg: Any) -> Settings:
        return cls(
            issuer=str(cfg.get("OIDC_ISSUER") or "").rstrip("/"),
            client_id=str(cfg.get("OIDC_CLIENT_ID") or ""),
            client_secret=str(cfg.get("OIDC_CLIENT_SECRET") or ""),
            cli_client_id=str(cfg.get("OIDC_CLI_CLIENT_ID") or cfg.get("OIDC_CLIENT_ID") or ""),
            scopes=str(cfg.get("OIDC_SCOPES") or "openid"),
            groups_claim=str(cfg.get("OIDC_GROUPS_CLAIM") or "groups"),
            username_claim=str(cfg.get("OIDC_USERNAME_CLAIM") or "preferred_username"),
            admin_groups=tuple(cfg.get("OIDC_ADMIN_GROUPS") or ()),
            viewer_groups=tuple(cfg.get("OIDC_VIEWER_GROUPS") or ()),
            only=bool(cfg.get("OIDC_ONLY")),
            timeout=float(cfg.get("OIDC_TIMEOUT_SECONDS") or 10.0),
        )

    @property
    def enabled(self) -> bool:
        return bool(self.issuer)

    @property
    def discovery_url(self) -> str:
        return self.issuer + "/.well-known/openid-configuration"

    @property
    def audiences(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(a for a in (self.client_id, self.cli_client_id) if a))


def settings(app: Flask | None = None) -> Settings:
    return Settings.from_config((app or current_app).config)


class Provider:
    """The IdP's discovery document and keys, cached per app and process (thread- and greenlet-safe)."""

    def __init__(self, config: Settings) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None
        self._keys_at = 0.0

    def _get(self, url: str, what: str, **kwargs: Any) -> Any:
        try:
            response = requests.get(url, timeout=self.config.timeout, **kwargs)
        except requests.RequestException as exc:
            raise SsoUnavailable(
                f"the identity provider's {what} ({url}) cannot be reached: {type(exc).__name__}"
            ) from None
        if response.status_code != 200:
            raise SsoUnavailable(f"the identity provider's {what} ({url}) answered HTTP {response.status_code}")
        try:
            data = response.json()
        except ValueError:
            raise SsoUnavailable(f"the identity provider's {what} ({url}) is not JSON") from None
        if not isinstance(data, dict):
            raise SsoUnavailable(f"the identity provider's {what} ({url}) is not a JSON object")
        return data

    def metadata(self) -> dict[str, Any]:
        with self._lock:
            if self._metadata is not None and time.monotonic() - self._metadata_at < METADATA_TTL:
                return self._metadata
        data = self._get(self.config.discovery_url, "discovery document")
        # OpenID Connect Discovery 1.0 §4.3: the document's issuer must be exactly the one configured.
        if str(data.get("issuer", "")).rstrip("/") != self.config.issuer:
            raise SsoUnavailable(
                f"the discovery document at {self.config.discovery_url} names another issuer than OIDC_ISSUER"
            )
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(data.get(name), str):
                raise SsoUnavailable(f"the identity provider's discovery document has no {name}")
        with self._lock:
            self._metadata, self._metadata_at = data, time.monotonic()
        return data

    def key_set(self, *, refresh: bool = False) -> KeySet:
        with self._lock:
            fresh = time.monotonic() - self._keys_at < JWKS_REFETCH_MIN
            if self._keys is not None and (not refresh or fresh):
                return self._keys
        data = self._get(self.metadata()["jwks_uri"], "JWKS")
        try:
            keys = KeySet.import_key_set(data)
        except (JoseError, ValueError, TypeError, KeyError):
            raise SsoUnavailable("the identity provider's JWKS holds no usable key") from None
        with self._lock:
            self._keys, self._keys_at = keys, time.monotonic()
        return keys

    def algorithms(self) -> list[str]:
        declared = self.metadata().get("id_token_signing_alg_values_supported") or ["RS256"]
        return [a for a in declared if a in ASYMMETRIC_ALGORITHMS] or ["RS256"]

    def validate_id_token(self, id_token: Any, *, nonce: str | None, audiences: tuple[str, ...]) -> dict[str, Any]:
        """The ID token's claims when it is valid for this gateway; SsoRefused naming the problem otherwise."""
        if not isinstance(id_token, str) or not id_token or len(id_token) > MAX_TOKEN_LENGTH:
            raise SsoRefused("the identity provider sent no ID token")
        algorithms = self.algorithms()
        try:
            try:
                decoded = jwt.decode(id_token, self.key_set(), algorithms=algorithms)
            except InvalidKeyIdError:
                decoded = jwt.decode(id_token, self.key_set(refresh=True), algorithms=algorithms)
        except (BadSignatureError, InvalidKeyIdError):
            raise SsoRefused("the ID token's signature does not verify with the identity provider's keys") from None
        except JoseError as exc:
            if "algorithm" in type(exc).__name__.lower() or "algorithm" in str(exc).lower():
                raise SsoRefused(
                    f"the ID token is signed with an algorithm this gateway does not accept (only {', '.join(algorithms)})"
                ) from None
            raise SsoRefused("the ID token is malformed or its signature does not verify") from None
        except (ValueError, TypeError):
            raise SsoRefused("the ID token is malformed") from None
        claims = dict(decoded.claims)
        return check_claims(claims, issuer=self.config.issuer, audiences=audiences, nonce=nonce)

    def userinfo(self, access_token: str) -> dict[str, Any]:
        endpoint = self.metadata().get("userinfo_endpoint")
        if not isinstance(endpoint, str) or not access_token:
            return {}
        return self._get(endpoint, "userinfo endpoint", headers={"Authorization": f"Bearer {access_token}"})


def check_claims(
    claims: dict[str, Any], *, issuer: str, audiences: tuple[str, ...], nonce: str | None
) -> dict[str, Any]:
    if str(claims.get("iss", "")).rstrip("/") != issuer:
        raise SsoRefused("the ID token was issued by another issuer than OIDC_ISSUER")
    aud = claims.get("aud")
    token_audiences = [aud] if isinstance(aud, str) else list(aud) if isinstance(aud, list) else []
    if not any(a in audiences for a in token_audiences):
        raise SsoRefused("the ID token is meant for another client (its audience is not this gateway's client id)")
    if len(token_audiences) > 1 and claims.get("azp") not in audiences:
        raise SsoRefused("the ID token was issued to another client (azp)")
    try:
        jwt.JWTClaimsRegistry(leeway=LEEWAY, exp={"essential": True}, sub={"essential": True}).validate(claims)
    except ExpiredTokenError:
        raise SsoRefused("the ID token has expired; sign in again") from None
    except ClaimError as exc:
        raise SsoRefused(f"the ID token's '{exc.claim}' claim is missing or not valid") from None
    if not isinstance(claims.get("sub"), str) or not claims["sub"] or len(claims["sub"]) > 255:
        raise SsoRefused("the ID token has no usable subject ('sub')")
    if nonce is not None and claims.get("nonce") != nonce:
        raise SsoRefused("the ID token's nonce does not match this sign-in (a replayed or mixed-up response)")
    return claims


_providers_lock = threading.Lock()


def provider(app: Flask | None = None) -> Provider:
    """This app's provider client in this process."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    config = settings(app)
    if not config.enabled:
        raise SsoNotConfigured()
    with _providers_lock:
        found = app.extensions.get("janus.oidc")
        if found is None or found.config != config:
            found = app.extensions["janus.oidc"] = Provider(config)
        return found
