"""Registration refuses base URLs whose host the egress policy refuses without resolving it."""

from __future__ import annotations

import socket

import pytest

from janus.services import connections
from janus.services.bootstrap import ensure_schema
from janus.services.errors import ValidationError
from tests.conftest import make_app


@pytest.fixture
def no_dns(monkeypatch):
    """Registration must not resolve names: a lookup here fails the test."""

    def getaddrinfo(host, *args, **kwargs):
        raise AssertionError(f"registration asked DNS about {host!r}")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def _app(tmp_path, **config):
    app = make_app({"DATABASE_PATH": str(tmp_path / "janus.db")}, VAULT_LOCAL_PATH=str(tmp_path / "s.json"), **config)
    with app.app_context():
        ensure_schema()
    return app


@pytest.mark.parametrize(
    ("base_url", "reason"),
    [
        ("http://169.254.169.254/latest", "169.254.169.254 is a cloud metadata address"),
        ("http://169.254.1.1:8080", "169.254.1.1 is a link-local address"),
        ("http://[fe80::1]:8080/api", "fe80::1 is a link-local address"),
        ("http://[fd00:ec2::254]/", "fd00:ec2::254 is a cloud metadata address"),
        ("http://metadata.google.internal/computeMetadata/v1", "it is a cloud metadata service"),
        ("http://Metadata/", "it is a cloud metadata service"),
    ],
)
def test_a_metadata_or_link_local_base_url_is_a_field_error(base_url, reason, tmp_path, no_dns):
    app = _app(tmp_path)
    with app.app_context(), pytest.raises(ValidationError) as caught:
        connections.create_connection("alice", {"name": "Meta", "base_url": base_url, "auth_type": "none"})
    assert caught.value.field == "base_url"
    assert "is refused by the egress policy" in caught.value.message and reason in caught.value.message
    with app.app_context():
        assert connections.list_connections() == []


def test_with_an_allowlist_a_literal_address_outside_it_is_refused_and_names_are_left_to_connect_time(tmp_path, no_dns):
    app = _app(tmp_path, EGRESS_ALLOWLIST="127.0.0.2/32")
    with app.app_context():
        with pytest.raises(ValidationError, match=r"127\.0\.0\.1 is not in EGRESS_ALLOWLIST"):
            connections.create_connection("alice", {"name": "Local", "base_url": "http://127.0.0.1:9"})
        made = connections.create_connection("alice", {"name": "Named", "base_url": "http://rebind.test:9"})
        conn_id = made["id"]
        with pytest.raises(ValidationError, match="cloud metadata"):
            connections.update_connection("alice", conn_id, {"base_url": "http://169.254.169.254"})
        assert connections.get_connection(conn_id)["base_url"] == "http://rebind.test:9"
