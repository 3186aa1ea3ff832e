"""The endpoint editor's header parameters (janus/gateway/header_params.py) as a textarea, one per line:

    x_request_id: X-Request-Id        the argument x_request_id is sent as the header X-Request-Id
    X-Api-Version = 2022-11-28        a fixed header

A line is read by whichever of ':' and '=' comes first (neither can be in a header or argument name); empty
lines and lines starting with '#' are skipped. The service checks the names and values.
"""

from __future__ import annotations

from typing import Any

from janus.services.errors import ValidationError

FIELD = "header_params"
SYNTAX = "'argument: Header-Name' or 'Header-Name = value'"


def text_of(params: Any) -> str:
    """The stored list as the textarea shows it."""
    if not isinstance(params, list):
        return ""
    lines = []
    for entry in params:
        if "argument" in entry:
            lines.append(f"{entry['argument']}: {entry['header']}")
        else:
            lines.append(f"{entry['header']} = {entry['value']}")
    return "\n".join(lines)


def parsed(text: str) -> list[dict[str, str]] | None:
    """The textarea's lines as the endpoint service takes them; a line of neither form is refused by number."""
    entries: list[dict[str, str]] = []
    for number, raw in enumerate((text or "").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        colon, equals = line.find(":"), line.find("=")
        if colon < 0 and equals < 0:
            raise ValidationError(f"header parameters, line {number}: write {SYNTAX}", field=FIELD)
        if equals < 0 or 0 <= colon < equals:
            argument, header = line[:colon].strip(), line[colon + 1 :].strip()
            if not argument or not header:
                raise ValidationError(f"header parameters, line {number}: write {SYNTAX}", field=FIELD)
            entries.append({"argument": argument, "header": header})
        else:
            header, value = line[:equals].strip(), line[equals + 1 :].strip()
            if not header:
                raise ValidationError(f"header parameters, line {number}: write {SYNTAX}", field=FIELD)
            entries.append({"header": header, "value": value})
    return entries or None
