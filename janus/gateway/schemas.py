"""Tool input schemas: validators that never fetch, regexes that cannot stall a worker,
and which arguments may reach the upstream (issue 10, items 2, 4 and 14).

Registration (services.endpoints) and every call (catalog → tool_backend) apply the
same rules from here, so a row written before these rules existed is refused at call
time with a tool error instead of being trusted:

* References stay inside the schema. `$ref`, `$dynamicRef` and `$recursiveRef` must be
  same-document ("#/$defs/...", "#anchor", ""), and `$id` may not rename a schema.
  Validators are built on a registry whose retrieval refuses every URI, so even a
  reference that slips past the check (say, behind a pointer into data) fetches nothing.
* `pattern`, `patternProperties` and `additionalProperties` (which consults the
  latter) match with the `regex` engine under one CPU-time budget per call; stdlib
  `re`, which jsonschema uses, cannot be interrupted.
* Only properties the schema declares are arguments; anything else is refused unless
  the schema says `additionalProperties` (true or a schema) explicitly, and nothing may
  override a query parameter the admin fixed in the path template.

jsonschema, referencing and regex are imported on first use: `-stdio` starts without them.
"""

from __future__ import annotations

import contextvars
import functools
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, Protocol
from urllib.parse import unquote

from janus.gateway.templating import fixed_query_names, placeholders

if TYPE_CHECKING:
    from referencing.jsonschema import SchemaRegistry

# CPU seconds of regex matching one call's validation may use. CPU, not wall-clock: the regex engine's
# own timeout counts CPU time, and that is what a stalled gevent worker loses; a loaded machine then
# does not refuse calls that an idle one accepts. Validation never yields, so the thread's CPU is the call's.
DEFAULT_PATTERN_BUDGET = 0.1
MAX_PATTERN_LENGTH = 1000
REFERENCE_KEYWORDS = ("$ref", "$dynamicRef", "$recursiveRef")
# Keywords whose values are instance data, not schemas: a "$ref" key inside them is just data.
_DATA_KEYWORDS = frozenset({"const", "enum", "default", "examples"})
# Keywords whose values map names (of properties, definitions) to schemas: the keys are not keywords.
_NAME_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas", "dependencies"})
_OLD_DRAFTS = ("draft-03", "draft-04")  # their identifier keyword is `id`, not `$id`
_MAX_LISTED = 10  # argument names quoted back in one error


class SchemaRefused(Exception):
    """A tool's input schema cannot be used safely. `problems` are for the admin; the
    caller of the tool gets only the fact (the schema is the admin's, not theirs)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class PatternTimeout(Exception):
    """Matching the schema's regexes used up the call's time budget."""

    def __init__(self, pattern: str) -> None:
        super().__init__(f"pattern {pattern[:100]!r} ran out of time")
        self.pattern = pattern


# ---------------------------------------------------------------------------
# What a schema may contain
# ---------------------------------------------------------------------------


def _schema_nodes(schema: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every object in schema position with its JSON-pointer-ish location; iterative, so a
    deeply nested schema cannot exhaust the stack."""
    stack: list[tuple[str, Any]] = [("", schema)]
    while stack:
        where, node = stack.pop()
        if isinstance(node, list):
            stack.extend((f"{where}/{i}", item) for i, item in enumerate(node))
        elif isinstance(node, dict):
            yield where, node
            for key, value in node.items():
                if key in _DATA_KEYWORDS:
                    continue
                if key in _NAME_MAPS and isinstance(value, dict):
                    stack.extend((f"{where}/{key}/{name}", sub) for name, sub in value.items())
                else:
                    stack.append((f"{where}/{key}", value))


def _is_local(reference: str) -> bool:
    return reference == "" or reference.startswith("#")


class _Compiled(Protocol):
    """What Janus uses of a compiled `regex` pattern (regex ships no type information)."""

    def search(self, string: str, *, timeout: float) -> object | None: ...


class SchemaValidator(Protocol):
    """What Janus uses of a jsonschema validator (jsonschema ships no type information)."""

    def iter_errors(self, instance: object) -> Iterator[ValidationProblem]: ...


class ValidationProblem(Protocol):
    """What Janus reads of a jsonschema ValidationError."""

    message: str
    absolute_path: Sequence[str | int]


class _Descending(Protocol):
    """What a keyword function uses of the jsonschema validator that calls it."""

    def is_type(self, instance: object, type: str) -> bool: ...

    def descend(
        self, instance: object, schema: object, path: str | int | None = None, schema_path: str | int | None = None
    ) -> Iterator[ValidationProblem]: ...


@functools.lru_cache(maxsize=2048)
def _compiled(pattern: str) -> _Compiled:
    import regex

    compiled: _Compiled = regex.compile(pattern)
    return compiled


def _pattern_problem(pattern: str, where: str) -> str | None:
    if len(pattern) > MAX_PATTERN_LENGTH:
        return f"pattern at {where} is {len(pattern)} characters long; at most {MAX_PATTERN_LENGTH} are accepted"
    import regex

    try:
        _compiled(pattern)
    except (regex.error, RecursionError, OverflowError) as exc:
        return f"pattern {pattern[:100]!r} at {where} is not a valid regular expression: {exc}"
    return None


def schema_problems(schema: Any) -> list[str]:
    """Why this schema may not be used for a tool, or [] (assumes a JSON object)."""
    if not isinstance(schema, dict):
        return ["input schema must be a JSON object"]
    problems: list[str] = []
    dialect = schema.get("$schema")
    if dialect is not None:
        from jsonschema.validators import validator_for

        if not isinstance(dialect, str) or validator_for(schema, default=None) is None:
            problems.append(
                f"$schema {str(dialect)[:200]!r} is not a JSON Schema dialect Janus knows "
                "(drafts 3, 4, 6, 7, 2019-09 and 2020-12)"
            )
    id_keywords = ("$id", "id") if isinstance(dialect, str) and any(d in dialect for d in _OLD_DRAFTS) else ("$id",)
    has_unevaluated = has_patterns = False
    for where, node in _schema_nodes(schema):
        at = where or "/"
        for keyword in REFERENCE_KEYWORDS:
            value = node.get(keyword)
            if isinstance(value, str) and not _is_local(value):
                problems.append(
                    f"{keyword} {value[:200]!r} at {at} points outside the schema; only references "
                    "within it (such as '#/$defs/name') are allowed, Janus never fetches schemas"
                )
        for keyword in id_keywords:
            value = node.get(keyword)
            if isinstance(value, str) and not _is_local(value):
                problems.append(
                    f"{keyword} {value[:200]!r} at {at} is not allowed: it changes what references "
                    "resolve against; keep definitions in $defs and refer to them as '#/$defs/name'"
                )
        pattern = node.get("pattern")
        if isinstance(pattern, str):
            problem = _pattern_problem(pattern, f"{where}/pattern")
            if problem:
                problems.append(problem)
        pattern_map = node.get("patternProperties")
        if isinstance(pattern_map, dict) and pattern_map:
            has_patterns = True
            for key in pattern_map:
                problem = _pattern_problem(key, f"{where}/patternProperties")
                if problem:
                    problems.append(problem)
        has_unevaluated = has_unevaluated or "unevaluatedProperties" in node
    problems.extend(_mirrored_header_problems(schema))
    if has_unevaluated and has_patterns:
        # jsonschema evaluates unevaluatedProperties with stdlib `re` over patternProperties,
        # beyond the reach of the time budget.
        problems.append(
            "unevaluatedProperties cannot be combined with patternProperties in a tool schema; "
            "use additionalProperties instead"
        )
    return problems


X_MCP_HEADER = "x-mcp-header"
# RFC 9110 field-name tokens (1*tchar) less "_": gunicorn drops request headers holding an
# underscore (they could be confused with a hyphenated twin), so such a header never arrives.
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^`|~0-9A-Za-z]+")
_MIRRORABLE_TYPES = ("string", "integer", "boolean")


def _mirrored_header_problems(schema: dict[str, Any]) -> list[str]:
    """SEP-2243's rules for `x-mcp-header` (2026-07-28, Streamable HTTP "Custom Headers from Tool
    Parameters"), checked when the endpoint is saved rather than discovered by every client: a
    non-empty token, unique in any letter case, on a top-level property of type string, integer or
    boolean. (The spec allows deeper `properties` chains; Janus mirrors top-level parameters only,
    so a mark anywhere else would be silently ignored and is refused instead.)"""
    problems: list[str] = []
    properties = schema.get("properties")
    top = properties if isinstance(properties, dict) else {}
    seen: dict[str, str] = {}
    for where, node in _schema_nodes(schema):
        if X_MCP_HEADER not in node:
            continue
        at = where or "/"
        value = node[X_MCP_HEADER]
        parent, _, name = where.rpartition("/")
        if parent != "/properties" or top.get(name) is not node:
            problems.append(
                f"{X_MCP_HEADER} at {at} is not on a top-level property; Janus mirrors only "
                "parameters directly under the schema's properties"
            )
            continue
        if not isinstance(value, str) or not _HEADER_NAME.fullmatch(value):
            problems.append(
                f"{X_MCP_HEADER} {str(value)[:100]!r} at {at} must be a non-empty HTTP header name "
                "token (letters, digits and !#$%&'*+-.^`|~; no spaces, underscores or control "
                "characters)"
            )
            continue
        kind = node.get("type")
        if kind not in _MIRRORABLE_TYPES:
            problems.append(
                f"{X_MCP_HEADER} at {at} marks a parameter of type {kind!r}; only string, integer "
                "and boolean parameters can be mirrored into a header"
            )
        folded = value.lower()
        if folded in seen:
            problems.append(
                f"{X_MCP_HEADER} {value!r} at {at} repeats the one on '{seen[folded]}' (header names "
                "are compared in any letter case)"
            )
        else:
            seen[folded] = name
    return problems


# ---------------------------------------------------------------------------
# Validators
# ---------------------------------------------------------------------------

_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("janus_pattern_deadline", default=None)


def _matches(pattern: str, text: str) -> bool:
    deadline = _DEADLINE.get()
    remaining = DEFAULT_PATTERN_BUDGET if deadline is None else deadline - time.thread_time()
    if remaining <= 0:
        raise PatternTimeout(pattern)
    try:
        return _compiled(pattern).search(text, timeout=remaining) is not None
    except TimeoutError:
        raise PatternTimeout(pattern) from None


def _pattern(
    validator: _Descending, pattern: str, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationProblem]:
    if validator.is_type(instance, "string") and not _matches(pattern, instance):
        from jsonschema.exceptions import ValidationError

        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(
    validator: _Descending, pattern_map: Mapping[str, Any], instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationProblem]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in pattern_map.items():
        for key, value in instance.items():
            if _matches(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(
    validator: _Descending, additional: Any, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationProblem]:
    if not validator.is_type(instance, "object"):
        return
    declared = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    extras = [key for key in instance if key not in declared and not any(_matches(p, key) for p in patterns)]
    if validator.is_type(additional, "object"):
        for key in extras:
            yield from validator.descend(instance[key], additional, path=key)
    elif additional is False and extras:
        from jsonschema.exceptions import ValidationError

        names = ", ".join(repr(k) for k in sorted(extras)[:_MAX_LISTED])
        yield ValidationError(f"additional properties are not allowed ({names} unexpected)")


@functools.cache
def _bounded(base: type) -> Callable[..., SchemaValidator]:
    """The dialect's validator class with its regex keywords under the time budget."""
    from jsonschema.validators import extend

    bounded: Callable[..., SchemaValidator] = extend(
        base,
        validators={
            "pattern": _pattern,
            "patternProperties": _pattern_properties,
            "additionalProperties": _additional_properties,
        },
    )
    return bounded


def _refuse(uri: str) -> NoReturn:
    from referencing.exceptions import NoSuchResource

    # referencing's attrs classes are typed through a pre-PEP 681 `__dataclass_transform__`
    # stub that mypy does not read, so their generated __init__ is unknown to it.
    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]


# referencing's Unresolvable, bound when the first validator is built: no import on the per-call path.
_UNRESOLVABLE: tuple[type[BaseException], ...] = ()


@functools.lru_cache(maxsize=1)
def _offline_registry() -> SchemaRegistry:
    global _UNRESOLVABLE
    from referencing import Registry
    from referencing.exceptions import Unresolvable

    _UNRESOLVABLE = (Unresolvable,)
    return Registry(retrieve=_refuse)  # type: ignore[call-arg]  # attrs __init__ unknown to mypy: see _refuse


def build_validator(schema: dict[str, Any]) -> SchemaValidator:
    """A validator for a tool's arguments; raises SchemaRefused for an unsafe schema."""
    problems = schema_problems(schema)
    if problems:
        raise SchemaRefused(problems)
    from jsonschema.validators import validator_for

    base = validator_for(schema)
    return _bounded(base)(schema, registry=_offline_registry(), format_checker=base.FORMAT_CHECKER)


def argument_errors(
    validator: SchemaValidator, arguments: Any, budget: float = DEFAULT_PATTERN_BUDGET
) -> list[ValidationProblem]:
    """The validation errors, sorted by where they are. Raises PatternTimeout when the regexes
    used up `budget` CPU seconds, and SchemaRefused when a reference cannot be resolved locally."""
    token = _DEADLINE.set(time.thread_time() + budget)
    try:
        return sorted(validator.iter_errors(arguments), key=lambda e: [str(p) for p in e.absolute_path])
    except _UNRESOLVABLE as exc:
        raise SchemaRefused(
            [
                f"reference {str(getattr(exc, 'ref', ''))[:200]!r} cannot be resolved "
                "within the schema (Janus never fetches schemas)"
            ]
        ) from None
    finally:
        _DEADLINE.reset(token)


# ---------------------------------------------------------------------------
# Which arguments go upstream
# ---------------------------------------------------------------------------


def _pointer(schema: Mapping[str, Any], reference: str) -> Any:
    node: Any = schema
    for raw in reference[2:].split("/") if reference.startswith("#/") else []:
        part = unquote(raw).replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def declared_names(schema: Mapping[str, Any]) -> frozenset[str]:
    """The property names the schema declares at its root, through allOf/anyOf/oneOf and local $refs."""
    names: set[str] = set()
    pending: list[Any] = [schema]
    visited = 0
    while pending and visited < 256:  # bounded: $refs may form a cycle
        node = pending.pop()
        visited += 1
        if not isinstance(node, dict):
            continue
        if isinstance(node.get("properties"), dict):
            names.update(node["properties"])
        reference = node.get("$ref")
        if isinstance(reference, str) and reference.startswith("#/"):
            pending.append(_pointer(schema, reference))
        for keyword in ("allOf", "anyOf", "oneOf"):
            if isinstance(node.get(keyword), list):
                pending.extend(node[keyword])
    return frozenset(names)


def _listed(names: list[str]) -> str:
    shown = ", ".join(repr(n[:64]) for n in names[:_MAX_LISTED])
    return shown + (f" and {len(names) - _MAX_LISTED} more" if len(names) > _MAX_LISTED else "")


@dataclass(frozen=True)
class ArgumentRules:
    """Which argument names a tool accepts; built once per tool per catalog snapshot."""

    declared: frozenset[str]
    extras_allowed: bool  # the schema says additionalProperties: true or a schema, explicitly
    fixed: frozenset[str]  # casefolded query names fixed by the path template
    in_path: frozenset[str]  # path placeholders: consumed by the path, so they cannot collide

    @classmethod
    def of(cls, schema: Mapping[str, Any], path_template: str) -> ArgumentRules:
        additional = schema.get("additionalProperties")
        in_path = frozenset(placeholders(path_template))
        # A path placeholder is an argument wherever the schema is silent: the path consumes it.
        return cls(
            declared=declared_names(schema) | in_path,
            extras_allowed=additional is True or isinstance(additional, dict),
            fixed=fixed_query_names(path_template),
            in_path=in_path,
        )

    def refusal(self, arguments: Mapping[str, Any]) -> str | None:
        """Why these argument names are refused, in words for the caller, or None."""
        if not self.extras_allowed:
            undeclared = sorted(k for k in arguments if k not in self.declared)
            if undeclared:
                accepted = ", ".join(sorted(self.declared)[:20]) or "no arguments"
                return (
                    f"{_listed(undeclared)} {'is not an argument' if len(undeclared) == 1 else 'are not arguments'}"
                    f" of this tool (it accepts: {accepted})"
                )
        if self.fixed:
            overriding = sorted(k for k in arguments if k.casefold() in self.fixed and k not in self.in_path)
            if overriding:
                return (
                    f"{_listed(overriding)} {'is' if len(overriding) == 1 else 'are'} fixed by the tool's "
                    "definition and cannot be set"
                )
        return None
