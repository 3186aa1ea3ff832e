"""The portal editor's "test the projection" (issue 15, item 3): an endpoint's shaping applied to a pasted
sample, with the gateway's own function, so what the admin sees is what a call returns. Never contacts
the upstream, never stores anything."""

from __future__ import annotations

import json
from typing import Any

from janus.gateway.shaping import ProjectionError, ShapingFailed, shape_json, shaping_for

MAX_SAMPLE_CHARS = 1_000_000


def _count(raw: Any, name: str, low: int) -> int | None:
    if raw in (None, ""):
        return None
    if isinstance(raw, int) and not isinstance(raw, bool) and raw >= low:
        return raw
    raise ValueError(f"{name} must be a whole number of at least {low}")


def preview(
    projection: str, sample: str, max_items: Any = None, max_text_chars: Any = None, table: bool = False
) -> dict:
    """{"text": what the client would read (notes included), "marker": the _meta marker or None,
    "structured": whether structuredContent is kept} or {"problem": why not}."""
    if not sample.strip():
        return {"problem": "paste a sample JSON answer to test against"}
    if len(sample) > MAX_SAMPLE_CHARS:
        return {"problem": f"the sample is longer than {MAX_SAMPLE_CHARS} characters"}
    try:
        value = json.loads(sample)
    except (ValueError, RecursionError) as exc:
        return {"problem": f"the sample is not valid JSON: {exc}"}
    try:
        items = _count(max_items, "max_items", 1)
        chars = _count(max_text_chars, "max_text_chars", 100)
        shaping = shaping_for(projection.strip() or None, items, chars, table)
        if shaping is not None:
            shaping.compiled  # noqa: B018 - a bad expression is reported as the parser's message
        shaped = shape_json(value, shaping, False)
    except ProjectionError as exc:
        return {"problem": f"response_projection is not a valid JMESPath expression: {exc}"}
    except (ShapingFailed, ValueError) as exc:
        return {"problem": str(exc)}
    return {
        "text": "\n\n".join(block["text"] for block in shaped.content),
        "marker": shaped.marker,
        "structured": shaped.structured is not None,
    }
