"""The response-shaping and DLP fields of endpoints and connections (issue 15, item 3).

Kept apart from endpoint.py and connection.py so those only gain a contiguous block of fields.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationInfo

from janus.gateway.shaping import projection_problem
from janus.schemas.fields import Count, Rules, Text, refuse

MAX_PROJECTION = 2000
MAX_ITEMS = 100_000
MAX_TEXT_CHARS = 10_000_000


def check_projection(expression: str) -> str:
    """A JMESPath expression that parses; the refusal quotes the parser (a position and a caret)."""
    problem = projection_problem(expression)
    if problem:
        raise refuse(f"response_projection is not a valid JMESPath expression: {problem}")
    return expression


def _optional_flag(value: Any, info: ValidationInfo) -> bool | None:
    """true, false or null (follow the global setting); "" and "default" from a form are null too."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"", "default", "null", "true", "false"}:
        text = value.strip().lower()
        return None if text in {"", "default", "null"} else text == "true"
    raise refuse(f"{info.field_name or 'value'} must be true, false or null")


def OptionalFlag(description: str) -> Rules:
    return Rules(_optional_flag, {"type": ["boolean", "null"]}, description)


PROJECTION = Text(
    MAX_PROJECTION,
    nullable=True,
    blank_is_null=True,
    check=check_projection,
    description="JMESPath expression applied to a JSON answer before it reaches the client (e.g. "
    "items[].{id: id, name: name}); null: the whole answer.",
)
ITEMS = Count(
    1,
    MAX_ITEMS,
    nullable=True,
    description="At most this many items of the answer's array (or of each array directly under its top-level "
    "object), with a note and a marker; null: no cap.",
)
TEXT_CHARS = Count(
    100,
    MAX_TEXT_CHARS,
    nullable=True,
    description="At most this many characters of text, with a note and a marker; null: no cap.",
)
REDACTION = OptionalFlag(
    "Mask e-mails, card numbers, JWTs, cloud keys and IBANs in this connection's answers: true, false, "
    "or null to follow REDACTION_ENABLED."
)
