"""The stateless 2026-07-28 era: server/discover, the per-request `_meta` envelope, resultType, -32022."""

from __future__ import annotations

import pytest
from mcp_core_fakes import STATELESS, envelope, req
from mcp_types import methods as sdk_methods

from janus.mcp import INVALID_PARAMS, METHOD_NOT_FOUND, SUPPORTED_VERSIONS, UNSUPPORTED_PROTOCOL_VERSION
from janus.mcp.versions import SERVER_INFO_META_KEY, envelope_version

SERVER_INFO = {"name": "janus", "version": "9.9.9"}


def test_discover_advertises_versions_capabilities_and_identity(rpc):
    result = rpc("server/discover", {"_meta": envelope()})["result"]
    assert result == {
        "supportedVersions": ["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"],
        "capabilities": {"tools": {}},
        "instructions": "Use the tools.",
        "ttlMs": 0,
        "cacheScope": "public",
        "resultType": "complete",
        "_meta": {SERVER_INFO_META_KEY: SERVER_INFO},
    }
    sdk_methods.validate_server_result("server/discover", STATELESS, result)


def test_discover_is_answered_in_the_stateless_shape_even_without_meta(rpc):
    result = rpc("server/discover")["result"]
    assert result["resultType"] == "complete"
    assert STATELESS in result["supportedVersions"]


def test_discover_honours_configured_ttl_title_and_list_changed(make_server):
    server = make_server(discover_ttl_ms=60_000, title="Janus", stateless_list_changed=True, instructions=None)
    result = server.handle(req("server/discover", {"_meta": envelope()}), session=None, caller=None)["result"]
    assert result["ttlMs"] == 60_000
    assert result["capabilities"] == {"tools": {"listChanged": True}}
    assert result["_meta"][SERVER_INFO_META_KEY]["title"] == "Janus"
    assert "instructions" not in result


def test_tools_list_with_meta_version_carries_result_type_cache_hints_and_server_info(rpc, backend):
    backend.ttl_ms = 30_000
    result = rpc("tools/list", {"_meta": envelope()})["result"]
    assert result["resultType"] == "complete"
    assert (result["ttlMs"], result["cacheScope"]) == (30_000, "private")
    assert result["_meta"] == {SERVER_INFO_META_KEY: SERVER_INFO}
    sdk_methods.validate_server_result("tools/list", STATELESS, result)


def test_tools_list_defaults_ttl_to_zero_and_keeps_public_scope_when_the_backend_says_so(rpc, backend):
    backend.cache_scope = "public"
    result = rpc("tools/list", {"_meta": envelope()})["result"]
    assert (result["ttlMs"], result["cacheScope"]) == (0, "public")


@pytest.mark.parametrize("scope", ["shared", "", None, "PUBLIC"])
def test_unknown_cache_scope_from_the_backend_falls_back_to_private(rpc, backend, scope):
    backend.cache_scope = scope
    assert rpc("tools/list", {"_meta": envelope()})["result"]["cacheScope"] == "private"


def test_tools_call_with_meta_version_carries_result_type_and_server_info(rpc):
    result = rpc("tools/call", {"name": "alpha", "arguments": {}, "_meta": envelope()})["result"]
    assert result["resultType"] == "complete"
    assert result["_meta"][SERVER_INFO_META_KEY] == SERVER_INFO
    sdk_methods.validate_server_result("tools/call", STATELESS, result)


def test_backend_result_type_and_meta_are_kept_and_not_mutated(server, backend):
    stored = {"content": [], "resultType": "input_required", "_meta": {"com.example/x": 1}}
    backend.call_tool = lambda ctx, name, arguments: stored
    result = server.handle(req("tools/call", {"name": "a", "_meta": envelope()}), session=None, caller=None)["result"]
    assert result["resultType"] == "input_required"
    assert result["_meta"] == {"com.example/x": 1, SERVER_INFO_META_KEY: SERVER_INFO}
    assert stored == {"content": [], "resultType": "input_required", "_meta": {"com.example/x": 1}}


@pytest.mark.parametrize(
    "method", ["initialize", "ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe"]
)
def test_methods_removed_in_2026_07_28_are_method_not_found_in_that_era(rpc, method):
    """2026-07-28 removed the handshake, ping, logging/setLevel and resources/(un)subscribe; its
    Streamable HTTP binding: "If the server does not implement the requested RPC method, it MUST
    respond with 404 Not Found and a JSON-RPC error with code -32601 (Method not found)"."""
    params = {"protocolVersion": "2025-11-25"} if method == "initialize" else {}
    error = rpc(method, {**params, "_meta": envelope()}, id=7)["error"]
    assert error["code"] == METHOD_NOT_FOUND and error["data"] == {"method": method}


def test_initialize_and_ping_are_still_served_to_the_handshake_era(rpc):
    assert rpc("initialize", {"protocolVersion": "2025-11-25"})["result"]["protocolVersion"] == "2025-11-25"
    assert rpc("ping")["result"] == {}
    assert rpc("ping", {"_meta": envelope(version="2025-11-25")})["result"] == {}


def test_backend_sees_the_envelope_version_client_and_capabilities(rpc, backend):
    meta = envelope(capabilities={"elicitation": {}}, client_info={"name": "sdk", "version": "2.3.0"}, progressToken=5)
    rpc("tools/list", {"_meta": meta}, id="r-1")
    ctx = backend.contexts[-1]
    assert (ctx.era, ctx.protocol_version, ctx.request_id, ctx.caller) == ("stateless", STATELESS, "r-1", "alice")
    assert ctx.client_info == {"name": "sdk", "version": "2.3.0"}
    assert ctx.client_capabilities == {"elicitation": {}}
    assert ctx.meta == meta


def test_stateless_requests_ignore_the_handshake_state_of_the_session(rpc, backend, session):
    rpc("initialize", {"protocolVersion": "2024-11-05", "clientInfo": {"name": "old", "version": "0"}})
    rpc("tools/list", {"_meta": envelope(client_info={"name": "new", "version": "1"})})
    ctx = backend.contexts[-1]
    assert (ctx.protocol_version, ctx.client_info["name"]) == (STATELESS, "new")
    assert session.protocol_version == "2024-11-05"


def test_client_info_is_optional_in_the_envelope(rpc, backend):
    meta = envelope()
    del meta["io.modelcontextprotocol/clientInfo"]
    assert "result" in rpc("tools/list", {"_meta": meta})
    assert backend.contexts[-1].client_info is None


@pytest.mark.parametrize("requested", ["1900-01-01", "2027-01-01", "", "2026-07-28 "])
def test_unsupported_meta_version_answers_32022_naming_supported_and_requested(rpc, backend, requested):
    response = rpc("tools/call", {"name": "alpha", "_meta": {"io.modelcontextprotocol/protocolVersion": requested}})
    assert response["error"] == {
        "code": UNSUPPORTED_PROTOCOL_VERSION,
        "message": "Unsupported protocol version",
        "data": {"supported": list(SUPPORTED_VERSIONS), "requested": requested},
    }
    assert backend.calls == []


def test_unsupported_version_on_discover_answers_32022_so_probing_clients_can_retry(rpc):
    response = rpc("server/discover", {"_meta": envelope("2030-01-01")})
    assert response["error"]["code"] == UNSUPPORTED_PROTOCOL_VERSION
    assert STATELESS in response["error"]["data"]["supported"]


def test_unsupported_version_is_checked_before_the_method_exists(rpc):
    assert rpc("nope/nope", {"_meta": envelope("2030-01-01")})["error"]["code"] == UNSUPPORTED_PROTOCOL_VERSION
    assert rpc("nope/nope", {"_meta": envelope()})["error"]["code"] == METHOD_NOT_FOUND


@pytest.mark.parametrize("capabilities", ["missing", None, [], "all"])
def test_stateless_request_without_client_capabilities_object_answers_invalid_params(rpc, backend, capabilities):
    meta = envelope()
    if capabilities == "missing":
        del meta["io.modelcontextprotocol/clientCapabilities"]
    else:
        meta["io.modelcontextprotocol/clientCapabilities"] = capabilities
    response = rpc("tools/list", {"_meta": meta})
    assert response["error"]["code"] == INVALID_PARAMS
    assert "clientCapabilities" in response["error"]["message"]
    assert backend.contexts == []


@pytest.mark.parametrize("version", [20260728, None, ["2026-07-28"]])
def test_non_string_meta_version_answers_invalid_params(rpc, version):
    assert rpc("tools/list", {"_meta": envelope(version)})["error"]["code"] == INVALID_PARAMS


@pytest.mark.parametrize("meta", ["x", [1], 3])
def test_meta_that_is_not_an_object_answers_invalid_params(rpc, meta):
    assert rpc("tools/list", {"_meta": meta})["error"]["code"] == INVALID_PARAMS


def test_meta_without_a_version_stays_in_the_handshake_era(rpc, backend):
    result = rpc("tools/list", {"_meta": {"progressToken": "p", "traceparent": "00-ab-cd-01"}})["result"]
    assert "resultType" not in result
    assert backend.contexts[-1].era == "handshake"


def test_handshake_version_named_in_meta_is_served_at_that_version(rpc, backend):
    result = rpc("tools/list", {"_meta": envelope("2025-06-18")})["result"]
    assert "resultType" not in result and "ttlMs" not in result
    ctx = backend.contexts[-1]
    assert (ctx.era, ctx.protocol_version, ctx.client_info["name"]) == ("handshake", "2025-06-18", "test-client")


def test_both_eras_are_served_side_by_side_on_one_session(rpc, backend):
    rpc("initialize", {"protocolVersion": "2025-03-26"})
    modern = rpc("tools/list", {"_meta": envelope()}, id=2)["result"]
    legacy = rpc("tools/list", id=3)["result"]
    assert modern["resultType"] == "complete" and "resultType" not in legacy
    assert [c.protocol_version for c in backend.contexts] == [STATELESS, "2025-03-26"]


def test_error_responses_carry_no_result_type(rpc):
    response = rpc("tools/call", {"_meta": envelope()})
    assert response["error"]["code"] == INVALID_PARAMS
    assert "result" not in response


def test_envelope_version_reads_the_meta_version_for_transports():
    assert envelope_version(req("tools/list", {"_meta": envelope()})) == STATELESS
    assert envelope_version(req("tools/list")) is None
    assert envelope_version(req("tools/list", {"_meta": "x"})) is None
    assert envelope_version([req("ping")]) is None
