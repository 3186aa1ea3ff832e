"""Field types for the resource models: each check and its JSON Schema keywords from one call.

`name: Annotated[str, Text(200, min_len=1)]` declares a field whose validator strips, bounds and refuses what
PostgreSQL cannot store, with the message users read ("name must be at most 200 characters"), and whose
JSON Schema says `maxLength: 200, minLength: 1`. Messages name the field: pydantic hands the validator
its name.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from annotated_types import GroupedMetadata
from pydantic import BeforeValidator, ValidationInfo, WithJsonSchema
from pydantic_core import PydanticCustomError

# Error type of every refusal raised here: janus.schemas.parsing reads its message as is.
REFUSED = "janus_refused"


def refuse(message: str) -> PydanticCustomError:
    # The message is the template: braces in user input must not be read as placeholders.
    return PydanticCustomError(REFUSED, "{message}", {"message": message})


def storable(field: str, value: str) -> str:
    """PostgreSQL text holds neither NUL nor unpaired surrogates (which JSON's \\uD800 can carry)."""
    if "\x00" in value:
        raise refuse(f"{field} must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise refuse(f"{field} must be valid Unicode text (no unpaired surrogates)") from None
    return value


class Rules(GroupedMetadata):
    """A field's validator and its JSON Schema, as one item of `Annotated[...]` (pydantic unpacks it)."""

    def __init__(self, validate: Callable[[Any, ValidationInfo], Any], schema: dict[str, Any], description: str | None):
        self.validate = validate
        self.schema = {**schema, "description": description} if description else schema

    def __iter__(self) -> Iterator[object]:
        yield BeforeValidator(self.validate)
        yield WithJsonSchema(self.schema)


def _name(info: ValidationInfo) -> str:
    return info.field_name or "value"


def Text(
    max_len: int,
    *,
    min_len: int = 0,
    nullable: bool = False,
    null_value: str | None = None,
    blank_is_null: bool = False,
    strip: bool = True,
    pattern: re.Pattern[str] | None = None,
    check: Callable[[str], str] | None = None,
    description: str | None = None,
    format: str | None = None,
    too_short: str | None = None,
) -> Rules:
    """A string of at most `max_len` characters (after stripping, unless `strip=False`).

    `min_len=1` refuses the empty string ("must not be empty"), `too_short` words a longer minimum's
    refusal when the field needs explaining; `nullable` accepts JSON null, as None or as `null_value` (a
    description's null is its empty text), and `blank_is_null` takes "" for null (an empty form input); `pattern` is documented in the schema and `check` enforces it
    with its own message (a regex mismatch alone explains nothing); `format` is documented only.
    """

    def validate(value: Any, info: ValidationInfo) -> Any:
        field = _name(info)
        if value is None:
            if nullable:
                return null_value
            raise refuse(f"{field} is required" if min_len else f"{field} must be a string")
        if not isinstance(value, str):
            raise refuse(f"{field} must be a string")
        if strip:
            value = value.strip()
        if blank_is_null and not value:  # a form's empty input: "not given"
            return null_value
        if min_len == 1 and not value:
            raise refuse(f"{field} must not be empty")
        if len(value) < min_len:
            raise refuse(too_short or f"{field} must be at least {min_len} characters")
        if len(value) > max_len:
            raise refuse(f"{field} must be at most {max_len} characters")
        storable(field, value)
        return check(value) if check is not None else value

    schema: dict[str, Any] = {"type": ["string", "null"] if nullable else "string", "maxLength": max_len}
    if min_len:
        schema["minLength"] = min_len
    if pattern is not None:
        schema["pattern"] = pattern.pattern
    if format is not None:
        schema["format"] = format
    return Rules(validate, schema, description)


def Choice(choices: Sequence[str], *, upper: bool = False, description: str | None = None) -> Rules:
    """One of `choices`; `upper` accepts any letter case and stores upper case (HTTP methods)."""
    allowed = tuple(choices)

    def validate(value: Any, info: ValidationInfo) -> Any:
        field = _name(info)
        if value is None:
            raise refuse(f"{field} is required")
        if not isinstance(value, str):
            raise refuse(f"{field} must be a string")
        value = value.strip().upper() if upper else value.strip()
        if value not in allowed:
            raise refuse(f"{field} {value!r} is unknown; expected one of {', '.join(allowed)}")
        return value

    schema = {"type": "string", "enum": list(allowed)}
    return Rules(validate, schema, description)


def Flag(description: str | None = None) -> Rules:
    """true or false; the strings "true"/"false" too (HTML forms and query strings send text)."""

    def validate(value: Any, info: ValidationInfo) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"true", "false"}:
            return value.lower() == "true"
        raise refuse(f"{_name(info)} must be true or false")

    return Rules(validate, {"type": "boolean"}, description)


def Number(low: float, high: float, description: str | None = None, *, nullable: bool = False) -> Rules:
    """A finite JSON number between `low` and `high` (inclusive); booleans and numeric strings are refused.
    With `nullable`, null for "not set"."""

    def validate(value: Any, info: ValidationInfo) -> float | None:
        field = _name(info)
        if value is None and nullable:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise refuse(f"{field} must be a number")
        if isinstance(value, float) and not math.isfinite(value):
            raise refuse(f"{field} must be a number")
        if not low <= value <= high:  # before float(): a huge JSON integer does not fit a float
            raise refuse(f"{field} must be between {low:g} and {high:g}")
        return float(value)

    schema = {"type": ["number", "null"] if nullable else "number", "minimum": low, "maximum": high}
    return Rules(validate, schema, description)


def Count(low: int, high: int, *, nullable: bool = False, description: str | None = None) -> Rules:
    """A whole number between `low` and `high` (inclusive), JSON's 5.0 included; with `nullable`, null for
    "not set". Booleans and numeric strings are refused (the portal converts its form's text first)."""

    def validate(value: Any, info: ValidationInfo) -> int | None:
        field = _name(info)
        if value is None:
            if nullable:
                return None
            raise refuse(f"{field} is required")
        if isinstance(value, float) and value.is_integer() and math.isfinite(value):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise refuse(f"{field} must be a whole number")
        if not low <= value <= high:
            raise refuse(f"{field} must be between {low} and {high}")
        return value

    schema: dict[str, Any] = {"type": ["integer", "null"] if nullable else "integer", "minimum": low, "maximum": high}
    return Rules(validate, schema, description)
