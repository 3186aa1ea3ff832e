"""Path and body templates: tool arguments → an upstream path and JSON body.

Both renderers sit on the per-call hot path, so a template string is parsed
once (``lru_cache``) into a small compiled form and each call only walks it.

Safety rules, because arguments come from an MCP client we do not trust:

* A path value becomes exactly one percent-encoded path segment; it can never
  add segments, a query, a fragment, or change scheme or host.
* A body is filled on the parsed JSON structure, never by pasting text into
  JSON, so no value can inject JSON structure.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, unquote_plus

logger = logging.getLogger(__name__)

_NAME = r"[A-Za-z_][A-Za-z0-9_\-]*"
# `{{ name }}` is the reference product's syntax; `{name}` is the OpenAPI one.
_PATH_PLACEHOLDER = re.compile(r"\{\{\s*(" + _NAME + r")\s*\}\}|\{(" + _NAME + r")\}")
_BODY_PLACEHOLDER = re.compile(r"\{\{\s*(" + _NAME + r")\s*\}\}")
_ANY_DOUBLE_BRACES = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)

_DOT_SEGMENTS = frozenset({".", ".."})
_JSON_TYPE_NAMES = {dict: "an object", list: "an array", type(None): "null"}


class ArgumentError(Exception):
    """A tool argument cannot be used as given (missing, or would change the route).

    The message is safe to show to the MCP client; it names the parameter.
    """

    def __init__(self, message: str, parameter: str | None = None) -> None:
        super().__init__(message)
        self.parameter = parameter


class TemplateError(ValueError):
    """An admin-written template is malformed (not the caller's fault)."""


# ---------------------------------------------------------------------------
# Path templates
# ---------------------------------------------------------------------------

# A compiled path: literal strings and placeholder names (wrapped in a
# 1-tuple so the two cannot be confused).
_Part = str | tuple[str]


@functools.lru_cache(maxsize=1024)
def _compile_path(template: str) -> tuple[_Part, ...]:
    parts: list[_Part] = []
    pos = 0
    for match in _PATH_PLACEHOLDER.finditer(template):
        if match.start() > pos:
            parts.append(template[pos : match.start()])
        parts.append((match.group(1) or match.group(2),))
        pos = match.end()
    if pos < len(template):
        parts.append(template[pos:])
    return tuple(parts)


def _scalar_text(name: str, value: Any, kind: str) -> str:
    """The text of a scalar argument as JSON would write it (true, 3, 2.5)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise ArgumentError(f"{kind} parameter '{name}' must be a finite number", name)
        return json.dumps(value)
    type_name = _JSON_TYPE_NAMES.get(type(value))
    if type_name is None and isinstance(value, (Mapping, list, tuple)):
        type_name = "an object" if isinstance(value, Mapping) else "an array"
    if type_name is not None:
        raise ArgumentError(
            f"{kind} parameter '{name}' must be a string, number or boolean, not {type_name}",
            name,
        )
    return str(value)


def _segment_value(name: str, value: Any) -> str:
    text = _scalar_text(name, value, "path")
    if text == "":
        raise ArgumentError(f"path parameter '{name}' must not be empty", name)
    if text in _DOT_SEGMENTS:
        raise ArgumentError(f"path parameter '{name}' must not be '.' or '..' (it would change the route)", name)
    # safe="" encodes "/", "?", "#", "%", ":" and every non-ASCII or control
    # character (as UTF-8), so the value stays inside one segment.
    return quote(text, safe="")


def render_path(template: str, arguments: Mapping[str, Any]) -> tuple[str, frozenset[str]]:
    """Fill a path template; return the path and the argument names it consumed.

    Every value is non-empty, not "." or "..", and has "/" encoded, so no
    value alone or beside a literal can form a new or a dot segment.
    """
    texts: list[str] = []
    used: set[str] = set()
    for part in _compile_path(template):
        if isinstance(part, str):
            texts.append(part)
            continue
        name = part[0]
        if name not in arguments:
            raise ArgumentError(f"missing required path parameter '{name}'", name)
        texts.append(_segment_value(name, arguments[name]))
        used.add(name)
    return "".join(texts), frozenset(used)


@functools.lru_cache(maxsize=1024)
def fixed_query_names(template: str) -> frozenset[str]:
    """Names of the query parameters the admin wrote into a path template (`?scope=public`),
    casefolded: no argument may add a second value for one of them, in any letter case, since
    some upstream frameworks take the last value and some ignore case."""
    if "?" not in template:
        return frozenset()
    query = template.split("?", 1)[1].split("#", 1)[0]
    names = (unquote_plus(pair.split("=", 1)[0]) for pair in query.split("&"))
    return frozenset(name.casefold() for name in names if name)


# ---------------------------------------------------------------------------
# Body templates
# ---------------------------------------------------------------------------

_Render = Callable[[Mapping[str, Any]], Any]


def _body_argument(arguments: Mapping[str, Any], name: str) -> Any:
    try:
        return arguments[name]
    except KeyError:
        raise ArgumentError(f"missing required body parameter '{name}'", name) from None


def _text_of(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _compile_string(text: str, names: list[str]) -> _Render | None:
    """A renderer for a JSON string holding placeholders, or None for a literal."""
    whole = _BODY_PLACEHOLDER.fullmatch(text)
    if whole:
        name = whole.group(1)
        names.append(name)
        return lambda args: _body_argument(args, name)
    matches = list(_BODY_PLACEHOLDER.finditer(text))
    if not matches:
        return None
    pieces: list[str | tuple[str]] = []
    pos = 0
    for match in matches:
        pieces.append(text[pos : match.start()])
        pieces.append((match.group(1),))
        names.append(match.group(1))
        pos = match.end()
    pieces.append(text[pos:])
    frozen = tuple(pieces)

    def render(args: Mapping[str, Any]) -> str:
        return "".join(p if isinstance(p, str) else _text_of(_body_argument(args, p[0])) for p in frozen)

    return render


def _compile_node(node: Any, names: list[str]) -> _Render:
    if isinstance(node, str):
        string_render = _compile_string(node, names)
        if string_render is not None:
            return string_render
    if isinstance(node, dict):
        # Keys are never templated: a key placeholder could collide or inject.
        items = tuple((key, _compile_node(value, names)) for key, value in node.items())
        return lambda args: {key: render(args) for key, render in items}
    if isinstance(node, list):
        elements = tuple(_compile_node(value, names) for value in node)
        return lambda args: [render(args) for render in elements]
    return lambda args: node  # str/number/bool/None are immutable


def _quote_bare_placeholders(text: str) -> tuple[str, list[tuple[int, int, int, int]]]:
    """Turn `{{n}}` outside JSON strings into `"{{n}}"` so the text parses.

    Returns the new text and, per replacement, its (new_start, new_end,
    old_start, old_end) so parse errors point at the admin's own text.
    """
    out: list[str] = []
    spans: list[tuple[int, int, int, int]] = []
    i = last = 0
    new_len = 0
    in_string = False
    n = len(text)
    while i < n:
        char = text[i]
        if in_string:
            if char == "\\":
                i += 2
                continue
            if char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "{" and text.startswith("{{", i):
            match = _BODY_PLACEHOLDER.match(text, i)
            if match:
                out.append(text[last:i])
                new_len += i - last
                replacement = '"{{' + match.group(1) + '}}"'
                out.append(replacement)
                spans.append((new_len, new_len + len(replacement), i, match.end()))
                new_len += len(replacement)
                i = last = match.end()
                continue
        i += 1
    out.append(text[last:])
    return "".join(out), spans


def _original_position(pos: int, spans: list[tuple[int, int, int, int]]) -> int:
    shift = 0
    for new_start, new_end, old_start, old_end in spans:
        if pos < new_start:
            break
        if pos < new_end:
            return old_start
        shift = new_end - old_end
    return pos - shift


@functools.lru_cache(maxsize=1024)
def _compile_body(template: str) -> tuple[_Render, tuple[str, ...]]:
    text, spans = _quote_bare_placeholders(template)
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        pos = _original_position(exc.pos, spans)
        line = template.count("\n", 0, pos) + 1
        column = pos - (template.rfind("\n", 0, pos) + 1) + 1
        raise TemplateError(
            f"body template is not valid JSON: {exc.msg} at line {line} column {column} (char {pos})"
        ) from None
    names: list[str] = []
    render = _compile_node(parsed, names)
    return render, tuple(dict.fromkeys(names))


def render_body(template: str, arguments: Mapping[str, Any]) -> tuple[object, frozenset[str]]:
    """Fill a JSON body template; return the body object and the names consumed.

    Raises TemplateError (a ValueError) for a malformed template and
    ArgumentError for a missing argument.
    """
    render, names = _compile_body(template)
    return render(arguments), frozenset(names)


def validate_body_template(template: str) -> list[str]:
    """Every problem an admin should fix in a body template; [] when it is fine."""
    try:
        _, names = _compile_body(template)
    except TemplateError as exc:
        return [str(exc)]
    errors: list[str] = []
    for match in _ANY_DOUBLE_BRACES.finditer(template):
        if not _BODY_PLACEHOLDER.fullmatch(match.group(0)):
            errors.append(
                f"placeholder '{match.group(0)}' is not a valid name "
                "(letters, digits, '_' or '-', not starting with a digit)"
            )
    used = set(names)
    for match in _BODY_PLACEHOLDER.finditer(template):
        if match.group(1) not in used:
            errors.append(f"placeholder '{match.group(0)}' is in an object key; keys are not templated")
    return errors


def placeholders(template: str, *, kind: str = "path") -> list[str]:
    """Placeholder names in order of first appearance.

    kind="path" finds `{{name}}` and `{name}`; kind="body" finds `{{name}}`
    inside strings and bare, and only where render_body will fill them.
    """
    if kind == "path":
        found = (m.group(1) or m.group(2) for m in _PATH_PLACEHOLDER.finditer(template))
        return list(dict.fromkeys(found))
    if kind == "body":
        try:
            return list(_compile_body(template)[1])
        except TemplateError:
            # Still useful to an editor while the JSON is half-typed.
            return list(dict.fromkeys(m.group(1) for m in _BODY_PLACEHOLDER.finditer(template)))
    raise ValueError(f"unknown template kind {kind!r}; expected 'path' or 'body'")
