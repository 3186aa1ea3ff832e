"""The portal's form inputs for upstream resilience (issue 15, item 4): retries and the circuit breaker on the
connection form, the timeout on the tool form. The services check the ranges; text that is not a number is
passed on as typed, so the refusal names the field."""

from __future__ import annotations

from typing import Any

from werkzeug.datastructures import MultiDict

from janus.portal.forms import whole_number

CONNECTION_FIELDS = ("retries", "breaker_threshold", "breaker_cooldown_seconds")
ENDPOINT_FIELDS = ("timeout_seconds",)


def _seconds(form: MultiDict[str, str], name: str) -> float | str | None:
    raw = (form.get(name) or "").strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        return raw


def connection_values(form: MultiDict[str, str]) -> dict[str, Any]:
    """The inputs given (an empty one keeps the stored value, or the default on a new connection)."""
    values = {
        "retries": whole_number(form, "retries"),
        "breaker_threshold": whole_number(form, "breaker_threshold"),
        "breaker_cooldown_seconds": _seconds(form, "breaker_cooldown_seconds"),
    }
    return {name: value for name, value in values.items() if value is not None}


def endpoint_values(form: MultiDict[str, str]) -> dict[str, Any]:
    """The tool's timeout; empty: the connection's (null)."""
    return {"timeout_seconds": _seconds(form, "timeout_seconds")}
