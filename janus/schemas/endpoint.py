"""An endpoint: one REST operation of a connection, exposed as an MCP tool named prefix + tool_name.

Rules that need the connection or the other endpoints (the full name's length, uniqueness, path
placeholders against the schema, a body only with POST/PUT/PATCH) stay in janus.services.endpoints.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Annotated, Any

from pydantic import Field, ValidationInfo

from janus.gateway import header_params as header_rules
from janus.gateway.schemas import schema_problems
from janus.gateway.specs import HTTP_METHODS
from janus.gateway.tool_metadata import ANNOTATION_HINTS, OUTPUT_POLICIES
from janus.schemas import shaping
from janus.schemas.base import WHEN, Resource, View, read_model, update_model
from janus.schemas.fields import Choice, Flag, Number, Rules, Text, refuse, storable

TOOL_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
MAX_TOOL_NAME = 128  # MCP clients reject longer names
MAX_SCHEMA_BYTES = 64 * 1024
MAX_BODY_TEMPLATE = 100_000
EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}
MAX_TITLE = 200


def check_path(path: str) -> str:
    if not path.startswith("/"):
        raise refuse(f"path {path!r} must start with '/'")
    return path


def check_input_schema(raw: Any) -> dict[str, Any]:
    """A JSON Schema object (or its JSON text) for a tool's arguments; null is the empty object schema."""
    if raw is None:
        return dict(EMPTY_SCHEMA)
    return check_schema(raw, "input schema")


def check_schema(raw: Any, what: str) -> dict[str, Any]:
    """A tool's object JSON Schema (or its JSON text), refused with messages that start with `what`."""
    # Checked before parsing: meta-validating a megabyte schema holds a worker for seconds, and the
    # portal re-checks as the admin types. Real tool schemas are a few kilobytes.
    size = len(raw.encode("utf-8", "replace")) if isinstance(raw, str) else _json_size(raw)
    if size > MAX_SCHEMA_BYTES:
        raise refuse(f"{what} is {size // 1024} KiB; at most {MAX_SCHEMA_BYTES // 1024} KiB is accepted")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise refuse(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise refuse(f"{what} must be a JSON object")
    if raw.get("type") != "object":
        raise refuse(f'{what} must have "type": "object" at its root (MCP tool {what.split()[0]}s are objects)')
    # First: an unknown $schema must not reach validator_for (it guesses a dialect), and a remote
    # reference is refused whatever else is wrong (issue 10, items 2 and 14).
    problems = schema_problems(raw)
    if problems:
        raise refuse(f"{what} is refused: " + "; ".join(problems[:5]))
    try:
        text = json.dumps(raw, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError):
        text = None
    problem = _meta_problem(text) if text is not None else _meta_check(raw)
    if problem:
        raise refuse(f"{what} {problem}")
    return raw


# Meta-schema verdicts by the SHA-256 of the schema's canonical text (a digest, not the text: a schema may be
# 64 KiB). Sized for the largest imports: GitHub's description has ~1,000 distinct input and output schemas,
# each checked when converted and again when applied; at 1,024 texts the old cache evicted them in between.
_META_VERDICTS: dict[str, str | None] = {}
MAX_META_VERDICTS = 8192


def _meta_problem(text: str) -> str | None:
    """The meta-schema check, remembered per schema text: it costs milliseconds (2020-12's dynamic
    references), and an OpenAPI import of a large API validates hundreds of identical schemas."""
    key = hashlib.sha256(text.encode()).hexdigest()
    if key in _META_VERDICTS:
        return _META_VERDICTS[key]
    problem = _meta_check(json.loads(text))
    if len(_META_VERDICTS) >= MAX_META_VERDICTS:
        _META_VERDICTS.pop(next(iter(_META_VERDICTS), key), None)  # the oldest (dicts keep insertion order)
    _META_VERDICTS[key] = problem
    return problem


def _meta_check(raw: dict[str, Any]) -> str | None:
    import jsonschema_rs
    from jsonschema.exceptions import SchemaError
    from jsonschema.validators import validator_for

    # The verdict from jsonschema-rs (the same official meta-schemas, ~400x faster: GitHub's description's
    # 313 distinct schemas in 12 ms instead of 5.4 s); the message, for the rare refused one, from the
    # jsonschema that validates the arguments at call time, so what a refusal says matches the call path.
    try:
        valid = jsonschema_rs.meta.is_valid(raw)
    except Exception:  # noqa: BLE001 - a dialect or construct it cannot judge: the full check decides
        valid = False
    if valid:
        return None
    try:
        validator_for(raw).check_schema(raw)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path)
        return f"is not a valid JSON Schema: {exc.message}" + (f" (at {where})" if where else "")
    except RecursionError:
        return "is nested too deeply"
    return None


def _json_size(value: Any) -> int:
    try:
        return len(json.dumps(value, separators=(",", ":")))
    except (TypeError, ValueError, RecursionError):
        return 0  # not JSON at all: the checks above say why


def check_body_template(raw: Any) -> str | None:
    """JSON text with {{name}} placeholders; a JSON object or array is taken as its text; null or "" is none."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, (dict, list)):
        return json.dumps(raw)
    if not isinstance(raw, str):
        raise refuse("body template must be a JSON text")
    if len(raw) > MAX_BODY_TEMPLATE:
        raise refuse(f"body template must be at most {MAX_BODY_TEMPLATE} characters")
    return storable("body template", raw)


def check_output_schema(raw: Any) -> dict[str, Any] | None:
    """The JSON Schema (or its JSON text) of a tool's structuredContent; null or "" is none."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    return check_schema(raw, "output schema")


def check_annotations(raw: Any) -> dict[str, bool] | None:
    """The admin's hints: an object (or its JSON text) of the MCP hint names, each true, false or null
    (null: derived from the method). Only explicit hints are kept; none at all is null."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise refuse(f"annotations are not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise refuse('annotations must be a JSON object of hints, e.g. {"readOnlyHint": true}')
    unknown = sorted(str(k) for k in raw if k not in ANNOTATION_HINTS)
    if unknown:
        raise refuse(f"annotation {unknown[0][:64]!r} is unknown; expected {', '.join(ANNOTATION_HINTS)}")
    kept: dict[str, bool] = {}
    for hint in ANNOTATION_HINTS:
        value = raw.get(hint)
        if value is not None and not isinstance(value, bool):
            raise refuse(f"annotation {hint} must be true, false or null (derived from the method)")
        if value is not None:
            kept[hint] = value
    return kept or None


def check_header_params(raw: Any) -> list[dict[str, str]] | None:
    """Header parameters (janus/gateway/header_params.py): a list (or its JSON text); null or [] is none."""
    if isinstance(raw, str):
        if not raw.strip():
            return None
        try:
            raw = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise refuse(f"header parameters are not valid JSON: {exc}") from None
    try:
        return header_rules.check_header_params(raw)
    except header_rules.HeaderParamError as exc:
        raise refuse(str(exc)) from None


def _header_params(value: Any, info: ValidationInfo) -> list[dict[str, str]] | None:
    return check_header_params(value)


def _annotations(value: Any, info: ValidationInfo) -> dict[str, bool] | None:
    return check_annotations(value)


def _output_schema(value: Any, info: ValidationInfo) -> dict[str, Any] | None:
    return check_output_schema(value)


def _input_schema(value: Any, info: ValidationInfo) -> dict[str, Any]:
    return check_input_schema(value)


def _body_template(value: Any, info: ValidationInfo) -> str | None:
    return check_body_template(value)


class EndpointCreate(Resource):
    """A REST operation of a connection exposed as an MCP tool."""

    connection_id: Annotated[str, Text(64, min_len=1, description="The connection whose API this calls.")]
    tool_name: Annotated[
        str,
        Text(
            MAX_TOOL_NAME,
            min_len=1,
            pattern=TOOL_NAME_RE,
            description="Tool name after the connection's prefix; the whole name is at most "
            f"{MAX_TOOL_NAME} characters.",
        ),
    ]
    description: Annotated[str, Text(8000, nullable=True, null_value="")] = ""
    method: Annotated[str, Choice(HTTP_METHODS, upper=True)] = "GET"
    path_template: Annotated[
        str,
        Text(
            2048,
            min_len=1,
            check=check_path,
            pattern=re.compile("^/"),
            description="e.g. /users/{{user_id}} (or /users/{user_id}); each placeholder must be a required property of input_schema.",
        ),
    ]
    input_schema: Annotated[
        dict[str, Any],
        Rules(
            _input_schema,
            {"type": ["object", "null"], "additionalProperties": True},
            'JSON Schema of the tool arguments; root "type": "object". null: no arguments.',
        ),
    ] = None  # type: ignore[assignment]  # validated: null becomes the empty object schema
    body_template: Annotated[
        str | None,
        Rules(
            _body_template,
            {"type": ["string", "null"], "maxLength": MAX_BODY_TEMPLATE},
            "JSON text with {{name}} placeholders (POST, PUT, PATCH only); a JSON object is accepted too.",
        ),
    ] = None
    enabled: Annotated[bool, Flag()] = True
    # Tool metadata (issue 15, item 2; janus/gateway/tool_metadata.py)
    title: Annotated[
        str | None,
        Text(
            MAX_TITLE,
            nullable=True,
            blank_is_null=True,
            description="A human-readable name shown by MCP clients; null: none (clients show the tool name).",
        ),
    ] = None
    annotations: Annotated[
        dict[str, bool] | None,
        Rules(
            _annotations,
            {
                "type": ["object", "null"],
                "properties": {hint: {"type": ["boolean", "null"]} for hint in ANNOTATION_HINTS},
                "additionalProperties": False,
            },
            "MCP tool annotations (hints for clients): readOnlyHint, destructiveHint, idempotentHint, "
            "openWorldHint. A hint left out (or null) is derived from the HTTP method.",
        ),
    ] = None
    output_schema: Annotated[
        dict[str, Any] | None,
        Rules(
            _output_schema,
            {"type": ["object", "null"], "additionalProperties": True},
            'JSON Schema of the tool\'s structuredContent; root "type": "object". null: none.',
        ),
    ] = None
    output_validation: Annotated[
        str,
        Choice(
            OUTPUT_POLICIES,
            description="How structuredContent is checked against output_schema: off, lenient (log and "
            "pass) or strict (a mismatch is a tool error).",
        ),
    ] = "lenient"
    # upstream resilience (issue 15, item 4)
    timeout_seconds: Annotated[
        float | None,
        Number(
            0.1,
            600,
            "Seconds the whole call may take, retries included; null: the connection's timeout.",
            nullable=True,
        ),
    ] = None
    # Response shaping (janus/gateway/shaping.py, janus/schemas/shaping.py).
    response_projection: Annotated[str | None, shaping.PROJECTION] = None
    max_items: Annotated[int | None, shaping.ITEMS] = None
    max_text_chars: Annotated[int | None, shaping.TEXT_CHARS] = None
    render_table: Annotated[
        bool, Flag("Show an answer that is an array of objects as a Markdown table (structuredContent keeps the data).")
    ] = False
    # Header parameters (janus/gateway/header_params.py)
    header_params: Annotated[
        list[dict[str, str]] | None,
        Rules(
            _header_params,
            {
                "type": ["array", "null"],
                "maxItems": header_rules.MAX_HEADER_PARAMS,
                "items": {
                    "type": "object",
                    "properties": {
                        "argument": {"type": "string", "pattern": header_rules.ARGUMENT_NAME_RE.pattern},
                        "header": {"type": "string", "pattern": header_rules.HEADER_NAME_RE.pattern},
                        "value": {"type": "string", "maxLength": header_rules.MAX_HEADER_VALUE},
                    },
                    "required": ["header"],
                    "additionalProperties": False,
                },
            },
            "Request headers of each call: {argument, header} sends the tool argument (a property of "
            "input_schema; string, number or boolean) as that header and not in the query or body; "
            "{header, value} sends a fixed value. Credentials, framing and content-negotiation headers "
            "(Authorization, Cookie, Host, Content-Length, Content-Type, Accept…) and the connection's own "
            "auth headers are refused. null: none.",
        ),
    ] = None


EndpointUpdate = update_model(
    EndpointCreate, "EndpointUpdate", "A change to an endpoint: the fields sent.", exclude=("connection_id",)
)

Endpoint = read_model(
    EndpointCreate,
    "Endpoint",
    "An endpoint as stored, with its connection's name and the tool's full (exposed) name.",
    connection_name=(str, ...),
    exposed_name=(str, ...),
    definition_version=(int, ...),
    created_at=(WHEN, ...),
    updated_at=(WHEN, ...),
)


# -- several endpoints at once (POST /api/v1/endpoints/bulk) ---------------------------------------------

BULK_ACTIONS = ("enable", "disable", "delete")
MAX_BULK = 1000
MAX_ID = 64  # an endpoint id is a UUID (36 characters); longer is no id at all


def _bulk_ids(value: Any, info: ValidationInfo) -> list[str]:
    if value is None:
        raise refuse("ids is required")
    if not isinstance(value, list):
        raise refuse("ids must be a list of endpoint ids")
    if not value:
        raise refuse("ids must list at least one endpoint id")
    if len(value) > MAX_BULK:
        raise refuse(f"ids must list at most {MAX_BULK} endpoint ids at once, got {len(value)}")
    for index, item in enumerate(value):
        if not isinstance(item, str) or not item.strip() or len(item) > MAX_ID:
            raise refuse(f"ids[{index}] must be an endpoint id (a string of 1 to {MAX_ID} characters)")
        storable(f"ids[{index}]", item)
    return [item.strip() for item in value]


class EndpointBulk(Resource):
    """Enable, disable or delete several endpoints in one transaction (each change its own audit row)."""

    action: Annotated[str, Choice(BULK_ACTIONS, description="What to do with every listed endpoint.")]
    ids: Annotated[
        list[str],
        Rules(
            _bulk_ids,
            {
                "type": "array",
                "items": {"type": "string", "minLength": 1, "maxLength": MAX_ID},
                "minItems": 1,
                "maxItems": MAX_BULK,
            },
            f"The endpoints' ids (1 to {MAX_BULK}); an id no endpoint has is reported in not_found, not refused.",
        ),
    ]


class EndpointBulkResult(View):
    """What a bulk change did."""

    action: str
    changed: int = Field(description="Endpoints changed (an enable of an enabled endpoint changes nothing).")
    not_found: list[str] = Field(description="The ids sent that no endpoint has (nothing was done for them).")
