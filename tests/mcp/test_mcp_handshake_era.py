"""The handshake era: initialize, version negotiation, initialized, ping, serving without a handshake."""

from __future__ import annotations

import pytest
from mcp_core_fakes import req
from mcp_types import methods as sdk_methods

from janus.mcp import HANDSHAKE_VERSIONS, INVALID_PARAMS, LATEST_HANDSHAKE, Session, is_supported, negotiate
from janus.mcp.versions import SUPPORTED_VERSIONS, at_least


def initialize(rpc, version="2025-11-25", **params):
    body = {"protocolVersion": version, "capabilities": {"roots": {}}, "clientInfo": {"name": "c", "version": "1"}}
    body.update(params)
    return rpc("initialize", body)


@pytest.mark.parametrize("version", HANDSHAKE_VERSIONS)
def test_initialize_answers_the_clients_version_when_supported(rpc, session, version):
    result = initialize(rpc, version)["result"]
    assert result["protocolVersion"] == version
    assert session.protocol_version == version


@pytest.mark.parametrize("version", ["1999-01-01", "2026-07-28", "", "2025-11-25-draft"])
def test_initialize_with_an_unsupported_version_answers_the_newest_handshake_version(rpc, session, version):
    result = initialize(rpc, version)["result"]
    assert result["protocolVersion"] == LATEST_HANDSHAKE == "2025-11-25"
    assert session.protocol_version == "2025-11-25"


@pytest.mark.parametrize("version", HANDSHAKE_VERSIONS)
def test_initialize_result_is_valid_for_the_negotiated_version(rpc, version):
    result = initialize(rpc, version)["result"]
    sdk_methods.validate_server_result("initialize", version, result)
    assert result["capabilities"] == {"tools": {"listChanged": True}}
    assert result["serverInfo"]["name"] == "janus"
    assert result["serverInfo"]["version"] == "9.9.9"
    assert result["instructions"] == "Use the tools."


@pytest.mark.parametrize(
    "version,has_title", [("2024-11-05", False), ("2025-03-26", False), ("2025-06-18", True), ("2025-11-25", True)]
)
def test_server_title_is_only_sent_to_versions_that_define_it(make_server, session, version, has_title):
    server = make_server(title="Janus Gateway")
    response = server.handle(req("initialize", {"protocolVersion": version}), session=session, caller=None)
    assert ("title" in response["result"]["serverInfo"]) is has_title


def test_initialize_without_instructions_omits_them(make_server, session):
    server = make_server(instructions=None)
    response = server.handle(req("initialize", {"protocolVersion": "2025-11-25"}), session=session, caller=None)
    assert "instructions" not in response["result"]


def test_initialize_records_client_info_and_capabilities_on_the_session(rpc, session):
    initialize(rpc)
    assert session.client_info == {"name": "c", "version": "1"}
    assert session.client_capabilities == {"roots": {}}
    assert session.initialized is False


def test_initialized_notification_marks_the_session_initialized(server, rpc, session):
    initialize(rpc)
    initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert server.handle(initialized, session=session, caller=None) is None
    assert session.initialized is True


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"protocolVersion": 20251125},
        {"protocolVersion": None},
        {"protocolVersion": "2025-11-25", "capabilities": []},
        {"protocolVersion": "2025-11-25", "clientInfo": "me"},
    ],
)
def test_malformed_initialize_answers_invalid_params(rpc, session, params):
    assert rpc("initialize", params)["error"]["code"] == INVALID_PARAMS
    assert session.protocol_version is None


def test_initialize_without_params_answers_invalid_params(rpc):
    assert rpc("initialize")["error"]["code"] == INVALID_PARAMS


def test_initialize_without_a_session_still_answers(server):
    result = server.handle(req("initialize", {"protocolVersion": "2025-06-18"}), session=None, caller=None)["result"]
    assert result["protocolVersion"] == "2025-06-18"


def test_repeated_initialize_starts_the_handshake_over(server, rpc, session):
    initialize(rpc, "2025-11-25")
    server.handle({"jsonrpc": "2.0", "method": "notifications/initialized"}, session=session, caller=None)
    initialize(rpc, "2024-11-05")
    assert (session.protocol_version, session.initialized) == ("2024-11-05", False)


def test_initialize_ignores_a_stateless_meta_envelope(rpc, session):
    meta = {"io.modelcontextprotocol/protocolVersion": "1900-01-01"}
    assert initialize(rpc, "2025-06-18", _meta=meta)["result"]["protocolVersion"] == "2025-06-18"


def test_ping_answers_an_empty_result_before_and_after_initialize(rpc):
    assert rpc("ping")["result"] == {}
    initialize(rpc)
    assert rpc("ping", {"_meta": {"progressToken": 1}})["result"] == {}


def test_tools_list_without_initialize_or_meta_is_served_at_the_default_version(server, backend):
    response = server.handle({"jsonrpc": "2.0", "method": "tools/list", "id": 1}, session=None, caller=None)
    assert [t["name"] for t in response["result"]["tools"]] == ["alpha", "beta", "gamma"]
    ctx = backend.contexts[-1]
    assert (ctx.era, ctx.protocol_version, ctx.session, ctx.meta) == ("handshake", "2025-11-25", None, {})


def test_tools_call_before_initialize_is_served(rpc, backend):
    response = rpc("tools/call", {"name": "alpha", "arguments": {"q": "x"}})
    assert response["result"]["content"][0]["type"] == "text"
    assert backend.calls == [("alpha", {"q": "x"})]


def test_handshake_results_carry_no_stateless_fields(rpc):
    initialize(rpc, "2025-06-18")
    listed = rpc("tools/list")["result"]
    called = rpc("tools/call", {"name": "alpha"})["result"]
    for result in (listed, called):
        assert not {"resultType", "ttlMs", "cacheScope", "_meta"} & result.keys()


def test_requests_after_initialize_see_the_negotiated_version_and_client(rpc, backend):
    initialize(rpc, "2025-03-26")
    rpc("tools/list")
    ctx = backend.contexts[-1]
    assert (ctx.era, ctx.protocol_version, ctx.client_info, ctx.caller) == (
        "handshake",
        "2025-03-26",
        {"name": "c", "version": "1"},
        "alice",
    )
    assert ctx.client_capabilities == {"roots": {}}


@pytest.mark.parametrize("version", HANDSHAKE_VERSIONS)
def test_tools_results_are_valid_for_each_handshake_version(rpc, version):
    initialize(rpc, version)
    sdk_methods.validate_server_result("tools/list", version, rpc("tools/list")["result"])
    sdk_methods.validate_server_result("tools/call", version, rpc("tools/call", {"name": "alpha"})["result"])


def test_sessions_do_not_share_state(server):
    first, second = Session(), Session()
    server.handle(req("initialize", {"protocolVersion": "2024-11-05"}), session=first, caller=None)
    assert second.protocol_version is None


def test_negotiate_and_is_supported_cover_every_version():
    for version in HANDSHAKE_VERSIONS:
        assert negotiate(version) == version
    assert negotiate("2026-07-28") == negotiate("zzz") == negotiate(None) == "2025-11-25"
    assert all(is_supported(v) for v in SUPPORTED_VERSIONS)
    assert not is_supported("1900-01-01") and not is_supported(None)


def test_version_order_is_by_registry_not_by_string():
    assert at_least("2025-11-25", "2025-06-18")
    assert not at_least("2025-03-26", "2025-06-18")
    assert not at_least("zzzz", "2024-11-05")
