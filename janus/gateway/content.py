"""Upstream HTTP response → MCP CallToolResult.

Pure functions over bytes already read by the executor (which enforces the
size cap), so they are cheap to test without a network.
"""

from __future__ import annotations

import base64
import codecs
import json
import logging
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import orjson

from janus.gateway.redaction import NOTHING, READ_MARGIN, Redactor
from janus.gateway.shaping import MARKER, Shaping, ShapingFailed, shape_json, shape_text_result
from janus.mcp import versions

logger = logging.getLogger(__name__)

# Audio content blocks exist from this protocol revision on; older clients
# would reject an unknown block type, so they get a text note instead.
AUDIO_SINCE = "2025-03-26"
# An error body is shown for diagnosis only; a few KB is enough and keeps a
# 1 MB HTML error page out of the model's context.
ERROR_BODY_LIMIT = 4096

_TEXT_TYPES = frozenset(
    {
        "application/xml",
        "application/javascript",
        "application/x-javascript",
        "application/ecmascript",
        "application/x-www-form-urlencoded",
        "application/yaml",
        "application/x-yaml",
        "application/x-ndjson",
        "application/graphql",
        "application/sql",
    }
)


@dataclass(frozen=True)
class UpstreamResponse:
    status: int
    reason: str
    content_type: str | None
    # When truncated, up to READ_MARGIN bytes past `limit`: a credential straddling the
    # cap is redacted whole, and only then is the text cut to `limit` (never a prefix of it).
    body: bytes
    truncated: bool = False
    limit: int = 0  # the size cap, quoted in the truncation note
    location: str | None = None
    # Every piece of upstream text passed on goes through this, after decoding, before cutting.
    redactor: Redactor = NOTHING
    # Response shaping and data-loss prevention (janus/gateway/shaping.py, dlp.py): the endpoint's
    # shaping (None: none) and whether DLP masking is on for the connection.
    shaping: Shaping | None = None
    redact: bool = False


class _NotJson(Exception):
    """A body declared JSON that does not parse: the parser's complaint (a position, never body text)."""


def _not_json(name: str) -> object:
    # NaN and Infinity are not JSON: such a body is passed on as text, never re-serialised.
    raise ValueError(f"{name} is not JSON")


def _pretty(value: Any) -> str:
    # orjson: ~20x faster than json.dumps(indent=2), which drops to pure Python when
    # indenting; integers beyond 64 bits (valid JSON) fall back to the standard library.
    try:
        return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(value, indent=2, ensure_ascii=False)


def reason_phrase(status: int, reason: str | None) -> str:
    if reason:
        return reason
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _parse_content_type(content_type: str | None) -> tuple[str, str | None]:
    if not content_type:
        return "", None
    mime, _, params = content_type.partition(";")
    charset = None
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip('"') or None
    return mime.strip().lower(), charset


def _content_type(response: UpstreamResponse) -> tuple[str, str | None]:
    # The media type is quoted in notes and image blocks: upstream text like any other.
    return _parse_content_type(response.redactor.text(response.content_type or ""))


def _is_json(mime: str) -> bool:
    return mime == "application/json" or mime.endswith("+json")


def _is_text(mime: str) -> bool:
    return mime.startswith("text/") or mime in _TEXT_TYPES or mime.endswith("+xml")


def _decode(body: bytes, charset: str | None, *, complete: bool, strict: bool = False) -> str:
    """Decode; an incomplete (cut) body keeps back a split multi-byte character."""
    try:
        factory = codecs.getincrementaldecoder(charset or "utf-8")
    except LookupError:
        factory = codecs.getincrementaldecoder("utf-8")
    decoder = factory(errors="strict" if strict else "replace")
    return decoder.decode(body, final=complete)


def _text(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def _truncation_note(limit: int) -> str:
    return f"[truncated: upstream response exceeded {limit} bytes]"


def _size(response: UpstreamResponse) -> str:
    if response.truncated:
        return f"more than {response.limit} bytes"
    return f"{len(response.body)} bytes"


def _withheld(what: str) -> str:
    return f"[{what} withheld: it contains a credential Janus sent to the upstream]"


def _redacted(redactor: Redactor, text: str, charset: str | None) -> str:
    """text with the credentials replaced; withheld whole if its charset hides one from the pattern."""
    text = redactor.text(text)
    if redactor.hidden_by_charset(text, charset):
        return _withheld("response body")
    return text


def _cut(text: str, limit: int) -> tuple[str, bool]:
    """At most `limit` bytes of UTF-8, never half a character."""
    if len(text) <= limit // 4:  # fast path: even 4-byte characters fit
        return text, False
    encoded = text.encode("utf-8", "surrogatepass")
    if len(encoded) <= limit:
        return text, False
    return encoded[:limit].decode("utf-8", "ignore"), True


def _as_text(
    response: UpstreamResponse, mime: str, charset: str | None, body: bytes | None = None, complete: bool | None = None
) -> str | None:
    """The body as redacted text if it is textual (by type, or valid UTF-8 when untyped)."""
    body = response.body if body is None else body
    complete = not response.truncated if complete is None else complete
    if _is_json(mime) or _is_text(mime):
        text = _decode(body, charset, complete=complete)
    elif not mime:
        try:
            text = _decode(body, charset, complete=complete, strict=True)
        except UnicodeDecodeError:
            return None
    else:
        return None
    return _redacted(response.redactor, text, charset)


def _success_content(
    response: UpstreamResponse, protocol_version: str
) -> tuple[list[dict[str, Any]], dict[str, Any] | None, dict[str, Any] | None]:
    """The content, structuredContent and _meta (shaping's marker) of a 2xx answer."""
    mime, charset = _content_type(response)
    redactor = response.redactor
    if not response.body and not response.truncated:
        phrase = redactor.text(reason_phrase(response.status, response.reason))
        return [_text(f"Upstream returned HTTP {response.status} {phrase} with an empty body")], None, None

    if _is_json(mime) and not response.truncated:
        text = _decode(response.body, charset, complete=True).lstrip("\ufeff")
        try:
            parsed = json.loads(text, parse_constant=_not_json)
        except json.JSONDecodeError as exc:
            # Not JSON at all (a half-written document, an HTML error page sent as 200): not data to act on.
            raise _NotJson(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
        except (ValueError, RecursionError):
            # NaN/Infinity (what many JSON encoders write for them) or nesting deeper than the parser goes:
            # the data is there, it just cannot become structuredContent. Passed on as text, never re-serialised.
            logger.debug("upstream declared %s but sent JSON Python cannot hold; returning text", mime)
            return [_text(_redacted(redactor, text, charset))], None, None
        # Decoded (\u escapes, \/) before redaction, keys and values alike; both the text
        # and structuredContent come from the redacted value.
        if redactor.found_in(text):  # the walk only when the body holds a credential somewhere
            parsed = redactor.value(parsed)
        if response.shaping is not None or response.redact:  # janus/gateway/shaping.py: projection, caps, DLP
            shaped = shape_json(parsed, response.shaping, response.redact)
            if redactor.hidden_by_charset(shaped.content[0]["text"], charset):
                return [_text(_withheld("response body"))], None, None
            return shaped.content, shaped.structured, shaped.marker or {}  # {}: shaped, nothing to mark
        pretty = _pretty(parsed)
        if redactor.hidden_by_charset(pretty, charset):
            return [_text(_withheld("response body"))], None, None
        # structuredContent must be an object in MCP; arrays and scalars stay text.
        return [_text(pretty)], parsed if isinstance(parsed, dict) else None, None

    if mime.startswith(("image/", "audio/")):
        kind = "image" if mime.startswith("image/") else "audio"
        if response.truncated:
            return (
                [_text(f"[{mime} response of {_size(response)} exceeded the size limit and was not returned]")],
                None,
                None,
            )
        if kind == "audio" and not versions.at_least(protocol_version, AUDIO_SINCE):
            return (
                [
                    _text(
                        f"[{mime} response of {_size(response)} omitted: audio content needs "
                        f"MCP protocol version {AUDIO_SINCE} or later]"
                    )
                ],
                None,
                None,
            )
        if redactor.found_in_bytes(response.body):
            # Bytes cannot be redacted without corrupting the file: the whole body is refused.
            return [_text(_withheld(f"{mime} response of {_size(response)}"))], None, None
        data = base64.b64encode(response.body).decode("ascii")
        return [{"type": kind, "data": data, "mimeType": mime}], None, None

    shown = _as_text(response, mime, charset)
    if shown is None:
        return [_text(f"[binary response: {mime or 'unknown content type'}, {_size(response)}]")], None, None
    if response.truncated:
        shown = f"{_cut(shown, response.limit)[0]}\n\n{_truncation_note(response.limit)}"
    return [_text(shown)], None, None


def excerpt(response: UpstreamResponse, limit: int) -> tuple[str | None, bool]:
    """The start of the body as redacted text (None if not textual), and whether it was cut.

    Redaction runs on READ_MARGIN bytes past `limit` and the cut comes after it, so a
    credential that straddles the cut is replaced whole rather than leaking its prefix.
    """
    mime, charset = _content_type(response)
    head = response.body[: limit + READ_MARGIN]
    complete = not response.truncated and len(head) == len(response.body)
    text = _as_text(response, mime, charset, head, complete)
    if text is None:
        return None, False
    if len(text) > limit:
        return text[:limit], True
    return text, not complete


def _error_excerpt(response: UpstreamResponse) -> str:
    mime, _ = _content_type(response)
    text, cut = excerpt(response, ERROR_BODY_LIMIT)
    if text is None:
        return f"<{_size(response)} of {mime or 'binary data'}>"
    text = text.strip()
    return f"{text} …[truncated]" if cut else text


def to_call_result(response: UpstreamResponse, protocol_version: str) -> dict[str, Any]:
    """The CallToolResult for an upstream response (isError for 3xx/4xx/5xx, and for invalid JSON)."""
    return call_result(response, protocol_version)[0]


def call_result(response: UpstreamResponse, protocol_version: str) -> tuple[dict[str, Any], str | None]:
    """The CallToolResult, and for an error result a short reason for the audit log (no upstream text).

    isError for 3xx/4xx/5xx, and for a 2xx whose body is declared JSON but does not parse: the upstream
    broke its own contract, so the text is not data a model should act on. The message keeps the HTTP
    status (the upstream did answer, and may have acted: not a reason to repeat a write blindly), the
    parser's position and the start of the body (redacted, at most ERROR_BODY_LIMIT bytes) for diagnosis.
    """
    result, problem, shaped = _call_result(response, protocol_version)
    if not shaped and (response.shaping is not None or response.redact):
        result = shape_text_result(result, response.shaping, response.redact)  # text and errors: DLP, size cap
    return result, problem


def _call_result(response: UpstreamResponse, protocol_version: str) -> tuple[dict[str, Any], str | None, bool]:
    """call_result's answer, and whether shape_json already shaped it (a JSON answer)."""
    status = response.status
    # The reason phrase and Location are upstream text like the body: an echo of a credential is redacted.
    phrase = response.redactor.text(reason_phrase(status, response.reason))
    if 300 <= status < 400:
        # Redirects are not followed: the next hop could be another host and
        # would receive the connection's credentials.
        location = response.redactor.text(response.location or "")
        target = f" to {location}" if location else " without a Location header"
        message = f"Upstream returned HTTP {status} {phrase}, redirecting{target}; redirects are not followed"
        return {"content": [_text(message)], "isError": True}, f"HTTP {status}", False
    if status >= 400 or status < 200:
        message = f"Upstream returned HTTP {status} {phrase}"
        if response.body:
            message = f"{message}: {_error_excerpt(response)}"
        return {"content": [_text(message)], "isError": True}, f"HTTP {status}", False

    try:
        content, structured, meta = _success_content(response, protocol_version)
    except ShapingFailed as exc:
        return {"content": [_text(str(exc))], "isError": True}, "response projection failed", False
    except _NotJson as exc:
        mime, _ = _content_type(response)
        message = (
            f"Upstream returned HTTP {status} {phrase}, but its body is declared {mime} and is not valid JSON ({exc})"
        )
        problem = f"HTTP {status} with a body that is not valid JSON"
        return {"content": [_text(f"{message}: {_error_excerpt(response)}")], "isError": True}, problem, False
    result: dict[str, Any] = {"content": content, "isError": False}
    if structured is not None:
        result["structuredContent"] = structured
    if meta:
        result["_meta"] = {MARKER: meta}
    return result, None, meta is not None
