"""A vault secret: a name anyone with access may list, a value that goes in and never comes back out."""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any

from pydantic import ValidationInfo

from janus.schemas.base import Resource, View
from janus.schemas.fields import Rules, Text, refuse

MAX_KEY = 512
MAX_VALUE = 1_000_000
KEY_HINT = (
    f"key must be a non-empty name of at most {MAX_KEY} characters without control characters, "
    "e.g. prod/billing-service/api-key"
)


def check_key(key: Any) -> str:
    # Cc and Cs as the vault providers check them: a name they would refuse is the caller's mistake, not a 502.
    if (
        not isinstance(key, str)
        or not key.strip()
        or len(key) > MAX_KEY
        or any(unicodedata.category(c) in ("Cc", "Cs") for c in key)
    ):
        raise refuse(KEY_HINT)
    return key.strip()


def _key(value: Any, info: ValidationInfo) -> str:
    return check_key(value)


KEY_SCHEMA = {"type": "string", "minLength": 1, "maxLength": MAX_KEY}


class VaultValue(Resource):
    """A secret's value: stored, never shown again."""

    value: Annotated[str, Text(MAX_VALUE, min_len=1, strip=False)]


class VaultSecret(VaultValue):
    """A secret's name and value (the admin tool's input; the API names the key in its path)."""

    key: Annotated[str, Rules(_key, KEY_SCHEMA, "e.g. prod/billing-service/api-key; may contain '/'.")]


class VaultKey(View):
    key: str


class VaultKeys(View):
    keys: list[str]
