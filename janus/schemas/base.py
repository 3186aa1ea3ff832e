"""The base of every resource model, the update and read models derived from a create model, and parsing.

`parse(Model, data)` answers the validated fields as a dict, or raises InvalidInput with every refused
field's message at once; the services turn that into their ValidationError.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic import ValidationError as PydanticValidationError
from pydantic.fields import FieldInfo
from pydantic.json_schema import GenerateJsonSchema

from janus.schemas.fields import REFUSED


class InvalidInput(Exception):
    """Refused input: `fields` maps each refused field to its message ('' for the input as a whole)."""

    def __init__(self, fields: dict[str, str]) -> None:
        self.fields = fields
        self.message = next(iter(fields.values()))
        super().__init__(self.message)


class Resource(BaseModel):
    """A create (or update) body: unknown fields are refused, null means "the default" where there is one."""

    # Defaults go through the validators too: an endpoint's absent input schema becomes the empty object schema.
    model_config = ConfigDict(extra="forbid", validate_default=True)

    # Fields whose JSON null means the default on create (False: null is refused like any other bad value).
    null_is_default: ClassVar[bool] = True


class View(BaseModel):
    """What the API answers for a resource: every field always present, nothing else."""

    model_config = ConfigDict(extra="forbid")


def _without_defaults(schema: dict[str, Any]) -> None:
    # An update's fields have a default of None only so they may be left out: "left out" is "unchanged".
    for prop in schema.get("properties", {}).values():
        prop.pop("default", None)


def _rebuilt(info: FieldInfo, default: Any) -> Any:
    """The field's type with all its validators and schema keywords, and another default."""
    annotated = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
    return (
        annotated,
        Field(default, description=info.description, json_schema_extra=info.json_schema_extra, alias=info.alias),
    )


def update_model(create: type[Resource], name: str, doc: str, *, exclude: tuple[str, ...] = ()) -> type[Resource]:
    """The PATCH shape of `create`: the same fields and checks, each optional; null only where nullable."""
    fields = {field: _rebuilt(info, None) for field, info in create.model_fields.items() if field not in exclude}
    model = create_model(
        name,
        __base__=Resource,
        __doc__=doc,
        **fields,
    )
    model.model_config = ConfigDict(extra="forbid", json_schema_extra=_without_defaults)
    model.null_is_default = False
    model.model_rebuild(force=True)
    return model


def read_model(create: type[Resource], name: str, doc: str, /, **extra: Any) -> type[View]:
    """What the API answers for a resource: `extra` fields (id, timestamps, …) and every field of `create`."""
    fields: dict[str, Any] = {"id": (str, ...)}
    fields.update({field: _rebuilt(info, ...) for field, info in create.model_fields.items()})
    fields.update(extra)
    return create_model(name, __base__=View, __doc__=doc, **fields)


def parse(model: type[Resource], data: dict[str, Any]) -> dict[str, Any]:
    """The fields sent, validated (defaults filled in on create); InvalidInput names every refused field."""
    if model.null_is_default:
        # JSON null for a field with a default is the default (a form's empty select, an explicit "unset").
        data = {
            k: v
            for k, v in data.items()
            if not (v is None and k in model.model_fields and not model.model_fields[k].is_required())
        }
    try:
        validated = model.model_validate(data)
    except PydanticValidationError as exc:
        raise InvalidInput(_messages(model, exc)) from None
    if model.null_is_default:
        return validated.model_dump()
    return {field: getattr(validated, field) for field in validated.model_fields_set}


def _messages(model: type[Resource], exc: PydanticValidationError) -> dict[str, str]:
    found: dict[str, str] = {}
    unknown: list[str] = []
    for error in exc.errors(include_url=False):
        field = str(error["loc"][0]) if error["loc"] else ""
        if error["type"] == "extra_forbidden":
            unknown.append(field)
        elif error["type"] == REFUSED:
            found.setdefault(field, error["ctx"]["message"])
        elif error["type"] == "missing":
            found.setdefault(field, f"{field} is required")
        else:  # a constraint of pydantic's own: its sentence, named
            found.setdefault(field, f"{field}: {error['msg']}")
    if unknown:
        allowed = ", ".join(sorted(model.model_fields))
        # The input as a whole is refused (''), ahead of any field's message.
        found = {"": f"unknown field(s): {', '.join(sorted(unknown))}; allowed: {allowed}", **found}
    return found


class _Schema(GenerateJsonSchema):
    """pydantic's JSON Schema without a title per property (the property's name says it)."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def json_schema(model: type[BaseModel], ref_template: str = "#/$defs/{model}") -> dict[str, Any]:
    """The model's JSON Schema (2020-12): what OpenAPI 3.1 and MCP tool input schemas take."""
    schema = model.model_json_schema(schema_generator=_Schema, ref_template=ref_template)
    schema.pop("title", None)
    return schema


WHEN = Annotated[datetime, Field(description="ISO 8601, UTC")]
