from __future__ import annotations

import base64
import json

from janus.gateway.content import ERROR_BODY_LIMIT, UpstreamResponse, call_result, to_call_result

LATEST = "2025-11-25"


def result(body: bytes, content_type: str | None, status: int = 200, **kw) -> dict:
    response = UpstreamResponse(
        status=status, reason=kw.pop("reason", "OK"), content_type=content_type, body=body, **kw
    )
    return to_call_result(response, kw.get("protocol_version", LATEST))


def texts(res: dict) -> list[str]:
    return [block["text"] for block in res["content"] if block["type"] == "text"]


def test_json_object_gives_structured_content_and_pretty_text():
    res = result(b'{"a":1,"b":"\xc3\xa9"}', "application/json; charset=utf-8")
    assert res == {
        "content": [{"type": "text", "text": '{\n  "a": 1,\n  "b": "é"\n}'}],
        "structuredContent": {"a": 1, "b": "é"},
        "isError": False,
    }


def test_plus_json_media_types_are_json():
    assert result(b'{"title":"x"}', "application/problem+json")["structuredContent"] == {"title": "x"}


def test_json_scalar_is_text_only():
    res = result(b'"hello"', "application/json")
    assert "structuredContent" not in res and texts(res) == ['"hello"']


def test_invalid_json_is_an_error_result_naming_the_problem_with_the_text_kept():
    res, problem = call_result(UpstreamResponse(200, "OK", "application/problem+json", b"{not json"), LATEST)
    assert res == {
        "content": [
            {
                "type": "text",
                "text": "Upstream returned HTTP 200 OK, but its body is declared application/problem+json and is "
                "not valid JSON (Expecting property name enclosed in double quotes at line 1 column 2): {not json",
            }
        ],
        "isError": True,
    }
    assert problem == "HTTP 200 with a body that is not valid JSON"


def test_invalid_json_keeps_only_a_few_redacted_kilobytes_of_the_text():
    body = b"<html>" + b"x" * (ERROR_BODY_LIMIT * 3)
    res = result(body, "application/json")
    assert res["isError"] is True
    assert len(texts(res)[0]) < ERROR_BODY_LIMIT + 200 and texts(res)[0].endswith("…[truncated]")


def test_json_with_nan_or_too_deep_to_parse_is_still_passed_on_as_text():
    nan = b'{"ratio": NaN, "peak": Infinity}'
    assert result(nan, "application/json") == {"content": [{"type": "text", "text": nan.decode()}], "isError": False}
    deep = b"[" * 100_000 + b"]" * 100_000
    res = result(deep, "application/json")
    assert res["isError"] is False and texts(res) == [deep.decode()]


def test_a_successful_result_has_no_audit_problem():
    assert call_result(UpstreamResponse(200, "OK", "application/json", b"{}"), LATEST)[1] is None
    assert call_result(UpstreamResponse(404, "Not Found", "text/plain", b"no"), LATEST)[1] == "HTTP 404"


def test_xml_javascript_and_form_bodies_are_text():
    for ctype in (
        "application/xml",
        "application/atom+xml",
        "text/javascript",
        "application/javascript",
        "application/x-www-form-urlencoded",
    ):
        assert texts(result(b"a=1&b=<x/>", ctype)) == ["a=1&b=<x/>"]


def test_untyped_body_is_text_when_it_is_utf8_and_binary_otherwise():
    assert texts(result("naïve".encode(), None)) == ["naïve"]
    assert texts(result(b"\xff\xfe\x00", None)) == ["[binary response: unknown content type, 3 bytes]"]


def test_unknown_charset_falls_back_to_utf8():
    assert texts(result("ok ✓".encode(), "text/plain; charset=x-nonsense")) == ["ok ✓"]


def test_truncated_text_ends_with_a_visible_note_and_no_broken_character():
    body = ("a" * 9 + "é").encode()[:10]  # cut in the middle of "é"
    res = result(body, "text/plain", truncated=True, limit=10)
    assert texts(res) == ["a" * 9 + "\n\n[truncated: upstream response exceeded 10 bytes]"]
    assert res["isError"] is False


def test_truncated_json_is_not_parsed():
    res = result(b'{"a": [1, 2', "application/json", truncated=True, limit=11)
    assert "structuredContent" not in res
    assert texts(res) == ['{"a": [1, 2\n\n[truncated: upstream response exceeded 11 bytes]']


def test_image_is_an_image_block_unless_truncated():
    res = result(b"GIF89a", "image/gif")
    assert res["content"] == [{"type": "image", "data": base64.b64encode(b"GIF89a").decode(), "mimeType": "image/gif"}]
    cut = result(b"GIF89a", "image/gif", truncated=True, limit=6)
    assert cut["content"][0]["type"] == "text" and "more than 6 bytes" in cut["content"][0]["text"]


def test_audio_needs_protocol_2025_03_26():
    new = to_call_result(UpstreamResponse(200, "OK", "audio/mpeg", b"ID3"), "2025-03-26")
    old = to_call_result(UpstreamResponse(200, "OK", "audio/mpeg", b"ID3"), "2024-11-05")
    assert new["content"][0] == {"type": "audio", "data": base64.b64encode(b"ID3").decode(), "mimeType": "audio/mpeg"}
    assert old["content"][0]["type"] == "text" and "2025-03-26" in old["content"][0]["text"]


def test_empty_success_body_says_so():
    assert texts(result(b"", None, status=204, reason="No Content")) == [
        "Upstream returned HTTP 204 No Content with an empty body"
    ]


def test_error_status_is_an_error_result_with_a_short_excerpt():
    res = result(json.dumps({"error": "nope"}).encode(), "application/json", status=403, reason="")
    assert res == {
        "content": [{"type": "text", "text": 'Upstream returned HTTP 403 Forbidden: {"error": "nope"}'}],
        "isError": True,
    }
    long = result(b"x" * (ERROR_BODY_LIMIT * 3), "text/plain", status=502, reason="Bad Gateway")
    assert len(texts(long)[0]) < ERROR_BODY_LIMIT + 100 and texts(long)[0].endswith("…[truncated]")


def test_binary_error_body_is_described_not_dumped():
    res = result(b"\x00\x01\x02", "application/octet-stream", status=500, reason="Internal Server Error")
    assert texts(res) == ["Upstream returned HTTP 500 Internal Server Error: <3 bytes of application/octet-stream>"]


def test_redirect_is_an_error_naming_the_location():
    res = to_call_result(UpstreamResponse(301, "Moved Permanently", None, b"", location="https://elsewhere/x"), LATEST)
    assert res["isError"] is True
    assert texts(res) == [
        "Upstream returned HTTP 301 Moved Permanently, redirecting to https://elsewhere/x; redirects are not followed"
    ]


def test_json_objects_are_pretty_printed_exactly_including_integers_beyond_64_bits():
    body = json.dumps({"big": 2**70, "name": "café", "nested": {"list": [1, 2.5, None, True]}}).encode()
    res = to_call_result(UpstreamResponse(200, "OK", "application/json", body), LATEST)
    assert res["structuredContent"]["big"] == 2**70
    assert res["content"][0]["text"] == json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    small = json.dumps({"name": "café", "n": [1, 2.5]}).encode()
    text = to_call_result(UpstreamResponse(200, "OK", "application/json", small), LATEST)["content"][0]["text"]
    assert text == json.dumps(json.loads(small), indent=2, ensure_ascii=False)
