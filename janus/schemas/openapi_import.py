"""An OpenAPI import: what POST /api/v1/import/openapi (and mcp-cli import openapi, and the portal) take and answer."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, ValidationInfo

from janus.schemas.base import Resource, View
from janus.schemas.connection import PREFIX_RE, check_base_url, check_prefix
from janus.schemas.fields import Flag, Rules, Text, refuse

MAX_PATTERNS = 200


def _spec(value: Any, info: ValidationInfo) -> Any:
    if value is None or isinstance(value, (str, dict)):
        return value
    raise refuse("spec must be the description's text (JSON or YAML) or its JSON object")


def _files(value: Any, info: ValidationInfo) -> Any:
    if value is None:
        return None
    if (
        not isinstance(value, dict)
        or not value
        or not all(isinstance(k, str) and k and isinstance(v, str) for k, v in value.items())
    ):
        raise refuse("files must be an object of file name → file text (a bundle of JSON or YAML files)")
    return value


def _patterns(value: Any, info: ValidationInfo) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise refuse(f"{info.field_name} must be a list of globs or tags")
    if len(value) > MAX_PATTERNS:
        raise refuse(f"{info.field_name} takes at most {MAX_PATTERNS} entries")
    return [v.strip()[:500] for v in value]


def _keys(value: Any, info: ValidationInfo) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise refuse("approve must be a list of operation keys such as 'GET /pets/{petId}'")
    return value


class OpenApiImport(Resource):
    """An OpenAPI 3.0/3.1 or Swagger 2.0 description to turn into a connection's endpoints (one of spec, files, url)."""

    spec: Annotated[
        Any,
        Rules(_spec, {"type": ["string", "object", "null"]}, "The description: JSON or YAML text, or its JSON object."),
    ] = None
    files: Annotated[
        Any,
        Rules(
            _files,
            {"type": ["object", "null"], "additionalProperties": {"type": "string"}},
            "A bundle: file name → text; $ref between them is resolved (e.g. 'schemas.yaml#/Pet').",
        ),
    ] = None
    main: Annotated[str | None, Text(500, nullable=True, blank_is_null=True, description="The bundle's main file.")] = (
        None
    )
    url: Annotated[
        str | None,
        Text(
            2048,
            nullable=True,
            blank_is_null=True,
            description="Fetched once, now, through the egress policy (never at call time).",
        ),
    ] = None
    prefix: Annotated[
        str | None,
        Text(64, nullable=True, blank_is_null=True, pattern=PREFIX_RE, check=check_prefix, description="e.g. pet_"),
    ] = None
    name: Annotated[
        str | None,
        Text(200, nullable=True, blank_is_null=True, description="A new connection's name (default: the title)."),
    ] = None
    connection_id: Annotated[
        str | None,
        Text(64, nullable=True, blank_is_null=True, description="Import into this connection."),
    ] = None
    base_url: Annotated[
        str | None,
        Text(
            2048,
            nullable=True,
            blank_is_null=True,
            check=check_base_url,
            description="Instead of the description's server URL.",
        ),
    ] = None
    include: Annotated[
        list[str],
        Rules(_patterns, {"type": ["array", "null"], "items": {"type": "string"}}, "Globs or tags to import only."),
    ] = Field(default_factory=list)
    exclude: Annotated[
        list[str],
        Rules(_patterns, {"type": ["array", "null"], "items": {"type": "string"}}, "Globs or tags to leave out."),
    ] = Field(default_factory=list)
    dry_run: Annotated[bool, Flag("Only show the plan; change nothing.")] = False
    approve: Annotated[
        list[str] | None,
        Rules(
            _keys,
            {"type": ["array", "null"], "items": {"type": "string"}},
            "Apply only these operations (keys as in the plan); default: every selected change.",
        ),
    ] = None


class OpenApiImportItem(View):
    key: str
    status: str = Field(description="added, changed, removed or unchanged")
    operation_id: str | None
    tags: list[str]
    tool_name: str
    exposed_name: str
    method: str
    path_template: str
    endpoint_id: str | None
    selected: bool = Field(description="Matches --include/--exclude (and approve); applied unless dry_run.")
    notes: list[str]
    diff: list[dict[str, Any]] = Field(description="Field by field: {field, old, new} (changed only).")


class OpenApiImportResult(View):
    """The plan (and what was applied) of an OpenAPI import."""

    dry_run: bool
    applied: list[str]
    connection: dict[str, Any]
    source: dict[str, Any]
    suggested_auth: dict[str, Any] | None
    counts: dict[str, int]
    items: list[OpenApiImportItem]
    skipped: list[dict[str, Any]]
