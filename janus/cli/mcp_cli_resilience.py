"""`mcp-cli connection add|modify` and `endpoint add|modify` flags for upstream resilience (issue 15, item 4):
retries and the circuit breaker per connection, the timeout per endpoint. Range checks are the gateway's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def connection_options(command: F) -> F:
    """--retries, --breaker-threshold and --breaker-cooldown; `connection_fields` turns them into the body."""
    command = click.option(
        "--breaker-cooldown",
        "breaker_cooldown_seconds",
        type=float,
        help="Seconds an open circuit refuses calls before one probe call goes through (default 30).",
    )(command)
    command = click.option(
        "--breaker-threshold",
        "breaker_threshold",
        type=int,
        help="Consecutive failed calls that open the circuit (default 5; 0: no circuit breaker).",
    )(command)
    return click.option(
        "--retries",
        "retries",
        type=int,
        help="Extra attempts for GET, HEAD, PUT and DELETE calls that fail before an answer or get "
        "502/503/504, within the call's timeout (default 0; POST and PATCH are never retried).",
    )(command)


def connection_fields(options: dict[str, Any]) -> dict[str, Any]:
    names = ("retries", "breaker_threshold", "breaker_cooldown_seconds")
    return {name: options[name] for name in names if options.get(name) is not None}


class _Timeout(click.ParamType):
    """Seconds, or '' / 'connection' for "the connection's timeout" (null)."""

    name = "seconds"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value is None or isinstance(value, float):
            return value
        text = str(value).strip()
        if text in ("", "connection"):
            return ""
        try:
            return float(text)
        except ValueError:
            self.fail(f"{value!r} is not a number of seconds (or '' for the connection's timeout)", param, ctx)


def endpoint_option(command: F) -> F:
    return click.option(
        "--timeout",
        "timeout_seconds",
        type=_Timeout(),
        help="Seconds the whole call may take, retries included ('' or 'connection': the connection's timeout).",
    )(command)


def endpoint_fields(timeout: float | str | None) -> dict[str, Any]:
    if timeout is None:
        return {}
    return {"timeout_seconds": None if timeout == "" else timeout}
