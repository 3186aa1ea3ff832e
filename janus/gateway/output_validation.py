"""structuredContent checked against the tool's outputSchema, by the tool's policy (issue 15, item 2).

`off`: never checked. `lenient`: a mismatch is logged (where, never the values) and the answer passes;
real APIs drift from their descriptions, and strict-only validation breaks them. `strict`: a mismatch
is a tool error naming the first failing place. The schema is compiled once per tool per catalog
snapshot; a tool without an outputSchema, or with the policy off, costs the call one attribute test.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from janus.gateway.schemas import (
    PatternTimeout,
    SchemaRefused,
    SchemaValidator,
    ValidationProblem,
    argument_errors,
    build_validator,
)
from janus.gateway.specs import ToolSpec

log = logging.getLogger(__name__)

MISMATCH = "output did not match outputSchema"
_lock = threading.Lock()


def needs_check(tool: ToolSpec, result: dict[str, Any]) -> bool:
    return tool.output_schema is not None and tool.output_validation != "off" and not result.get("isError")


def check(
    validators: dict[str, SchemaValidator | str], tool: ToolSpec, result: dict[str, Any]
) -> tuple[dict[str, Any], str | None]:
    """(the result to answer, the audit's note or None). `validators` is the snapshot's cache, by tool name."""
    problem = _problem(validators, tool, result.get("structuredContent"))
    if problem is None:
        return result, None
    note = f"{MISMATCH}: {problem}"
    if tool.output_validation == "strict":
        text = f"Tool '{tool.name}' answered, but its {note}; the answer is withheld (output validation is strict)"
        return {"content": [{"type": "text", "text": text}], "isError": True}, note
    log.warning("tool %s: %s (output validation is lenient: answered anyway)", tool.name, note)
    return result, note


def _problem(validators: dict[str, SchemaValidator | str], tool: ToolSpec, structured: Any) -> str | None:
    if structured is None:
        # The spec: a tool with an outputSchema MUST answer structuredContent (only JSON objects become it).
        return "the upstream's answer is not a JSON object, so there is no structuredContent"
    validator = validators.get(tool.name)
    if validator is None:
        try:
            validator = build_validator(tool.output_schema or {})
        except SchemaRefused as exc:
            log.error("tool %s: its output schema is not usable: %s", tool.name, "; ".join(exc.problems))
            validator = "its outputSchema is not usable (see the gateway log)"
        with _lock:
            validators[tool.name] = validator
    if isinstance(validator, str):
        return validator
    try:
        errors = argument_errors(validator, structured)
    except (PatternTimeout, SchemaRefused) as exc:  # a pattern over budget, an unresolvable reference: no pass
        return f"it could not be checked ({type(exc).__name__})"
    return _where(errors[0]) if errors else None


def _where(error: ValidationProblem) -> str:
    """The first failing place and the keyword it broke; never a value (jsonschema's message quotes them)."""
    path = "/" + "/".join(str(p) for p in error.absolute_path)
    keyword = getattr(error, "validator", None)
    return f"at {path}" + (f" ({keyword})" if isinstance(keyword, str) else "")
