"""The tool editor's metadata inputs (issue 15, item 2): title, one select per annotation hint (derived, true,
false), the output schema and its validation policy. The service validates; this only maps the form."""

from __future__ import annotations

import json
from typing import Any

from werkzeug.datastructures import MultiDict

from janus.services.tool_metadata import (
    ANNOTATION_HINTS,
    OUTPUT_POLICIES,
    derived_annotations,
    effective_annotations,
)

FIELDS = ("title", "annotations", "output_schema", "output_validation")
HINT_LABELS = {
    "readOnlyHint": "Read-only (changes nothing upstream)",
    "destructiveHint": "Destructive (may overwrite or delete)",
    "idempotentHint": "Idempotent (repeating it changes nothing more)",
    "openWorldHint": "Open world (reaches outside systems)",
}


def form_values(form: MultiDict) -> dict[str, Any]:
    """What the admin typed or chose, as the form shows it again."""
    values: dict[str, Any] = {
        "title": form.get("title", ""),
        "output_schema": form.get("output_schema", ""),
        "output_validation": form.get("output_validation", "lenient"),
    }
    for hint in ANNOTATION_HINTS:
        values["hint_" + hint] = form.get("hint_" + hint, "")
    return values


def submitted(values: dict[str, Any]) -> dict[str, Any]:
    """The service's fields: explicit hints only (an empty select is "derived")."""
    hints = {h: values["hint_" + h] == "true" for h in ANNOTATION_HINTS if values.get("hint_" + h) in ("true", "false")}
    return {
        "title": values.get("title") or None,
        "annotations": hints or None,
        "output_schema": values.get("output_schema") or None,
        "output_validation": values.get("output_validation") or "lenient",
    }


def stored_values(tool: dict[str, Any]) -> dict[str, Any]:
    """A stored tool's metadata as the form shows it."""
    values: dict[str, Any] = {
        "title": tool.get("title") or "",
        "output_schema": json.dumps(tool["output_schema"], indent=2) if tool.get("output_schema") else "",
        "output_validation": tool.get("output_validation") or "lenient",
    }
    explicit = tool.get("annotations") or {}
    for hint in ANNOTATION_HINTS:
        values["hint_" + hint] = "" if hint not in explicit else ("true" if explicit[hint] else "false")
    return values


def context(method: str | None) -> dict[str, Any]:
    """What the template needs besides the values: the hints, what each derives to, the policies."""
    return {
        "hint_labels": HINT_LABELS,
        "derived_hints": derived_annotations(method or "GET"),
        "output_policies": OUTPUT_POLICIES,
    }


def effective(tool: dict[str, Any]) -> dict[str, bool]:
    """The hints tools/list serves for this tool."""
    return effective_annotations(tool["method"], tool.get("annotations"))
