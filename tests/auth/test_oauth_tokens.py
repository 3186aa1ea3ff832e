"""The resource server's verifier (janus/auth/oauth_tokens.py) against a real authorization server.

In-process, so the tests can count signature checks and key-set fetches and move the verifier's
clock; the HTTP behaviour (401s, scopes, transports) is in tests/transports/test_oauth_resource_server.py.
"""

from __future__ import annotations

import time
import warnings

import pytest
from joserfc.jwk import ECKey, OKPKey

from janus.auth.oauth_tokens import (
    Fetcher,
    IssuerUnavailable,
    ResourceServer,
    Settings,
    TokenRefused,
    discovery_urls,
    subject_label,
)
from janus.gateway.catalog import Principal
from tests.support.oauth_server import OAuthServer
from tests.support.waiting import refused_port

RESOURCE = "https://janus.example.com/mcp"


@pytest.fixture(scope="module")
def auth_server():
    server = OAuthServer().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def fresh_keys(auth_server):
    keys = list(auth_server.keys)
    yield
    auth_server.keys[:] = keys


def _server(auth_server, clock=None, **settings) -> ResourceServer:
    options = {"jwks_min_refetch_seconds": 30.0, **settings}
    kwargs = {"clock": clock} if clock else {}
    return ResourceServer(Settings(issuers=(auth_server.issuer,), resource=RESOURCE, **options), Fetcher(), **kwargs)


def _hash(identity: str) -> str:
    return "h:" + identity


def test_verified_claims_are_cached_per_token_until_the_token_expires(auth_server):
    now = [time.time()]
    rs = _server(auth_server, clock=lambda: now[0])
    token = auth_server.mint(RESOURCE, scope="weather_*", exp=int(now[0]) + 120)
    first = rs.grant(token, _hash)
    assert rs.grant(token, _hash) is first and rs.verifications == 1  # the second call checked no signature
    assert first.record.scopes == ("weather_*",) and first.record.name == f"oauth:127.0.0.1:{auth_server.user['sub']}"
    now[0] += 120 + 29  # within the leeway: still the cached grant
    assert rs.grant(token, _hash) is first
    now[0] += 2  # past exp + leeway: verified again, and refused
    with pytest.raises(TokenRefused, match="expired"):
        rs.grant(token, _hash)


def test_the_cache_is_bounded(auth_server):
    rs = ResourceServer(Settings(issuers=(auth_server.issuer,), resource=RESOURCE), Fetcher(), cache_size=2)
    tokens = [auth_server.mint(RESOURCE) for _ in range(3)]
    for token in tokens:
        rs.grant(token, _hash)
    rs.grant(tokens[2], _hash)
    assert rs.verifications == 3
    rs.grant(tokens[0], _hash)  # the oldest was evicted
    assert rs.verifications == 4


def test_an_unknown_kid_refetches_the_key_set_once_and_then_not_again_for_a_while(auth_server):
    rs = _server(auth_server)
    rs.grant(auth_server.mint(RESOURCE), _hash)
    issuer = rs.issuers[auth_server.issuer]
    assert issuer.fetches == 1
    auth_server.rotate()
    rs.grant(auth_server.mint(RESOURCE), _hash)  # a new kid: one refetch, and it verifies
    assert issuer.fetches == 2
    auth_server.rotate()
    with pytest.raises(TokenRefused, match="signing key"):  # a second new kid at once: no fetch, refused
        rs.grant(auth_server.mint(RESOURCE), _hash)
    assert issuer.fetches == 2


def test_junk_kids_do_not_make_the_gateway_hammer_the_authorization_server(auth_server):
    rs = _server(auth_server)
    from joserfc.jwk import RSAKey

    stranger = RSAKey.generate_key(2048)
    before = auth_server.jwks_requests
    for n in range(20):
        stranger = RSAKey.import_key(stranger.as_dict(private=True), parameters={"kid": f"junk-{n}"})
        with pytest.raises(TokenRefused):
            rs.grant(auth_server.mint(RESOURCE, key=stranger), _hash)
    # The first fetch, then one refetch for the first junk kid; the other nineteen fetched nothing.
    assert auth_server.jwks_requests - before == 2


@pytest.mark.parametrize(
    "make_key, alg",
    [
        (lambda: ECKey.generate_key("P-256", parameters={"kid": "ec"}), "ES256"),
        (lambda: ECKey.generate_key("P-384", parameters={"kid": "ec384"}), "ES384"),
        (lambda: OKPKey.generate_key("Ed25519", parameters={"kid": "ed"}), "Ed25519"),
        (lambda: OKPKey.generate_key("Ed25519", parameters={"kid": "ed-legacy"}), "EdDSA"),
    ],
)
def test_other_asymmetric_algorithms_verify_with_the_key_they_are_for(auth_server, make_key, alg):
    key = make_key()
    auth_server.keys.append(key)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # joserfc warns when *signing* with "EdDSA" (RFC 9864); verifying does not
        token = auth_server.mint(RESOURCE, key=key, alg=alg)
    assert _server(auth_server).verify(token)["sub"] == auth_server.user["sub"]


def test_a_key_is_only_used_for_the_algorithm_it_declares(auth_server):
    from joserfc.jwk import RSAKey

    published = auth_server.signing_key  # its JWK says "alg": "RS256"
    unbound = RSAKey.import_key({k: v for k, v in published.as_dict(private=True).items() if k != "alg"})
    rs = _server(auth_server)
    assert rs.verify(auth_server.mint(RESOURCE, key=unbound, alg="RS256"))
    for alg in ("RS384", "PS256"):
        with pytest.raises(TokenRefused, match="signing key"):
            rs.verify(auth_server.mint(RESOURCE, key=unbound, alg=alg))


def test_an_ec_key_verifies_only_its_own_curve(auth_server):
    key = ECKey.generate_key("P-256", parameters={"kid": "ec-256"})
    auth_server.keys.append(key)
    rs = _server(auth_server)
    assert rs.verify(auth_server.mint(RESOURCE, key=key, alg="ES256"))
    forged = auth_server.mint(RESOURCE, key=ECKey.generate_key("P-384"), alg="ES384", header={"kid": "ec-256"})
    with pytest.raises(TokenRefused, match="signing key"):
        rs.verify(forged)


def test_an_audience_list_must_contain_the_resource(auth_server):
    rs = _server(auth_server)
    assert rs.verify(auth_server.mint(RESOURCE, aud=["https://other.example", RESOURCE]))
    with pytest.raises(TokenRefused, match="not issued for this resource"):
        rs.verify(auth_server.mint(RESOURCE, aud=["https://other.example"]))


def test_groups_and_scopes_from_nested_claims_and_the_admin_role(auth_server):
    rs = _server(
        auth_server,
        scopes_claim="scp",
        groups_claim="realm_access.roles",
        group_scopes=(("ops", ("admin_*",)), ("weather", ("weather_*",))),
        admin_groups=frozenset({"ops"}),
    )
    token = auth_server.mint(RESOURCE, scp=["billing_*"], realm_access={"roles": ["weather", "ops"]})
    principal = rs.principal(token, "streamable_http", _hash)
    assert isinstance(principal, Principal) and principal.grant is not None
    assert principal.grant.scopes == ("admin_*", "billing_*", "weather_*") and principal.grant.role == "admin"
    assert principal.token_hash == _hash(f"oauth\n{auth_server.issuer}\n{auth_server.user['sub']}")
    plain = rs.principal(auth_server.mint(RESOURCE, scp="weather_*"), "rest", _hash)
    assert plain.grant.role == "client" and plain.grant.scopes == ("weather_*",)


def test_an_unreachable_issuer_is_unavailable_not_a_bad_token(auth_server):
    issuer = f"http://127.0.0.1:{refused_port()}"
    rs = ResourceServer(Settings(issuers=(issuer,), resource=RESOURCE), Fetcher())
    with pytest.raises(IssuerUnavailable):
        rs.verify(auth_server.mint(RESOURCE, iss=issuer))


def test_a_metadata_document_naming_another_issuer_is_not_used(auth_server):
    # The server answers the tenant's RFC 8414 URL with a document that names the root issuer.
    issuer = auth_server.issuer + "/tenant"
    rs = ResourceServer(Settings(issuers=(issuer,), resource=RESOURCE), Fetcher())
    before = auth_server.foreign_metadata_requests
    with pytest.raises(IssuerUnavailable):
        rs.verify(auth_server.mint(RESOURCE, iss=issuer))
    assert auth_server.foreign_metadata_requests == before + 1  # it was read, and not trusted


def test_discovery_urls_follow_rfc_8414_then_oidc():
    assert discovery_urls("https://as.example") == [
        "https://as.example/.well-known/oauth-authorization-server",
        "https://as.example/.well-known/openid-configuration",
    ]
    assert discovery_urls("https://as.example/realms/acme") == [
        "https://as.example/.well-known/oauth-authorization-server/realms/acme",
        "https://as.example/.well-known/openid-configuration/realms/acme",
        "https://as.example/realms/acme/.well-known/openid-configuration",
    ]


def test_the_subject_label_names_the_issuer_host():
    assert subject_label("https://login.example.com/realms/acme", "u-1") == "oauth:login.example.com:u-1"
    assert len(subject_label("https://a.example", "x" * 500)) == 200


def test_key_sets_are_fetched_through_the_egress_policy(auth_server):
    fenced = Fetcher(["10.0.0.0/8"])  # an EGRESS_ALLOWLIST without the authorization server's address
    with pytest.raises(IssuerUnavailable, match="refused by the egress policy"):
        fenced(auth_server.issuer + "/jwks")
    rs = ResourceServer(Settings(issuers=(auth_server.issuer,), resource=RESOURCE), fenced)
    before = auth_server.jwks_requests
    with pytest.raises(IssuerUnavailable):
        rs.verify(auth_server.mint(RESOURCE))
    assert auth_server.jwks_requests == before  # nothing reached it
    assert Fetcher(["127.0.0.1/32"])(auth_server.issuer + "/jwks")["keys"]
