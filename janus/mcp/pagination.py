"""Opaque cursors for list results.

A cursor carries the offset of the next page and a short hash of the listing's
fingerprint. When the listing changes between pages the hash no longer matches
and the cursor is refused, so a client never stitches two different listings
together (it restarts from the first page instead).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any, TypeVar

from .errors import INVALID_PARAMS, McpError

T = TypeVar("T")

_CURSOR_FORMAT = 1


def _listing_tag(fingerprint: str) -> str:
    # Hashed so the cursor neither grows with nor reveals the backend's fingerprint.
    return hashlib.sha256(fingerprint.encode("utf-8")).hexdigest()[:16]


def encode_cursor(offset: int, fingerprint: str) -> str:
    payload = json.dumps({"v": _CURSOR_FORMAT, "o": offset, "f": _listing_tag(fingerprint)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode("ascii")).decode("ascii").rstrip("=")


def decode_cursor(cursor: str, fingerprint: str) -> int:
    """The offset a cursor points at; INVALID_PARAMS when it is garbage or from another listing."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        payload: Any = json.loads(base64.b64decode(padded.encode("ascii"), altchars=b"-_", validate=True))
    except (ValueError, binascii.Error, UnicodeError, RecursionError):
        raise McpError(INVALID_PARAMS, "Invalid cursor") from None
    if not isinstance(payload, dict) or payload.get("v") != _CURSOR_FORMAT:
        raise McpError(INVALID_PARAMS, "Invalid cursor")
    offset, tag = payload.get("o"), payload.get("f")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0 or not isinstance(tag, str):
        raise McpError(INVALID_PARAMS, "Invalid cursor")
    if tag != _listing_tag(fingerprint):
        raise McpError(INVALID_PARAMS, "Stale cursor: the list changed, start again without a cursor")
    return offset


def paginate(items: list[T], fingerprint: str, cursor: str | None, page_size: int) -> tuple[list[T], str | None]:
    """One page of `items` and the cursor for the next one (None on the last page)."""
    offset = 0 if cursor is None else decode_cursor(cursor, fingerprint)
    if offset > len(items):
        # Same fingerprint but fewer items means a backend broke its contract;
        # still refuse rather than answer with a silently empty page.
        raise McpError(INVALID_PARAMS, "Invalid cursor")
    end = offset + page_size
    page = items[offset:end]
    return page, (encode_cursor(end, fingerprint) if end < len(items) else None)
