"""The JSON-RPC 2.0 envelope: parsing, classification, response builders, serialisation."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from .errors import INTERNAL_ERROR, INVALID_REQUEST, PARSE_ERROR, McpError

JSONRPC_VERSION = "2.0"

logger = logging.getLogger("janus.mcp")


def is_valid_id(value: object) -> bool:
    """MCP request ids are strings or integers; null, floats and booleans are refused.

    `bool` is checked first because it is a subclass of `int` in Python.
    """
    return not isinstance(value, bool) and isinstance(value, (str, int))


def result_response(id: object, result: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": JSONRPC_VERSION, "id": id, "result": result}


def error_response(id: object, code: int, message: str, data: object | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": JSONRPC_VERSION, "id": id, "error": error}


def notification(method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """A server→client notification, e.g. `notification("notifications/tools/list_changed")`."""
    message: dict[str, Any] = {"jsonrpc": JSONRPC_VERSION, "method": method}
    if params is not None:
        message["params"] = params
    return message


def _reject_constant(name: str) -> object:
    # NaN/Infinity are not JSON; Python's decoder accepts them unless told not to.
    raise ValueError(f"non-standard JSON constant {name}")


def parse(raw: str | bytes) -> object:
    """Decode one wire message; anything undecodable becomes PARSE_ERROR."""
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, TypeError, RecursionError):
        # ValueError covers JSONDecodeError and UnicodeDecodeError; RecursionError
        # guards against absurdly nested input.
        raise McpError(PARSE_ERROR, "Parse error") from None


def _dump(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _dump_one(response: dict[str, Any]) -> str:
    try:
        return _dump(response)
    except (TypeError, ValueError, RecursionError):
        # A backend handed back something JSON cannot carry; answer the request
        # with a generic error rather than losing the whole line.
        logger.exception("response for request id %r is not serialisable", response.get("id"))
        return _dump(error_response(response.get("id"), INTERNAL_ERROR, "Internal error"))


def dumps(response: dict[str, Any] | list[dict[str, Any]]) -> str:
    """Compact JSON for the wire; each batch element is serialised on its own so one bad result
    cannot take down its siblings."""
    if isinstance(response, list):
        return "[" + ",".join(_dump_one(item) for item in response) + "]"
    return _dump_one(response)


class InvalidMessage(McpError):
    """An envelope that is not a valid JSON-RPC request; `reply_id` is the id to answer with."""

    def __init__(self, reply_id: object, message: str) -> None:
        super().__init__(INVALID_REQUEST, message)
        self.reply_id = reply_id


@dataclass(frozen=True)
class Incoming:
    """One validated JSON-RPC message from the client."""

    kind: str  # "request", "notification" or "response"
    id: object = None
    method: str = ""
    params: dict[str, Any] | None = None


def classify(message: object) -> Incoming:
    """Validate the envelope of one (non-batch) message.

    Raises InvalidMessage (INVALID_REQUEST) whose `reply_id` is the request's id when it
    could be read, else None as JSON-RPC requires.
    """
    if not isinstance(message, dict):
        raise InvalidMessage(None, "Invalid Request: a message must be a JSON object")
    has_id = "id" in message
    raw_id = message.get("id")
    reply_id = raw_id if has_id and is_valid_id(raw_id) else None
    if "method" not in message and ("result" in message or "error" in message):
        # The core never issues server→client requests, so there is nothing to match;
        # the client's answer is accepted and dropped.
        return Incoming(kind="response", id=raw_id)
    if message.get("jsonrpc") != JSONRPC_VERSION:
        raise InvalidMessage(reply_id, 'Invalid Request: "jsonrpc" must be "2.0"')
    method = message.get("method")
    if not isinstance(method, str):
        raise InvalidMessage(reply_id, 'Invalid Request: "method" must be a string')
    params = message.get("params")
    if not has_id:
        # Notifications are never answered, not even for malformed params.
        return Incoming(kind="notification", method=method, params=params if isinstance(params, dict) else None)
    if reply_id is None:
        raise InvalidMessage(None, 'Invalid Request: "id" must be a string or an integer')
    # An explicit null is read as "no params": several clients send it.
    if params is not None and not isinstance(params, dict):
        raise InvalidMessage(reply_id, 'Invalid Request: "params" must be an object')
    return Incoming(kind="request", id=raw_id, method=method, params=params)
