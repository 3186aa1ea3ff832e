"""Credential-shaped values made at run time, for the tests (and benches) of detectors that must find them.

Never committed as literals: a key-shaped string in the tree trips secret scanners and reads like a leak,
and a fresh random one per run proves the detector matches the shape, not one memorised value.
"""

from __future__ import annotations

import base64
import json
import secrets
import string

_UPPER_DIGITS = string.ascii_uppercase + "234567"  # the alphabet of AWS access key ids
_URLSAFE = string.ascii_letters + string.digits + "-_"


def aws_access_key_id(prefix: str = "AKIA") -> str:
    """An AWS access key id: AKIA (long-term) or ASIA (session) and 16 characters."""
    return prefix + "".join(secrets.choice(_UPPER_DIGITS) for _ in range(16))


def gcp_api_key() -> str:
    """A Google API key: AIza and 35 URL-safe characters."""
    return "AIza" + "".join(secrets.choice(_URLSAFE) for _ in range(35))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(claims: dict | None = None) -> str:
    """A JWT-shaped token (HS256 header, the claims, a random signature): nothing verifies it."""
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64url(json.dumps(claims or {"sub": secrets.token_hex(4)}).encode())
    return f"{header}.{payload}.{_b64url(secrets.token_bytes(32))}"


def azure_storage_key() -> str:
    """An Azure storage account key: 64 random bytes, base64 (88 characters ending '==')."""
    return base64.b64encode(secrets.token_bytes(64)).decode()


def _luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def card_number(prefix: str = "4", length: int = 16) -> str:
    """A payment-card-shaped number: `prefix`, random digits and the Luhn check digit (no real card)."""
    body = prefix + "".join(secrets.choice(string.digits) for _ in range(length - len(prefix) - 1))
    return next(body + check for check in string.digits if _luhn_valid(body + check))


def email_address() -> str:
    """An e-mail address at a reserved domain (RFC 2606), a fresh local part each run."""
    return f"user.{secrets.token_hex(4)}@example.com"
