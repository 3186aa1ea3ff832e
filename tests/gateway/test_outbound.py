"""The route and the trust of outbound requests, shared by the executor and the OAuth client
(janus/gateway/outbound.py)."""

from __future__ import annotations

import pytest

from janus.gateway.outbound import proxy_for, tls_options


@pytest.fixture
def clean_env(monkeypatch):
    for name in (
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "http_proxy",
        "https_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "no_proxy",
        "NO_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_https_is_always_verified_against_the_named_bundle_or_the_system_store(clean_env, tmp_path):
    assert tls_options() == {"cert_reqs": "CERT_REQUIRED"}
    clean_env.setenv("CURL_CA_BUNDLE", str(tmp_path / "curl.pem"))
    assert tls_options() == {"cert_reqs": "CERT_REQUIRED", "ca_certs": str(tmp_path / "curl.pem")}
    clean_env.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "corp.pem"))  # requests' own name wins, as in requests
    assert tls_options()["ca_certs"] == str(tmp_path / "corp.pem")


def test_the_proxy_follows_the_environment_and_no_proxy(clean_env):
    assert proxy_for("https", "api.internal") is None
    clean_env.setenv("https_proxy", "http://127.0.0.1:3128")
    clean_env.setenv("no_proxy", "localhost,.corp.example")
    assert proxy_for("https", "api.internal") == "http://127.0.0.1:3128"
    assert proxy_for("http", "api.internal") is None  # only https is proxied here
    assert proxy_for("https", "vault.corp.example") is None
    assert proxy_for("https", "localhost") is None


def test_the_executor_and_the_oauth_client_take_their_route_from_the_same_place(clean_env):
    """One factory: a proxied pool in the executor is the one the token client would use too."""
    from janus.gateway.egress import EgressPolicy
    from janus.gateway.executor import Executor
    from janus.gateway.oauth import TokenClient

    clean_env.setenv("https_proxy", "http://127.0.0.1:3128")
    tokens = TokenClient(egress=EgressPolicy())
    with Executor(tokens=tokens) as executor:
        target = executor._new_target("https://api.example.test/v1")
        manager = tokens._manager("https://auth.example.test/token")
        assert target.pool.proxy.port == manager.proxy.port == 3128
        assert target.pool.connection_pool_kw["cert_reqs"] == manager.connection_pool_kw["cert_reqs"] == "CERT_REQUIRED"
