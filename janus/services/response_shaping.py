"""The portal editor's "test the projection" (issue 15, item 3): an endpoint's shaping applied to a pasted
sample, with the gateway's own function, so what the admin sees is what a call returns. Never contacts
the upstream, never stores anything.

The live call path (janus.gateway.content) and this preview share the whole pipeline: `shape_json` does
projection → array cap → table → DLP masking → size cap in that one place, and `dlp.enabled` decides masking
from the connection's `redaction` and REDACTION_ENABLED for both.
"""

from __future__ import annotations

import json
from typing import Any

from flask import current_app

from janus.gateway import dlp
from janus.gateway.shaping import ProjectionError, ShapingFailed, shape_json, shaping_for
from janus.services import connections

MAX_SAMPLE_CHARS = 1_000_000


def _count(raw: Any, name: str, low: int) -> int | None:
    if raw in (None, ""):
        return None
    if isinstance(raw, int) and not isinstance(raw, bool) and raw >= low:
        return raw
    raise ValueError(f"{name} must be a whole number of at least {low}")


def masking(connection_id: str | None) -> dict[str, Any]:
    """Whether a call through this connection has its answer masked, and why:
    {"on": bool, "by": "connection" | "gateway", "connection": name or None}.

    No connection (a new endpoint whose connection is not chosen yet): the gateway setting. An unknown
    one raises NotFound."""
    default = bool(current_app.config.get("REDACTION_ENABLED"))
    if not connection_id:
        return {"on": default, "by": "gateway", "connection": None}
    conn = connections.get(connection_id)
    return {
        "on": dlp.enabled(default, conn.redaction),
        "by": "gateway" if conn.redaction is None else "connection",
        "connection": conn.name,
    }


def preview(
    projection: str,
    sample: str,
    max_items: Any = None,
    max_text_chars: Any = None,
    table: bool = False,
    redact: bool = False,
) -> dict:
    """{"text": what the client would read (notes included), "marker": the _meta marker or None,
    "structured": whether structuredContent is kept, "redacted": {class: count} DLP masked (empty when
    nothing or masking is off)} or {"problem": why not}. `redact`: masking on, as `masking()` says."""
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
        shaped = shape_json(value, shaping, redact)
    except ProjectionError as exc:
        return {"problem": f"response_projection is not a valid JMESPath expression: {exc}"}
    except (ShapingFailed, ValueError) as exc:
        return {"problem": str(exc)}
    return {
        "text": "\n\n".join(block["text"] for block in shaped.content),
        "marker": shaped.marker,
        "structured": shaped.structured is not None,
        "redacted": (shaped.marker or {}).get("redacted") or {},
    }
