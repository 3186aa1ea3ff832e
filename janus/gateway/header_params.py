"""Header parameters: tool arguments sent as HTTP request headers, and fixed headers, per endpoint.

An endpoint's `header_params` is a list of entries, each naming one request header:

* `{"argument": "x_request_id", "header": "X-Request-Id"}`: the tool argument `x_request_id`, when the
  caller gives it, is sent as the header `X-Request-Id` (a string, number or boolean; never an object or
  array) and nowhere else (not in the query, not in the body);
* `{"header": "X-Api-Version", "value": "2022-11-28"}`: the header is sent with this value on every call.

The rules are checked twice: when an endpoint is saved (`check_header_params`: names, values and the
headers a tool may never set) and on each call (`HeaderParams.render`: the caller's values). The executor,
its framing and its credentials own some headers (`FORBIDDEN_HEADERS`): a header parameter never replaces
them, and the connection's own auth headers always win (janus/gateway/executor.py).

Plain data, no app: the catalog compiles an endpoint's list once per change into `HeaderParams`, and a tool
without header parameters carries None, so the per-call path does nothing for it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from janus.gateway.templating import ArgumentError

MAX_HEADER_PARAMS = 50
MAX_HEADER_NAME = 128
MAX_HEADER_VALUE = 8192
# RFC 9110 token characters: anything else in a name could split the header or start another.
HEADER_NAME_RE = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
# The argument names a header parameter may use: a JSON property name that also reads as a name.
ARGUMENT_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$")
# Printable ASCII, space and tab: a control character (CR, LF, NUL…) could end the header and start another,
# and anything past ASCII is read differently by each server (http.client would send it as latin-1).
_VALUE_OK = re.compile(r"^[\t\x20-\x7e]*$")

# Headers a header parameter may never set (compared in lower case):
FORBIDDEN_HEADERS = frozenset(
    {
        # credentials: the connection's (janus/gateway/upstream_auth.py), never a caller's
        "authorization",
        "proxy-authorization",
        "cookie",
        # framing and connection management: the HTTP client's; a wrong one desynchronises a pooled socket
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
        "expect",
        # what the executor sends and reads by itself
        "content-type",
        "accept",
        "accept-encoding",
        "user-agent",
        # the call's trace context (janus/gateway/tracing.py)
        "traceparent",
        "tracestate",
    }
)
# A header whose name says it carries a credential: its argument is kept out of the audit digest.
_SENSITIVE = re.compile(r"auth|token|secret|passw|key|signature|credential|session|cookie|cert", re.IGNORECASE)


class HeaderParamError(ValueError):
    """An endpoint's header parameters are malformed; the message says which and why."""


def is_forbidden_header(name: str) -> bool:
    return name.lower() in FORBIDDEN_HEADERS


def is_sensitive_header(name: str) -> bool:
    return bool(_SENSITIVE.search(name))


def value_problem(text: str) -> str | None:
    """Why this text cannot be a header value, or None."""
    if len(text) > MAX_HEADER_VALUE:
        return f"is longer than {MAX_HEADER_VALUE} characters"
    if not _VALUE_OK.fullmatch(text):
        if any(c in text for c in "\r\n\x00"):
            return "contains CR, LF or NUL, which could end the header and start another"
        return "contains a control character or a character outside ASCII, which a header cannot carry"
    return None


def check_header_params(raw: Any) -> list[dict[str, str]] | None:
    """An endpoint's header parameters, normalised (entries with `header` and either `argument` or `value`);
    None for none (null or an empty list). Raises HeaderParamError with a message for the admin."""
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise HeaderParamError('header parameters must be a list of {"argument": …, "header": …} objects')
    if len(raw) > MAX_HEADER_PARAMS:
        raise HeaderParamError(f"at most {MAX_HEADER_PARAMS} header parameters are allowed")
    out: list[dict[str, str]] = []
    headers: set[str] = set()
    arguments: set[str] = set()
    for entry in raw:
        if not isinstance(entry, dict):
            raise HeaderParamError('each header parameter must be an object: {"argument": …, "header": …}')
        unknown = sorted(str(k)[:64] for k in entry if k not in ("header", "argument", "value"))
        if unknown:
            raise HeaderParamError(
                f"header parameter field {unknown[0]!r} is unknown; expected header, argument, value"
            )
        header = entry.get("header")
        if not isinstance(header, str) or not header:
            raise HeaderParamError("each header parameter needs a header name")
        if len(header) > MAX_HEADER_NAME or not HEADER_NAME_RE.fullmatch(header):
            raise HeaderParamError(
                f"header name {header[:MAX_HEADER_NAME]!r} is invalid: use letters, digits and !#$%&'*+-.^_`|~ "
                f"(RFC 9110 token characters), at most {MAX_HEADER_NAME}"
            )
        if is_forbidden_header(header):
            raise HeaderParamError(
                f"header {header!r} cannot be a header parameter: the gateway sets it itself "
                "(credentials, framing, content negotiation or tracing)"
            )
        if header.lower() in headers:
            raise HeaderParamError(f"header {header!r} is given twice")
        headers.add(header.lower())
        argument, value = entry.get("argument"), entry.get("value")
        if (argument is None) == (value is None):
            raise HeaderParamError(
                f"header {header!r} needs either an argument (sent from the caller) or a value (fixed), not both"
            )
        if argument is not None:
            if not isinstance(argument, str) or not ARGUMENT_NAME_RE.fullmatch(argument):
                raise HeaderParamError(
                    f"argument {str(argument)[:64]!r} of header {header!r} is invalid: start with a letter or '_', "
                    "then letters, digits, '_', '.' or '-', at most 64"
                )
            if argument in arguments:
                raise HeaderParamError(f"argument {argument!r} is sent as two headers")
            arguments.add(argument)
            out.append({"argument": argument, "header": header})
        else:
            if not isinstance(value, str):
                raise HeaderParamError(f"the fixed value of header {header!r} must be a string")
            problem = value_problem(value)
            if problem:
                raise HeaderParamError(f"the fixed value of header {header!r} {problem}")
            out.append({"header": header, "value": value})
    return out or None


@dataclass(frozen=True)
class HeaderParams:
    """An endpoint's header parameters, compiled once per catalogue change for the per-call path."""

    arguments: tuple[tuple[str, str], ...]  # (argument, header), in the admin's order
    fixed: tuple[tuple[str, str], ...]  # (header, value)
    names: frozenset[str]  # the arguments sent as headers: never in the query or the body
    sensitive: frozenset[str]  # of those, the ones whose header carries a credential: out of the audit digest

    def render(self, arguments: Mapping[str, Any]) -> list[tuple[str, str]]:
        """The (header, value) pairs for these arguments: the fixed ones, then each argument given (null and
        absent ones are not sent). Raises ArgumentError (a message for the caller) for a value a header
        cannot carry."""
        pairs = list(self.fixed)
        for argument, header in self.arguments:
            value = arguments.get(argument)
            if value is None:
                continue
            pairs.append((header, _header_text(argument, value)))
        return pairs


def _header_text(argument: str, value: Any) -> str:
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise ArgumentError(f"header parameter '{argument}' must be a finite number", argument)
        text = json.dumps(value)
    else:
        kind = "an object" if isinstance(value, Mapping) else "an array" if isinstance(value, list | tuple) else "that"
        raise ArgumentError(f"header parameter '{argument}' must be a string, number or boolean, not {kind}", argument)
    problem = value_problem(text)
    if problem:
        raise ArgumentError(f"header parameter '{argument}' {problem}", argument)
    return text


def compile_header_params(raw: Any) -> HeaderParams | None:
    """The stored list (already checked when saved) as the catalog serves it; None when there is none, so a
    tool without header parameters costs nothing per call. Entries a hand-edited row got wrong are left out."""
    if not isinstance(raw, list) or not raw:
        return None
    arguments: list[tuple[str, str]] = []
    fixed: list[tuple[str, str]] = []
    for entry in raw:
        if not isinstance(entry, dict):
            continue
        header = entry.get("header")
        if not isinstance(header, str) or not HEADER_NAME_RE.fullmatch(header) or is_forbidden_header(header):
            continue
        if isinstance(entry.get("argument"), str):
            arguments.append((entry["argument"], header))
        elif isinstance(entry.get("value"), str) and value_problem(entry["value"]) is None:
            fixed.append((header, entry["value"]))
    if not arguments and not fixed:
        return None
    return HeaderParams(
        arguments=tuple(arguments),
        fixed=tuple(fixed),
        names=frozenset(a for a, _ in arguments),
        sensitive=frozenset(a for a, h in arguments if is_sensitive_header(h) or is_sensitive_header(a)),
    )


def header_names(params: list[dict[str, str]] | None) -> list[str]:
    return [p["header"] for p in params or []]


def arguments_of(params: list[dict[str, str]] | None) -> list[str]:
    return [p["argument"] for p in params or [] if "argument" in p]
