"""The executor against a real HTTP upstream on 127.0.0.1.

Assertions are on what the upstream actually received (raw request line,
headers, body), not on what we meant to send.
"""

from __future__ import annotations

import base64
import gzip
import json
import threading
import time
import tracemalloc
from urllib.parse import parse_qsl, urlsplit

import pytest

from janus.gateway.executor import Executor, UpstreamError
from janus.gateway.templating import ArgumentError
from janus.gateway.upstream_auth import SecretError

SECRET = "s3cr3t-T0KEN-value"


# -- path encoding ----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected_path"),
    [
        ("../admin", "/items/..%2Fadmin"),
        ("a/b", "/items/a%2Fb"),
        ("%2F", "/items/%252F"),
        ("a?x=1", "/items/a%3Fx%3D1"),
        ("a#frag", "/items/a%23frag"),
        ("//evil", "/items/%2F%2Fevil"),
        ("http://evil/", "/items/http%3A%2F%2Fevil%2F"),
        ("żółw ☃", "/items/%C5%BC%C3%B3%C5%82w%20%E2%98%83"),
        ("a\x00b", "/items/a%00b"),
        ("a\r\nX-Injected: 1", "/items/a%0D%0AX-Injected%3A%201"),
        ("a\tb\x7f", "/items/a%09b%7F"),
        ("...", "/items/..."),
        ("~user_1-2.x", "/items/~user_1-2.x"),
        (42, "/items/42"),
        (2.5, "/items/2.5"),
        (True, "/items/true"),
    ],
)
def test_path_value_arrives_as_exactly_one_encoded_segment(executor, upstream, tool, value, expected_path):
    executor.execute(tool(), {"id": value})
    assert upstream.last.raw_path == expected_path
    assert upstream.last.request_line == f"GET {expected_path} HTTP/1.1"
    assert "x-injected" not in upstream.last.headers


@pytest.mark.parametrize("value", ["", ".", "..", None, {"a": 1}, [1, 2]])
def test_path_value_that_would_change_the_route_is_rejected_before_any_request(executor, upstream, tool, value):
    with pytest.raises(ArgumentError, match="'id'"):
        executor.execute(tool(), {"id": value})
    assert upstream.received == []


def test_missing_path_argument_is_rejected_naming_the_parameter(executor, upstream, tool):
    with pytest.raises(ArgumentError, match="missing required path parameter 'id'"):
        executor.execute(tool(), {})
    assert upstream.received == []


def test_base_url_path_prefix_and_trailing_slash_are_kept_once(executor, upstream, tool):
    executor.execute(tool(base_url=upstream.base_url + "/api/v1/"), {"id": "7"})
    assert upstream.last.raw_path == "/api/v1/items/7"


# -- query string and JSON body -------------------------------------------------


def test_unconsumed_get_arguments_become_json_spelled_query_parameters(executor, upstream, tool):
    executor.execute(
        tool(path="/search/{id}"),
        {
            "id": "x",
            "q": "a b&c=d",
            "limit": 10,
            "exact": True,
            "ratio": 0.5,
            "tags": ["red", "blue"],
            "filter": {"a": 1},
            "skip": None,
        },
    )
    split = urlsplit(upstream.last.raw_path)
    assert split.path == "/search/x"
    assert parse_qsl(split.query, keep_blank_values=True) == [
        ("q", "a b&c=d"),
        ("limit", "10"),
        ("exact", "true"),
        ("ratio", "0.5"),
        ("tags", "red"),
        ("tags", "blue"),
        ("filter", '{"a":1}'),
    ]


def test_delete_sends_leftover_arguments_in_the_query_and_no_body(executor, upstream, tool):
    executor.execute(tool(method="DELETE"), {"id": "9", "force": False})
    assert upstream.last.raw_path == "/items/9?force=false"
    assert upstream.last.body == b""


def test_post_without_template_sends_unconsumed_arguments_as_json_body(executor, upstream, tool):
    executor.execute(tool(method="POST"), {"id": "5", "amount": 12.5, "tags": ["a"], "note": None})
    received = upstream.last
    assert received.raw_path == "/items/5"
    assert received.headers["content-type"] == "application/json"
    assert json.loads(received.body) == {"amount": 12.5, "tags": ["a"], "note": None}


def test_post_with_nothing_left_over_sends_no_body(executor, upstream, tool):
    executor.execute(tool(method="POST"), {"id": "5"})
    assert upstream.last.body == b""
    assert "content-type" not in upstream.last.headers


def test_body_template_keeps_argument_types_and_drops_other_arguments(executor, upstream, tool):
    template = (
        '{"id": "{{invoice_id}}", "count": {{n}}, "note": "for {{customer}}", "filter": "active", "meta": "{{meta}}"}'
    )
    executor.execute(
        tool(method="PUT", path="/invoices", body_template=template),
        {"invoice_id": 42, "n": 3, "customer": "Bob", "meta": {"x": [1, 2]}, "unused": "dropped"},
    )
    assert json.loads(upstream.last.body) == {
        "id": 42,
        "count": 3,
        "note": "for Bob",
        "filter": "active",
        "meta": {"x": [1, 2]},
    }
    assert upstream.last.raw_path == "/invoices"


@pytest.mark.parametrize(
    "evil",
    ['", "admin": true, "x": "', '\\"}, "admin": true}', "{{n}}", "}\n{", "\\u0022"],
)
def test_body_template_values_cannot_inject_json_structure(executor, upstream, tool, evil):
    template = '{"name": "{{name}}", "greeting": "hi {{name}}!", "admin": false}'
    executor.execute(tool(method="POST", path="/users", body_template=template), {"name": evil})
    body = json.loads(upstream.last.body)
    assert body == {"name": evil, "greeting": f"hi {evil}!", "admin": False}


def test_missing_body_argument_is_rejected_before_any_request(executor, upstream, tool):
    with pytest.raises(ArgumentError, match="'n'"):
        executor.execute(tool(method="POST", path="/x", body_template='{"n": {{n}}}'), {})
    assert upstream.received == []


def test_default_headers_announce_janus_and_prefer_json(upstream, tool):
    with Executor(user_agent="Janus/test") as ex:
        ex.execute(tool(), {"id": "1"})
    assert upstream.last.headers["user-agent"] == "Janus/test"
    assert upstream.last.headers["accept"] == "application/json, */*;q=0.5"
    assert "authorization" not in upstream.last.headers


# -- responses ------------------------------------------------------------------


def test_json_object_response_becomes_structured_content_and_success(executor, upstream, tool):
    upstream.reply(200, {"balance": 10, "currency": "€"})
    outcome = executor.execute(tool(), {"id": "1"})
    assert outcome.status == "success" and outcome.http_status == 200 and outcome.error is None
    assert outcome.result["isError"] is False
    assert outcome.result["structuredContent"] == {"balance": 10, "currency": "€"}
    assert outcome.result["content"] == [
        {"type": "text", "text": json.dumps({"balance": 10, "currency": "€"}, indent=2, ensure_ascii=False)}
    ]


def test_json_array_response_is_text_only(executor, upstream, tool):
    upstream.reply(200, [1, 2])
    result = executor.execute(tool(), {"id": "1"}).result
    assert "structuredContent" not in result
    assert json.loads(result["content"][0]["text"]) == [1, 2]


def test_plain_text_response_is_decoded_with_its_charset(executor, upstream, tool):
    upstream.reply(200, "café".encode("latin-1"), "text/plain; charset=ISO-8859-1")
    assert executor.execute(tool(), {"id": "1"}).result["content"] == [{"type": "text", "text": "café"}]


def test_image_response_becomes_an_image_block(executor, upstream, tool):
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    upstream.reply(200, png, "image/png")
    block = executor.execute(tool(), {"id": "1"}).result["content"][0]
    assert block == {"type": "image", "data": base64.b64encode(png).decode(), "mimeType": "image/png"}


def test_audio_response_is_an_audio_block_for_new_protocols_and_a_note_for_old(executor, upstream, tool):
    upstream.reply(200, b"RIFF....WAVE", "audio/wav")
    new = executor.execute(tool(), {"id": "1"}, protocol_version="2025-03-26").result["content"]
    old = executor.execute(tool(), {"id": "1"}, protocol_version="2024-11-05").result["content"]
    assert new[0]["type"] == "audio" and new[0]["mimeType"] == "audio/wav"
    assert [b["type"] for b in old] == ["text"] and "audio/wav" in old[0]["text"]


def test_other_binary_response_is_described_not_returned(executor, upstream, tool):
    upstream.reply(200, b"%PDF-1.7\x00\xff" * 10, "application/pdf")
    text = executor.execute(tool(), {"id": "1"}).result["content"][0]["text"]
    assert "application/pdf" in text and "100 bytes" in text


def test_not_found_is_a_failure_with_the_body_in_the_error_result(executor, upstream, tool):
    upstream.reply(404, "no such invoice", "text/plain")
    outcome = executor.execute(tool(), {"id": "1"})
    assert outcome.status == "failure" and outcome.http_status == 404 and outcome.error == "HTTP 404"
    assert outcome.result["isError"] is True
    assert outcome.result["content"][0]["text"] == "Upstream returned HTTP 404 Not Found: no such invoice"


def test_server_error_body_is_cut_to_a_few_kilobytes(executor, upstream, tool):
    upstream.reply(500, "boom " * 10_000, "text/html")
    outcome = executor.execute(tool(), {"id": "1"})
    text = outcome.result["content"][0]["text"]
    assert text.startswith("Upstream returned HTTP 500 Internal Server Error: boom")
    assert len(text) < 5000 and text.endswith("[truncated]")
    assert outcome.error == "HTTP 500"


def test_redirect_is_reported_not_followed(executor, upstream, tool):
    upstream.reply(302, b"", headers={"Location": "http://127.0.0.1:9/steal"})
    outcome = executor.execute(tool(), {"id": "1"})
    assert outcome.status == "failure" and outcome.http_status == 302
    assert outcome.result["isError"] is True
    assert "302" in outcome.result["content"][0]["text"]
    assert "http://127.0.0.1:9/steal" in outcome.result["content"][0]["text"]
    assert len(upstream.received) == 1


def test_upstream_cookies_are_not_replayed_on_later_calls(executor, upstream, tool):
    upstream.reply(200, {"ok": True}, headers={"Set-Cookie": "session=abc; Path=/"})
    executor.execute(tool(), {"id": "1"})
    executor.execute(tool(), {"id": "2"})
    assert "cookie" not in upstream.received[1].headers


def test_huge_response_is_truncated_with_a_note_without_reading_it_all(upstream, tool):
    total = 50 * 1024 * 1024
    chunk = b"x" * 65536

    def stream(req, h):
        h.send_response(200)
        h.send_header("Content-Type", "text/plain")
        h.send_header("Content-Length", str(total))
        h.end_headers()
        try:
            while upstream.bytes_streamed < total:
                h.wfile.write(chunk)
                upstream.bytes_streamed += len(chunk)
        finally:
            upstream.stream_stopped.set()

    upstream.handler = stream
    limit = 1_048_576
    started = time.monotonic()
    tracemalloc.start()
    try:
        with Executor(max_response_bytes=limit) as ex:
            outcome = ex.execute(tool(), {"id": "1"})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < 10
    text = outcome.result["content"][0]["text"]
    assert outcome.status == "success"
    assert text.endswith(f"[truncated: upstream response exceeded {limit} bytes]")
    assert text.partition("\n\n[truncated")[0] == "x" * limit
    assert peak < 8 * limit
    assert upstream.stream_stopped.wait(5)
    assert upstream.bytes_streamed < total


def test_a_truncated_response_does_not_poison_the_next_call(upstream, tool):
    big = b"y" * 300_000
    upstream.handler = lambda req, h: upstream.send(
        h, 200, big if req.raw_path.endswith("/big") else b"small", "text/plain"
    )
    with Executor(max_response_bytes=1000) as ex:
        first = ex.execute(tool(), {"id": "big"})
        second = ex.execute(tool(), {"id": "small"})
    assert "[truncated" in first.result["content"][0]["text"]
    assert second.result["content"] == [{"type": "text", "text": "small"}]


def test_compressed_response_is_capped_after_decompression(upstream, tool):
    bomb = gzip.compress(b"z" * (20 * 1024 * 1024))
    upstream.reply(200, bomb, "text/plain", headers={"Content-Encoding": "gzip"})
    tracemalloc.start()
    try:
        with Executor(max_response_bytes=100_000) as ex:
            outcome = ex.execute(tool(), {"id": "1"})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    text = outcome.result["content"][0]["text"]
    assert text.partition("\n\n")[0] == "z" * 100_000
    assert text.endswith("[truncated: upstream response exceeded 100000 bytes]")
    assert peak < 5 * 1024 * 1024


# -- failures to reach the upstream ------------------------------------------------


def test_slow_upstream_times_out_naming_the_connection(executor, upstream, tool):
    upstream.handler = lambda req, h: upstream.release.wait(10)
    started = time.monotonic()
    with pytest.raises(UpstreamError) as caught:
        executor.execute(tool(timeout=0.3), {"id": "1"})
    assert str(caught.value) == "Upstream 'Billing' timed out after 0.3s"
    assert caught.value.kind == "timeout"
    assert time.monotonic() - started < 3


def test_upstream_dripping_its_body_still_meets_the_overall_deadline(executor, upstream, tool):
    def drip(req, h):
        h.send_response(200)
        h.send_header("Content-Type", "text/plain")
        h.send_header("Content-Length", "100000")
        h.end_headers()
        while not upstream.release.wait(0.05):  # pacing of the server, not a test wait
            h.wfile.write(b"x")
            h.wfile.flush()

    upstream.handler = drip
    started = time.monotonic()
    with pytest.raises(UpstreamError, match=r"Upstream 'Billing' timed out after 0\.3s"):
        executor.execute(tool(timeout=0.3), {"id": "1"})
    assert time.monotonic() - started < 3


def test_refused_connection_names_the_connection_but_not_the_query(executor, tool, closed_port):
    with pytest.raises(UpstreamError) as caught:
        executor.execute(tool(base_url=f"http://127.0.0.1:{closed_port}"), {"id": "1", "q": "private-query"})
    assert str(caught.value) == "Upstream 'Billing' is unreachable: connection refused"
    assert caught.value.kind == "refused"
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_tls_failure_is_an_upstream_error(executor, upstream, tool):
    https_url = upstream.base_url.replace("http://", "https://")
    with pytest.raises(UpstreamError, match="Upstream 'Billing' is unreachable: TLS error") as caught:
        executor.execute(tool(base_url=https_url), {"id": "1"})
    assert caught.value.kind == "tls"


# -- credentials -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("auth_type", "stored", "expected"),
    [
        ("bearer", SECRET, {"authorization": f"Bearer {SECRET}"}),
        ("bearer", f"Bearer {SECRET}", {"authorization": f"Bearer {SECRET}"}),
        ("basic", "alice:pa:ss", {"authorization": "Basic " + base64.b64encode(b"alice:pa:ss").decode()}),
        (
            "custom_headers",
            json.dumps({"X-Api-Key": SECRET, "X-Tenant": "t1"}),
            {"x-api-key": SECRET, "x-tenant": "t1"},
        ),
    ],
)
def test_connection_credentials_arrive_as_headers(executor, upstream, tool, secrets, auth_type, stored, expected):
    secrets["billing-secret"] = stored
    executor.execute(tool(auth_type=auth_type, secret_ref="billing-secret"), {"id": "1"})
    for name, value in expected.items():
        assert upstream.last.headers[name] == value


def test_unreadable_secret_fails_before_any_request_without_leaking(executor, upstream, tool, secrets):
    secrets["billing-secret"] = SECRET + "\r\nX-Evil: 1"
    with pytest.raises(SecretError) as caught:
        executor.execute(tool(auth_type="bearer", secret_ref="billing-secret"), {"id": "1"})
    assert "Billing" in str(caught.value) and "billing-secret" in str(caught.value)
    assert SECRET not in str(caught.value)
    assert upstream.received == []


def test_missing_secret_names_connection_and_reference(executor, upstream, tool):
    with pytest.raises(SecretError, match=r"'Billing'.*'absent-ref'"):
        executor.execute(tool(auth_type="bearer", secret_ref="absent-ref"), {"id": "1"})
    assert upstream.received == []


# -- connection reuse ----------------------------------------------------------------


def test_calls_on_one_connection_reuse_one_tcp_connection(executor, upstream, tool):
    for i in range(3):
        executor.execute(tool(), {"id": str(i)})
    assert len({r.client_port for r in upstream.received}) == 1


def test_concurrent_calls_share_the_pooled_session(executor, upstream, tool):
    gate = threading.Barrier(8)

    def answer_when_all_arrived(req, h):
        gate.wait(5)
        upstream.send(h, 200, b'{"ok": true}', "application/json")

    upstream.handler = answer_when_all_arrived
    outcomes: list[str] = []
    workers = [
        threading.Thread(target=lambda i=i: outcomes.append(executor.execute(tool(), {"id": str(i)}).status))
        for i in range(8)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(10)
    assert outcomes == ["success"] * 8
    ports = {r.client_port for r in upstream.received}
    upstream.handler = None
    executor.execute(tool(), {"id": "after"})
    assert upstream.last.client_port in ports
