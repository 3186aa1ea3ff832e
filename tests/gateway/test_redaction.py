"""Redactor: every spelling of an injected credential is found and replaced, and nothing else is."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest

from janus.gateway.content import UpstreamResponse, to_call_result
from janus.gateway.redaction import (
    MIN_SECRET_LENGTH,
    NOTHING,
    REDACTED,
    UNREDACTABLE,
    Redactor,
    redactor_for,
)

TOKEN = "tok/EN+key=9f3a7c"
REDACTOR = redactor_for((f"Bearer {TOKEN}",))


def _json_escaped(text: str) -> str:
    return "".join(f"\\u{ord(c):04x}" for c in text)


SPELLINGS = {
    "plain": TOKEN,
    "upper case": TOKEN.upper(),
    "lower case": TOKEN.lower(),
    "the whole header value": f"Bearer {TOKEN}",
    "JSON \\u escapes": _json_escaped(TOKEN),
    "JSON \\u escapes in upper-case hex": _json_escaped(TOKEN).upper().replace("\\U", "\\u"),
    "JSON escaped slash": TOKEN.replace("/", "\\/"),
    "percent-encoded": quote(TOKEN, safe=""),
    "percent-encoded, every byte": "".join(f"%{b:02X}" for b in TOKEN.encode()),
    "HTML character references": "".join(f"&#{ord(c)};" for c in TOKEN),
    "HTML hex references": "".join(f"&#x{ord(c):x};" for c in TOKEN),
    "mixed escapes and case": "T" + _json_escaped("ok") + "/e%4E+" + TOKEN[7:].upper(),
    "base64": base64.b64encode(TOKEN.encode()).decode(),
    "base64url": base64.urlsafe_b64encode(TOKEN.encode()).decode().rstrip("="),
    "UTF-16 read as a single-byte charset": TOKEN.encode("utf-16-le").decode("latin-1"),
}


@pytest.mark.parametrize("spelling", SPELLINGS.values(), ids=SPELLINGS.keys())
def test_every_spelling_of_the_credential_is_replaced_and_the_text_around_it_kept(spelling):
    out = REDACTOR.text(f'before "{spelling}" after')
    assert out.startswith('before "') and out.endswith('" after')
    assert REDACTED in out or out == UNREDACTABLE
    assert not REDACTOR.found_in(out)
    assert spelling not in out


def test_text_without_a_credential_is_returned_unchanged():
    text = 'plain %41 &amp; \\u0041 text with "tok/EN" and "key=9f3a" (parts, not the credential)'
    assert REDACTOR.text(text) is text


def test_a_spelling_the_pattern_does_not_know_makes_the_whole_text_unredactable():
    double = "".join(f"%25{b:02x}" for b in TOKEN.encode())  # percent-encoded twice
    assert REDACTOR.text(f"url={double}") == UNREDACTABLE


def test_credentials_shorter_than_the_minimum_are_left_alone():
    short = "x" * (MIN_SECRET_LENGTH - 1)
    assert not redactor_for((short,))
    assert redactor_for((short,)).text(f"id {short}") == f"id {short}"
    assert redactor_for(("y" * MIN_SECRET_LENGTH,)).text("id " + "Y" * MIN_SECRET_LENGTH) == f"id {REDACTED}"


def test_basic_credentials_are_redacted_encoded_decoded_and_by_their_parts():
    pair = "service-user:pa55word-9c1d"
    redactor = redactor_for(("Basic " + base64.b64encode(pair.encode()).decode(),))
    for echoed in (base64.b64encode(pair.encode()).decode(), pair, "pa55word-9c1d", "PA55WORD-9C1D", "service-user"):
        assert echoed not in redactor.text(f"[{echoed}]"), echoed


def test_the_redactor_is_built_once_per_set_of_values():
    assert redactor_for((f"Bearer {TOKEN}",)) is REDACTOR
    assert redactor_for(()) is NOTHING and not NOTHING


def test_json_values_are_redacted_after_parsing_in_keys_and_values():
    body = json.dumps({"auth": f"Bearer {TOKEN}", TOKEN: [1, {"nested": TOKEN.upper()}], "n": 3})
    result = to_call_result(
        UpstreamResponse(200, "OK", "application/json", body.encode(), redactor=REDACTOR), "2025-11-25"
    )
    assert result["structuredContent"] == {"auth": REDACTED, REDACTED: [1, {"nested": REDACTED}], "n": 3}
    assert TOKEN.lower() not in json.dumps(result).lower()


def test_binary_bodies_holding_the_credential_are_withheld_whole():
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 20 + TOKEN.encode("utf-16-be") + b"\x01\x02"
    result = to_call_result(UpstreamResponse(200, "OK", "image/png", png, redactor=REDACTOR), "2025-11-25")
    assert result["content"][0]["type"] == "text" and "withheld" in result["content"][0]["text"]
    clean = to_call_result(UpstreamResponse(200, "OK", "image/png", png[:28], redactor=REDACTOR), "2025-11-25")
    assert clean["content"][0]["type"] == "image"


def test_a_body_whose_charset_hides_the_credential_is_withheld():
    # ASCII bytes declared UTF-16 decode to CJK characters; re-encoding them gives the credential back.
    body = f"xx{TOKEN}xx".encode("ascii")
    result = to_call_result(
        UpstreamResponse(200, "OK", "text/plain; charset=utf-16-le", body, redactor=REDACTOR), "2025-11-25"
    )
    text = result["content"][0]["text"]
    assert "withheld" in text
    assert TOKEN.encode() not in text.encode("utf-16-le", "replace")


def test_a_redactor_for_many_values_is_one_pattern():
    redactor = Redactor((f"Bearer {TOKEN}", "other-secret-value", "tiny"))
    assert redactor.secrets == (f"Bearer {TOKEN}", "other-secret-value", TOKEN)
    assert redactor.text("other-secret-value tiny") == f"{REDACTED} tiny"


def test_credentials_with_quotes_and_backslashes_are_found_json_escaped():
    secret = 'pa"ss\\word/42'
    redactor = redactor_for((secret,))
    escaped = json.dumps(secret)[1:-1].replace("/", "\\/")
    assert redactor.text(f'{{"v": "{escaped}"}}') == f'{{"v": "{REDACTED}"}}'
    assert redactor.text(json.dumps(json.dumps(secret))) in (UNREDACTABLE, f'"\\"{REDACTED}\\""')


def test_benign_escapes_are_left_alone_and_escapes_nested_twice_still_found():
    text = 'a=%20b&c=%2Fd \\n \\" \\\\ &#38; &amp;'
    assert REDACTOR.text(text) is text
    twice = "".join(f"%25{b:02x}" for b in TOKEN.encode())
    assert REDACTOR.found_in(twice) and REDACTOR.found_in(json.dumps(json.dumps(TOKEN)))
