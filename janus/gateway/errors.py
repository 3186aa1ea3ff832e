"""Failures of a tool call that the layer above turns into JSON-RPC errors.

Kept apart from the executor so that importing them does not import requests
(`mcp-gateway -stdio` answers its first tools/list before any HTTP client is needed).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


class UpstreamError(Exception):
    """The upstream could not be reached or did not answer in time.

    The message names the connection; it never holds secrets or query strings.
    kind is one of "timeout", "refused", "dns", "tls", "protocol", "unreachable", "egress", "circuit_open".
    """

    attempts = 1  # requests sent (or tried) for the call, retries included: its audit row records it

    def __init__(self, message: str, *, connection: str, kind: str) -> None:
        super().__init__(message)
        self.connection = connection
        self.kind = kind


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """exc and everything it wraps: urllib3 nests the socket error in
    __cause__, __context__, .reason or args."""
    stack: list[Any] = [exc]
    seen: set[int] = set()
    while stack:
        current = stack.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack.extend((current.__cause__, current.__context__, getattr(current, "reason", None)))
        stack.extend(current.args)
