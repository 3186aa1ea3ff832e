"""OAuth 2.1 resource server: JWT access tokens from the configured authorization servers.

Besides its own client tokens, the gateway accepts an access token (RFC 9068 shape) that one of
OAUTH_ISSUERS issued for this gateway, the MCP authorization specification's "resource server" role:

- `iss` is one of OAUTH_ISSUERS, exactly; its keys come from the `jwks_uri` of its RFC 8414 metadata
  (`/.well-known/oauth-authorization-server`, else OpenID Connect discovery), fetched through the
  egress policy and cached (OAUTH_JWKS_CACHE_SECONDS). A `kid` the cache does not know fetches the key
  set again once, at most every OAUTH_JWKS_MIN_REFETCH_SECONDS per issuer (key rotation without letting
  junk tokens make the gateway hammer the authorization server).
- `aud` (RFC 8707) names this gateway's resource, PUBLIC_URL + "/mcp", which /sse and /api/tools share:
  one gateway, one resource, one RFC 9728 document.
- `exp` is required and, like `nbf`, checked with LEEWAY seconds of clock skew.
- Only asymmetric algorithms, and only the one the chosen key is for (its `kty`, curve and, when the JWK
  declares one, its `alg`): `none`, HS256 signed with a public key and the like never verify.
- Tool scopes: the globs of the OAUTH_SCOPES_CLAIM claim (a space-separated string or a list) plus those
  OAUTH_GROUP_SCOPE_MAP gives the groups of OAUTH_GROUPS_CLAIM; the admin role only for a member of an
  OAUTH_ADMIN_GROUPS group. The result is a TokenRecord of the identity's own, carried by its Principal,
  so the catalogue's scope filtering, the admin tools and the audit row treat both kinds alike.

Verified claims are cached per token (a bounded LRU keyed by the token's SHA-256, each entry expiring
with the token), so repeated calls cost a hash and a dict lookup: no signature, no database.
The token itself is never logged, never stored, never sent anywhere.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from janus.gateway.catalog import Principal, TokenRecord

log = logging.getLogger(__name__)

LEEWAY = 30  # seconds of clock skew accepted on exp and nbf
MAX_DOCUMENT_BYTES = 262_144  # a discovery document or a key set is a few kilobytes
FETCH_TIMEOUT = (5.0, 10.0)  # connect, read
CLAIMS_CACHE_SIZE = 10_000
ADMIN_ROLE, CLIENT_ROLE = "admin", "client"
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})  # plain http allowed only here (tests, sidecars)

# alg -> (kty, curves or None): the key an algorithm may be verified with. Symmetric algorithms and
# `none` are absent: a token naming one is refused before any key is looked at.
ALGORITHMS: dict[str, tuple[str, frozenset[str] | None]] = {
    **{f"{family}{bits}": ("RSA", None) for family in ("RS", "PS") for bits in (256, 384, 512)},
    "ES256": ("EC", frozenset({"P-256"})),
    "ES384": ("EC", frozenset({"P-384"})),
    "ES512": ("EC", frozenset({"P-521"})),
    "EdDSA": ("OKP", frozenset({"Ed25519", "Ed448"})),
    "Ed25519": ("OKP", frozenset({"Ed25519"})),
    "Ed448": ("OKP", frozenset({"Ed448"})),
}


class TokenRefused(Exception):
    """The access token is not accepted; the message is safe to send (it never quotes the token)."""


class IssuerUnavailable(TokenRefused):
    """The token may be fine but its issuer's keys cannot be had right now (a 503, not a 401)."""


# -- settings ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    issuers: tuple[str, ...]
    resource: str
    scopes_claim: str = "scope"
    groups_claim: str = "groups"
    group_scopes: tuple[tuple[str, tuple[str, ...]], ...] = ()
    admin_groups: frozenset[str] = frozenset()
    scopes_supported: tuple[str, ...] = ()
    jwks_cache_seconds: float = 3600.0
    jwks_min_refetch_seconds: float = 30.0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Settings | None:
        """None when no OAUTH_ISSUERS are configured (janus.config.load has checked the values)."""
        issuers = tuple(config.get("OAUTH_ISSUERS") or ())
        if not issuers:
            return None
        group_scopes = tuple((g, tuple(s)) for g, s in (config.get("OAUTH_GROUP_SCOPE_MAP") or {}).items())
        supported = tuple(config.get("OAUTH_SCOPES_SUPPORTED") or ()) or tuple(
            dict.fromkeys(s for _, scopes in group_scopes for s in scopes)
        )
        return cls(
            issuers=issuers,
            resource=resource_of(config),
            scopes_claim=config.get("OAUTH_SCOPES_CLAIM", "scope"),
            groups_claim=config.get("OAUTH_GROUPS_CLAIM", "groups"),
            group_scopes=group_scopes,
            admin_groups=frozenset(config.get("OAUTH_ADMIN_GROUPS") or ()),
            scopes_supported=supported,
            jwks_cache_seconds=float(config.get("OAUTH_JWKS_CACHE_SECONDS", 3600.0)),
            jwks_min_refetch_seconds=float(config.get("OAUTH_JWKS_MIN_REFETCH_SECONDS", 30.0)),
        )


def resource_of(config: Mapping[str, Any]) -> str:
    """The resource identifier access tokens must name in `aud`: PUBLIC_URL + "/mcp"."""
    return str(config.get("PUBLIC_URL") or "").rstrip("/") + "/mcp"


# -- fetching discovery documents and key sets through the egress policy -----------------------------


class Fetcher:
    """GET a small JSON document through the egress policy (the executor's route and trust store)."""

    def __init__(self, egress_allowlist: Any = ()) -> None:
        from janus.gateway.egress import EgressPolicy

        self._egress = EgressPolicy(egress_allowlist)
        self._managers: dict[tuple[int, str], Any] = {}
        self._lock = threading.Lock()

    def _manager(self, url: str) -> Any:
        import urllib3

        from janus.gateway.outbound import proxy_for, tls_options

        parts = urlsplit(url)
        proxy = proxy_for(parts.scheme, parts.hostname) or ""
        key = (os.getpid(), proxy)  # a forked worker builds its own pools
        with self._lock:
            manager = self._managers.get(key)
            if manager is None:
                tls = tls_options()
                manager = urllib3.ProxyManager(proxy, num_pools=4, **tls) if proxy else urllib3.PoolManager(4, **tls)
                if not proxy:
                    manager.pool_classes_by_scheme = self._egress.pool_classes
                self._managers[key] = manager
        return manager

    def __call__(self, url: str) -> dict[str, Any]:
        import urllib3

        parts = urlsplit(url)
        if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in LOOPBACK):
            raise IssuerUnavailable(f"refusing to fetch {_where(url)} over {parts.scheme or 'no scheme'}: https only")
        try:
            manager = self._manager(url)
            if isinstance(manager, urllib3.ProxyManager):
                self._egress.check_proxied(parts.hostname or "")
            response = manager.urlopen(
                "GET",
                url,
                headers={"Accept": "application/json"},
                timeout=urllib3.Timeout(connect=FETCH_TIMEOUT[0], read=FETCH_TIMEOUT[1]),
                redirect=False,
                retries=False,
                preload_content=False,
            )
            try:
                body = response.read(MAX_DOCUMENT_BYTES + 1, decode_content=True)
                if len(body) > MAX_DOCUMENT_BYTES:
                    response.close()
                    raise IssuerUnavailable(f"{_where(url)} sent more than {MAX_DOCUMENT_BYTES} bytes")
                response.drain_conn()
            finally:
                response.release_conn()
        except IssuerUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001 - any network failure: the issuer is unavailable
            from janus.gateway.egress import EgressRefused
            from janus.gateway.errors import exception_chain

            refused = next((e for e in exception_chain(exc) if isinstance(e, EgressRefused)), None)
            why = f"refused by the egress policy: {refused}" if refused else type(exc).__name__
            raise IssuerUnavailable(f"could not fetch {_where(url)}: {why}") from None
        if response.status != 200:
            raise IssuerUnavailable(f"{_where(url)} answered HTTP {response.status}")
        try:
            document = json.loads(body)
        except ValueError:
            raise IssuerUnavailable(f"{_where(url)} is not JSON") from None
        if not isinstance(document, dict):
            raise IssuerUnavailable(f"{_where(url)} is not a JSON object")
        return document


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def discovery_urls(issuer: str) -> list[str]:
    """RFC 8414 §3.1 (the well-known segment between host and path), then OpenID Connect discovery."""
    parts = urlsplit(issuer)
    base, path = f"{parts.scheme}://{parts.netloc}", parts.path.rstrip("/")
    urls = [f"{base}/.well-known/oauth-authorization-server{path}", f"{base}/.well-known/openid-configuration{path}"]
    if path:
        urls.append(f"{base}{path}/.well-known/openid-configuration")  # OIDC's own spelling
    return urls


# -- one issuer's keys ---------------------------------------------------------------------------------


class IssuerKeys:
    """An issuer's verification keys: discovered and fetched on first use, refetched when stale or
    when a token names a kid not in the set, never more often than `min_refetch` seconds."""

    def __init__(
        self,
        issuer: str,
        fetch: Callable[[str], dict[str, Any]],
        *,
        cache_seconds: float,
        min_refetch: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.issuer = issuer
        self._fetch = fetch
        self._cache_seconds = cache_seconds
        self._min_refetch = min_refetch
        self._clock = clock
        self._jwks_uri: str | None = None
        self._keys: list[Any] = []
        self._fetched_at: float | None = None  # last successful fetch
        self._attempted_at: float | None = None  # last scheduled attempt, failed or not
        self._kid_refetch_at: float | None = None  # last refetch for a kid not in the set
        self._problem: str | None = None
        self._lock = threading.Lock()
        self.fetches = 0  # key-set fetches so far (the tests read it)

    def keys_for(self, header: dict[str, Any]) -> list[Any]:
        """The candidate keys for this token header (one when it names a kid)."""
        now = self._clock()
        if self._fetched_at is None or now - self._fetched_at >= self._cache_seconds:
            self._refresh(now, unknown_kid=False)
        found = _matching(self._keys, header)
        if not found and header.get("kid") is not None and self._fetched_at is not None:
            self._refresh(now, unknown_kid=True)  # perhaps a rotation
            found = _matching(self._keys, header)
        if not found:
            if self._fetched_at is None and self._problem:
                raise IssuerUnavailable(f"the keys of issuer {self.issuer} are unavailable: {self._problem}")
            raise TokenRefused("The access token's signing key is not one of its issuer's keys.")
        return found

    def _refresh(self, now: float, *, unknown_kid: bool) -> None:
        """Fetch the key set, unless one was just fetched (or failed) for the same reason: a stale or
        missing set is retried at most every `min_refetch` seconds, and so is an unknown kid, however many
        tokens with junk kids arrive."""
        with self._lock:
            last = self._kid_refetch_at if unknown_kid else self._attempted_at
            if last is not None and now - last < self._min_refetch:
                return
            if unknown_kid:
                self._kid_refetch_at = now
            else:
                self._attempted_at = now
            if not unknown_kid and self._fetched_at is not None and now - self._fetched_at < self._cache_seconds:
                return  # another request refreshed it while this one waited for the lock
            try:
                if self._jwks_uri is None:
                    self._jwks_uri = self._discover()
                document = self._fetch(self._jwks_uri)
                self.fetches += 1
                keys = _import_keys(document)
            except IssuerUnavailable as exc:
                self._problem = str(exc)
                log.warning("OAuth issuer %s: %s", self.issuer, exc)
                return
            self._keys, self._fetched_at, self._problem = keys, now, None
            log.info("OAuth issuer %s: %d signing keys loaded", self.issuer, len(keys))

    def _discover(self) -> str:
        problems = []
        for url in discovery_urls(self.issuer):
            try:
                metadata = self._fetch(url)
            except IssuerUnavailable as exc:
                problems.append(str(exc))
                continue
            if metadata.get("issuer") != self.issuer:
                # RFC 8414 §3.3: a document naming another issuer must not be used.
                problems.append(f"{_where(url)} names another issuer")
                continue
            jwks_uri = metadata.get("jwks_uri")
            if not isinstance(jwks_uri, str) or not jwks_uri:
                problems.append(f"{_where(url)} has no jwks_uri")
                continue
            return jwks_uri
        raise IssuerUnavailable("; ".join(problems) or "no discovery document")


def _import_keys(document: dict[str, Any]) -> list[Any]:
    from joserfc.jwk import JWKRegistry

    entries = document.get("keys")
    if not isinstance(entries, list):
        raise IssuerUnavailable("the key set has no 'keys' list")
    keys = []
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("kty") not in ("RSA", "EC", "OKP"):
            continue  # symmetric keys never verify an access token here
        if entry.get("use", "sig") != "sig" or any(k in entry for k in ("d", "p", "q", "k")):
            continue  # an encryption key, or private material published by mistake
        try:
            keys.append(JWKRegistry.import_key(entry))
        except Exception:  # noqa: BLE001 - skip a key we cannot read, keep the others
            log.warning("skipping an unreadable key (kid %r) in a key set", str(entry.get("kid"))[:64])
    return keys


def _matching(keys: list[Any], header: dict[str, Any]) -> list[Any]:
    alg = header["alg"]
    kty, curves = ALGORITHMS[alg]
    kid = header.get("kid")
    found = []
    for key in keys:
        if kid is not None and key.kid != kid:
            continue
        if key.key_type != kty or (curves is not None and key.get("crv") not in curves):
            continue
        declared = key.get("alg")
        if declared is not None and declared != alg:
            continue  # the JWK is for another algorithm
        found.append(key)
    return found


# -- the resource server -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grant:
    """A verified token's identity: its TokenRecord (scopes, role, subject) and the session key."""

    record: TokenRecord
    identity_hash: str
    expires: float  # epoch seconds past which the cached grant is no longer used


class ResourceServer:
    def __init__(
        self,
        settings: Settings,
        fetch: Callable[[str], dict[str, Any]],
        *,
        clock: Callable[[], float] = time.time,
        cache_size: int = CLAIMS_CACHE_SIZE,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self.issuers = {
            issuer: IssuerKeys(
                issuer,
                fetch,
                cache_seconds=settings.jwks_cache_seconds,
                min_refetch=settings.jwks_min_refetch_seconds,
            )
            for issuer in settings.issuers
        }
        self._cache: OrderedDict[bytes, Grant] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self.verifications = 0  # signatures checked so far (the tests read it)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ResourceServer | None:
        settings = Settings.from_config(config)
        if settings is None:
            return None
        return cls(settings, Fetcher(config.get("EGRESS_ALLOWLIST") or ()))

    @staticmethod
    def looks_like_jwt(token: str) -> bool:
        return token.count(".") == 2 and token.startswith("ey")

    def principal(self, token: str, transport: str, hash_identity: Callable[[str], str]) -> Principal:
        grant = self.grant(token, hash_identity)
        return Principal(token_hash=grant.identity_hash, transport=transport, grant=grant.record)

    def grant(self, token: str, hash_identity: Callable[[str], str]) -> Grant:
        """The token's grant, from the cache or verified now; TokenRefused otherwise."""
        key = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        now = self._clock()
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                if now < cached.expires:
                    self._cache.move_to_end(key)
                    return cached
                del self._cache[key]
        claims = self.verify(token, now)
        grant = self._grant_of(claims, hash_identity)
        with self._lock:
            self._cache[key] = grant
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return grant

    def verify(self, token: str, now: float | None = None) -> dict[str, Any]:
        """The token's claims once its signature, issuer, audience and times check out."""
        now = self._clock() if now is None else now
        try:
            header_part, payload_part, signature_part = token.split(".")
            header = json.loads(_b64(header_part))
            claims = json.loads(_b64(payload_part))
            signature = _b64(signature_part)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise TokenRefused("The access token is not a well-formed JWT.") from None
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise TokenRefused("The access token is not a well-formed JWT.")
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in ALGORITHMS:
            raise TokenRefused("The access token's algorithm is not accepted (asymmetric signatures only).")
        if "crit" in header:
            raise TokenRefused("The access token has critical header parameters this gateway does not support.")
        issuer = claims.get("iss")
        keys = self.issuers.get(issuer) if isinstance(issuer, str) else None
        if keys is None:
            raise TokenRefused("The access token's issuer is not trusted here.")
        candidates = keys.keys_for(header)
        signing_input = f"{header_part}.{payload_part}".encode("ascii")
        if not any(_verify_signature(alg, signing_input, signature, key) for key in candidates):
            raise TokenRefused("The access token's signature does not verify.")
        self.verifications += 1
        self._check_claims(claims, now)
        return claims

    def _check_claims(self, claims: dict[str, Any], now: float) -> None:
        audience = claims.get("aud")
        audiences = [audience] if isinstance(audience, str) else audience if isinstance(audience, list) else []
        if self.settings.resource not in audiences:
            raise TokenRefused(
                f"The access token was not issued for this resource ({self.settings.resource}); "
                "request it with that RFC 8707 resource indicator."
            )
        expires = claims.get("exp")
        if not isinstance(expires, int | float) or isinstance(expires, bool):
            raise TokenRefused("The access token has no expiry.")
        if now >= expires + LEEWAY:
            raise TokenRefused("The access token has expired.")
        not_before = claims.get("nbf")
        if not_before is not None and (not _number(not_before) or now + LEEWAY < float(not_before)):
            raise TokenRefused("The access token is not valid yet.")
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise TokenRefused("The access token names no subject.")

    def _grant_of(self, claims: dict[str, Any], hash_identity: Callable[[str], str]) -> Grant:
        issuer, subject = claims["iss"], claims["sub"]
        groups = set(_strings(_claim(claims, self.settings.groups_claim))) if self.settings.groups_claim else set()
        scopes: dict[str, None] = {}
        if self.settings.scopes_claim:
            for scope in _strings(_claim(claims, self.settings.scopes_claim)):
                scopes[scope] = None
        for group, globs in self.settings.group_scopes:
            if group in groups:
                scopes.update(dict.fromkeys(globs))
        admin = bool(groups & self.settings.admin_groups)
        expires = float(claims["exp"]) + LEEWAY
        record = TokenRecord(
            id="",  # not a row of the token table: no last_used_at to update
            name=subject_label(issuer, subject),
            role=ADMIN_ROLE if admin else CLIENT_ROLE,
            scopes=tuple(sorted(scopes)),  # sorted: equal grants share one cached listing
            expires_at=datetime.fromtimestamp(expires, UTC),
        )
        return Grant(record=record, identity_hash=hash_identity(f"oauth\n{issuer}\n{subject}"), expires=expires)


def subject_label(issuer: str, subject: str) -> str:
    """The audit log's name for an OAuth identity: `oauth:<issuer host>:<sub>`, within its 200 characters."""
    host = urlsplit(issuer).hostname or issuer
    return f"oauth:{host}:{subject}"[:200]


def _b64(part: str) -> bytes:
    if not part or "=" in part:
        raise ValueError("not base64url without padding")
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _claim(claims: dict[str, Any], path: str) -> Any:
    """A claim by name, or by a dotted path into nested objects (Keycloak's `realm_access.roles`)."""
    if path in claims:
        return claims[path]
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _strings(value: Any) -> list[str]:
    """A space-separated string (OAuth's `scope`) or a list of strings (`scp`, `groups`)."""
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str) and v]
    return []


def _verify_signature(alg: str, signing_input: bytes, signature: bytes, key: Any) -> bool:
    from joserfc.jws import JWSRegistry

    model = JWSRegistry.algorithms[alg]  # by name, not get_alg: the table above is the allow-list
    try:
        model.check_key(key)
        return bool(model.verify(signing_input, signature, key))
    except Exception:  # noqa: BLE001 - a key of the wrong shape verifies nothing
        return False
