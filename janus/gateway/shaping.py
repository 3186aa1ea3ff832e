"""Response shaping: what of an upstream's JSON answer reaches the client, and in what form.

Per endpoint (all optional): a JMESPath projection, a cap on array items, a cap on the text's size
and a Markdown table for an array of objects. With DLP (janus.gateway.dlp) the order is fixed:

    parse JSON → projection → array cap → (table) → DLP masking → size cap

so the caps and the table see the projected data, masking sees exactly what would be sent, and the
size cap cuts text that is already masked (never half a masked value's original). Every cap that
changes the answer adds a visible note (a text block after the data) and a machine-readable marker
in the result's `_meta` under MARKER (a prefixed key, as the MCP spec asks of implementation _meta).

structuredContent stays the data the text shows: the projected, capped, masked object; it is dropped
when the projection yields no object (MCP requires an object there) or when the size cap cuts the
text (a cut text is no longer its serialisation). Output-schema validation, where a tool declares
one, must therefore check the *shaped* value: the projection changes the shape.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

import orjson

from janus.gateway import dlp

# One key for every change Janus made to an answer: {"projection": …, "items": …, "text": …, "redacted": …}.
MARKER = "io.janus/shaping"


class ProjectionError(ValueError):
    """A JMESPath expression that does not parse; the message is the parser's."""


@functools.lru_cache(maxsize=1024)
def compile_projection(expression: str) -> Any:
    """The compiled expression (cached: the catalog, the admin API and the portal's test share it)."""
    import jmespath
    from jmespath.exceptions import JMESPathError

    try:
        return jmespath.compile(expression)
    except JMESPathError as exc:
        raise ProjectionError(str(exc)) from None
    except RecursionError:  # the parser recurses per nesting level: "((((…" past Python's limit
        raise ProjectionError("the expression is nested too deeply") from None


def projection_problem(expression: str) -> str | None:
    try:
        compile_projection(expression)
    except ProjectionError as exc:
        return str(exc)
    return None


@dataclass(frozen=True)
class Shaping:
    """An endpoint's shaping, built once per catalog load (the expression compiled there)."""

    projection: str | None = None
    max_items: int | None = None
    max_text_chars: int | None = None
    render_table: bool = False

    @functools.cached_property
    def compiled(self) -> Any:
        return compile_projection(self.projection) if self.projection else None


def shaping_for(
    projection: str | None, max_items: int | None, max_text_chars: int | None, render_table: bool | None
) -> Shaping | None:
    """None when the endpoint shapes nothing: the per-call path then pays one `is None`."""
    if not projection and not max_items and not max_text_chars and not render_table:
        return None
    shaping = Shaping(projection or None, max_items or None, max_text_chars or None, bool(render_table))
    try:
        shaping.compiled  # noqa: B018 - compiled at load, so the first call does not pay for it
    except ProjectionError:
        pass  # the services refuse it at save time; a row written otherwise fails its calls (apply_projection)
    return shaping


class ShapingFailed(Exception):
    """The projection could not be evaluated on this answer (a type error in a function call)."""


def apply_projection(shaping: Shaping, value: Any) -> Any:
    try:
        return shaping.compiled.search(value)
    except (ValueError, TypeError) as exc:  # JMESPathError and ProjectionError are ValueErrors; a zero slice step too
        raise ShapingFailed(f"the endpoint's response projection failed on this answer: {exc}") from None
    except RecursionError:
        raise ShapingFailed("the endpoint's response projection failed on this answer: nested too deeply") from None


def cap_items(value: Any, max_items: int) -> tuple[Any, list[dict[str, Any]]]:
    """The value with its top-level array (or each array directly under a top-level object) cut to
    `max_items`; what was cut, as {"path", "total", "kept"} entries."""
    cut: list[dict[str, Any]] = []
    if isinstance(value, list):
        if len(value) > max_items:
            cut.append({"path": "", "total": len(value), "kept": max_items})
            value = value[:max_items]
    elif isinstance(value, dict):
        capped = {}
        for key, member in value.items():
            if isinstance(member, list) and len(member) > max_items:
                cut.append({"path": str(key), "total": len(member), "kept": max_items})
                member = member[:max_items]
            capped[key] = member
        value = capped
    return value, cut


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    # A pipe would end the cell and a newline the row: escaped, so the table keeps its shape.
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def markdown_table(rows: list[Any]) -> str | None:
    """An array of objects as a GitHub-flavoured Markdown table (columns in order of first appearance);
    None when it is not one (empty, or an item that is not an object)."""
    if not rows or not all(isinstance(row, dict) for row in rows):
        return None
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(str(k) for k in row))
    names = list(columns)
    lines = [
        "| " + " | ".join(_cell(n) for n in names) + " |",
        "|" + "---|" * len(names),
    ]
    lines.extend("| " + " | ".join(_cell(row.get(n)) for n in names) + " |" for row in rows)
    return "\n".join(lines)


def pretty(value: Any) -> str:
    try:
        return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()
    except (TypeError, orjson.JSONEncodeError):  # integers beyond 64 bits
        return json.dumps(value, indent=2, ensure_ascii=False)


def cut_text(text: str, max_chars: int) -> tuple[str, int]:
    """At most `max_chars` characters; the original length."""
    return (text[:max_chars], len(text)) if len(text) > max_chars else (text, len(text))


def _items_note(cut: list[dict[str, Any]]) -> str:
    parts = [f"{c['path'] or 'the result'}: {c['kept']} of {c['total']} items shown" for c in cut]
    return "[truncated by Janus: " + "; ".join(parts) + "]"


def _text_note(kept: int, total: int) -> str:
    return f"[truncated by Janus: {kept} of {total} characters shown]"


def _redacted_note(findings: dlp.Findings) -> str:
    counts = ", ".join(f"{n} {name}" for name, n in findings.as_dict().items())
    return f"[redacted by Janus: {counts}]"


@dataclass
class Shaped:
    content: list[dict[str, Any]]
    structured: dict[str, Any] | None
    marker: dict[str, Any] | None


def _block(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def shape_json(value: Any, shaping: Shaping | None, redact: bool) -> Shaped:
    """The content, structuredContent and marker for a parsed JSON answer (raises ShapingFailed)."""
    marker: dict[str, Any] = {}
    notes: list[str] = []
    if shaping is not None and shaping.compiled is not None:
        value = apply_projection(shaping, value)
        marker["projection"] = shaping.projection
    if shaping is not None and shaping.max_items:
        value, cut = cap_items(value, shaping.max_items)
        if cut:
            marker["items"] = cut
            notes.append(_items_note(cut))
    table = markdown_table(value) if shaping is not None and shaping.render_table else None
    text = pretty(value)
    if redact:
        findings = dlp.Findings()
        value = dlp.mask_value(value, text, findings)
        if findings:
            text = pretty(value)
            if table is not None:
                table = markdown_table(value)
            marker["redacted"] = findings.as_dict()
            notes.append(_redacted_note(findings))
    structured = value if isinstance(value, dict) else None
    shown = table if table is not None else text
    if shaping is not None and shaping.max_text_chars:
        shown, total = cut_text(shown, shaping.max_text_chars)
        if len(shown) < total:
            marker["text"] = {"total_chars": total, "kept_chars": len(shown)}
            notes.append(_text_note(len(shown), total))
            structured = None
    content = [_block(shown)] + [_block(note) for note in notes]
    return Shaped(content, structured, marker or None)


def shape_text_result(result: dict[str, Any], shaping: Shaping | None, redact: bool) -> dict[str, Any]:
    """A result that did not come from shape_json (text, an error, a note): every text block masked,
    and a success's text capped. Image and audio blocks pass as they are."""
    marker: dict[str, Any] = {}
    notes: list[str] = []
    content = list(result.get("content") or [])
    findings = dlp.Findings()
    for index, block in enumerate(content):
        if block.get("type") != "text":
            continue
        text = block["text"]
        if redact:
            text = dlp.mask_text(text, findings)
        if shaping is not None and shaping.max_text_chars and not result.get("isError"):
            text, total = cut_text(text, shaping.max_text_chars)
            if len(text) < total:
                marker["text"] = {"total_chars": total, "kept_chars": len(text)}
                notes.append(_text_note(len(text), total))
        content[index] = {**block, "text": text}
    if findings:
        marker["redacted"] = findings.as_dict()
        notes.append(_redacted_note(findings))
    if not marker:
        return result
    shaped = {**result, "content": content + [_block(note) for note in notes]}
    shaped["_meta"] = {**(result.get("_meta") or {}), MARKER: marker}
    return shaped


def redactions(result: dict[str, Any]) -> str | None:
    """The audit row's summary of what DLP masked in `result` ("email:2,card:1"), from its marker."""
    meta = result.get("_meta")
    if not meta:
        return None
    found = (meta.get(MARKER) or {}).get("redacted")
    return dlp.Findings(found).summary() if found else None
