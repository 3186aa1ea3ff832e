"""What an OpenAPI operation says about its tool's metadata (issue 15, item 2): its summary is the title, and
the schema of its first 2xx JSON answer, self-contained after $ref resolution, is the output schema."""

from __future__ import annotations

from typing import Any

from pydantic_core import PydanticCustomError

from janus.schemas.endpoint import MAX_TITLE, check_output_schema


def title_of(op: dict[str, Any]) -> str | None:
    summary = op.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        return None
    text = " ".join(summary.split())
    return text if len(text) <= MAX_TITLE else text[: MAX_TITLE - 1].rstrip() + "…"


def success_answer(responses: Any) -> tuple[str, Any] | None:
    """(status code, response object) of the first 2xx answer ("200" before "201" before "2XX")."""
    if not isinstance(responses, dict):
        return None
    codes = sorted((str(code), code) for code in responses if str(code)[:1] == "2")
    return (codes[0][0], responses[codes[0][1]]) if codes else None


def checked(schema: Any, code: str, notes: list[str]) -> dict[str, Any] | None:
    """The schema when it can be a tool's output schema (an object schema MCP accepts); else a note and None."""
    if not isinstance(schema, dict):
        return None
    if schema.get("type") != "object":
        return None  # an array or a scalar never becomes structuredContent: nothing to describe
    try:
        return check_output_schema(schema)
    except PydanticCustomError as exc:
        notes.append(f"the {code} answer's schema is not used as output schema: {exc.message()}")
        return None
