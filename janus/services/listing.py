"""One way to search, sort and page a list (connections, endpoints, tokens): `?q=`, `?sort=`, `?page=` or
`?cursor=`, `?limit=`.

The database does the work (a LIKE per searched column, a count, one page of rows), so a list of
10,000 rows costs one page of views, not 10,000. Every sort ends with the row's id, so the order is total
and paging is stable. A page is either numbered (`page`, an OFFSET) or follows a cursor: the sort key and
id of the last row seen, signed, and bound to the list, the sort and the filters it was made for. A
cursor page is a seek (`WHERE key > last`), so a deep page costs what the first does, and rows added or
removed between two requests neither repeat nor skip the rows after the cursor.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from flask import current_app
from sqlalchemy import ColumnElement, Select, and_, case, false, func, literal, or_, select

from janus.config import derive_key
from janus.extensions import db
from janus.services._common import storable
from janus.services.errors import ValidationError

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_QUERY = 200  # characters of a search text
MAX_CURSOR = 2048  # characters of a cursor: far more than any sort key needs
INVALID_CURSOR = "invalid cursor"
_CURSOR_KEY_LABEL = "janus/list-cursor/v1"  # HKDF info: cursors are signed with their own key
_CURSOR_FORMAT = 1
_MAC_BYTES = 16

Kind = Literal["text", "number", "time"]


@dataclass(frozen=True)
class Key:
    """A column (or expression) a list sorts by, and the JSON type its value takes in a cursor."""

    expr: Any
    kind: Kind = "text"
    nullable: bool = False  # NULLs sort after every value, ascending or descending


@dataclass(frozen=True)
class Order:
    """A list's sorts: each name's keys (the `tie` column, the id, ends every one) and the default."""

    list_name: str
    sorts: dict[str, tuple[Key, ...]]
    default: str
    tie: Any

    def choices(self) -> list[str]:
        return [*self.sorts, *(f"-{name}" for name in self.sorts)]

    def parse(self, sort: Any) -> str:
        """`sort` as given ("" or None: the default), checked: "name" or "-name" (descending)."""
        if sort is None or (isinstance(sort, str) and not sort.strip()):
            return self.default
        text = sort.strip() if isinstance(sort, str) else ""
        if text.removeprefix("-") not in self.sorts:
            shown = sort[:64] if isinstance(sort, str) else sort
            raise ValidationError(
                f"sort {shown!r} is unknown; expected one of {', '.join(self.sorts)} "
                "(a leading '-' sorts descending, e.g. -" + next(iter(self.sorts)) + ")",
                field="sort",
            )
        return text


@dataclass(frozen=True)
class _Part:
    """One column of the ORDER BY as the seek compares it."""

    expr: Any
    descending: bool
    kind: Kind


def page_numbers(page: Any, limit: Any) -> tuple[int, int]:
    """`page` (from 1) and `limit` (1..MAX_LIMIT) as numbers, or a ValidationError naming the field."""
    numbers = []
    for field, value, default in (("page", page, 1), ("limit", limit, DEFAULT_LIMIT)):
        if value is None or value == "":
            numbers.append(default)
            continue
        if isinstance(value, bool):
            raise ValidationError(f"{field} must be a whole number", field=field)
        try:
            numbers.append(int(value))
        except (TypeError, ValueError):
            raise ValidationError(f"{field} must be a whole number", field=field) from None
    if numbers[0] < 1:
        raise ValidationError("page must be at least 1", field="page")
    if not 1 <= numbers[1] <= MAX_LIMIT:
        raise ValidationError(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    return numbers[0], numbers[1]


def search(query: Select, text: str | None, *columns: Any) -> Select:
    """Rows where any of `columns` contains `text` (any letter case; %, _ and \\ match themselves)."""
    if not text:
        return query
    if not isinstance(text, str):
        raise ValidationError("q must be a string", field="q")
    if len(text) > MAX_QUERY:
        raise ValidationError(f"q must be at most {MAX_QUERY} characters", field="q")
    needle = storable("q", text).lower()
    matches: list[ColumnElement[bool]] = [func.lower(column).contains(needle, autoescape=True) for column in columns]
    return query.where(or_(*matches))


def flag(field: str, value: Any) -> bool | None:
    """A yes/no filter from a query string: true/false (also 1/0, yes/no); blank is no filter."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise ValidationError(f"{field} must be true or false", field=field)


def flag_filter(
    query: Select, field: str, value: Any, matches: Callable[[bool], ColumnElement[bool]], scope: dict[str, Any]
) -> Select:
    """`query` narrowed by the yes/no filter `field` (blank: not narrowed) to the rows `matches(wanted)`
    selects; the filter is noted in `scope`, the filters a cursor is bound to."""
    wanted = flag(field, value)
    scope[field] = wanted
    return query if wanted is None else query.where(matches(wanted))


def paged(
    query: Select,
    order: Order,
    to_view: Callable[[Any], dict[str, Any]],
    *,
    page: Any = None,
    limit: Any = None,
    cursor: Any = None,
    sort: Any = None,
    scope: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One page of `query`'s rows as views: {"items", "total", "page", "limit", "next_cursor"}.

    `page` numbers pages from 1; `cursor` (a previous answer's next_cursor) continues after its row
    instead, and the answer's `page` is then null. `scope` is the filters the caller applied (normalised),
    which a cursor is bound to along with the list and the sort. `to_view` gets each row: the entity first.
    """
    sort_name = order.parse(sort)
    has_cursor = cursor is not None and cursor != ""
    if has_cursor and page is not None and page != "":
        raise ValidationError("give page or cursor, not both", field="cursor")
    page_number, limit = page_numbers(page, limit)
    parts = _parts(order, sort_name)
    binding = _binding(order.list_name, sort_name, scope or {})
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    fetch = query.add_columns(*(part.expr for part in parts)).order_by(
        *(part.expr.desc() if part.descending else part.expr.asc() for part in parts)
    )
    if has_cursor:
        after = _decode(cursor, binding, parts)
        rows = db.session.execute(fetch.where(_after(parts, after)).limit(limit + 1)).all()
        answered_page: int | None = None
    else:
        offset = (page_number - 1) * limit
        # Past the end there is nothing to fetch, and a huge offset would overflow the database's integer.
        rows = db.session.execute(fetch.offset(offset).limit(limit + 1)).all() if offset < total else []
        answered_page = page_number
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = _encode(binding, parts, tuple(rows[-1])[-len(parts) :]) if more and rows else None
    return {
        "items": [to_view(row) for row in rows],
        "total": total,
        "page": answered_page,
        "limit": limit,
        "next_cursor": next_cursor,
    }


# -- the order and the seek ------------------------------------------------------------------------------


def _parts(order: Order, sort_name: str) -> list[_Part]:
    """The ORDER BY of a sort: its keys (a nullable one led by an is-NULL flag, so NULLs come last on
    every database), then the id; "-name" reverses each key and the id, never the NULLs-last flag."""
    descending = sort_name.startswith("-")
    parts: list[_Part] = []
    for key in order.sorts[sort_name.removeprefix("-")]:
        if key.nullable:
            parts.append(_Part(case((key.expr.is_(None), literal(1)), else_=literal(0)), False, "number"))
        parts.append(_Part(key.expr, descending, key.kind))
    parts.append(_Part(order.tie, descending, "text"))
    return parts


def _after(parts: list[_Part], values: list[Any]) -> ColumnElement[bool]:
    """Rows after `values` in the order of `parts`: (a, b, id) > (x, y, z), column by column, NULL-safe."""
    condition: ColumnElement[bool] | None = None  # after the id, the last part: nothing is "equal and after"
    for part, value in reversed(list(zip(parts, values, strict=True))):
        if value is None:  # only a nullable key's value; its flag already put the NULLs together, last
            greater: ColumnElement[bool] | None = None
            equal = part.expr.is_(None)
        else:
            greater = part.expr < value if part.descending else part.expr > value
            equal = part.expr == value
        tail = and_(equal, condition) if condition is not None else None
        either = [c for c in (greater, tail) if c is not None]
        condition = or_(*either) if either else false()
    assert condition is not None
    first, start = parts[0], values[0]
    if start is not None:  # a plain range on the leading key as well, which an index can serve
        condition = and_(first.expr <= start if first.descending else first.expr >= start, condition)
    return condition


# -- cursors ------------------------------------------------------------------------------------------------


def _binding(list_name: str, sort_name: str, scope: dict[str, Any]) -> str:
    """What a cursor belongs to: the list, the sort and the filters, hashed."""
    text = json.dumps([list_name, sort_name, scope], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@functools.lru_cache(maxsize=4)
def _key(secret: str) -> bytes:
    return derive_key(secret, _CURSOR_KEY_LABEL)


def _mac(payload: bytes) -> bytes:
    return hmac.new(_key(str(current_app.config["JWT_SECRET"])), payload, hashlib.sha256).digest()[:_MAC_BYTES]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode((text + "=" * (-len(text) % 4)).encode("ascii"), altchars=b"-_", validate=True)


def _encode(binding: str, parts: list[_Part], values: tuple[Any, ...]) -> str:
    keys = [value.isoformat() if isinstance(value, datetime) else value for value in values]
    payload = json.dumps([_CURSOR_FORMAT, binding, keys], separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return f"{_b64(payload)}.{_b64(_mac(payload))}"


def _decode(cursor: Any, binding: str, parts: list[_Part]) -> list[Any]:
    """The sort key a cursor carries, checked: 400 "invalid cursor" when garbled, altered or made for
    another list, sort or filter."""
    if not isinstance(cursor, str) or len(cursor) > MAX_CURSOR or cursor.count(".") != 1:
        raise ValidationError(INVALID_CURSOR, field="cursor")
    body, mac = cursor.split(".")
    try:
        payload, signature = _unb64(body), _unb64(mac)
    except (ValueError, binascii.Error, UnicodeError):
        raise ValidationError(INVALID_CURSOR, field="cursor") from None
    if not hmac.compare_digest(signature, _mac(payload)):
        raise ValidationError(INVALID_CURSOR, field="cursor")
    try:
        version, made_for, keys = json.loads(payload)
    except (ValueError, TypeError, RecursionError):
        raise ValidationError(INVALID_CURSOR, field="cursor") from None
    if version != _CURSOR_FORMAT:
        raise ValidationError(INVALID_CURSOR, field="cursor")
    if made_for != binding:
        raise ValidationError(
            f"{INVALID_CURSOR}: it was made for another sort or filter of this list; "
            "send the same sort and filters, or start again without a cursor",
            field="cursor",
        )
    if not isinstance(keys, list) or len(keys) != len(parts):
        raise ValidationError(INVALID_CURSOR, field="cursor")
    return [_value(part.kind, key) for part, key in zip(parts, keys, strict=True)]


def _value(kind: Kind, key: Any) -> Any:
    if key is None:
        return None
    if kind == "text" and isinstance(key, str):
        return key
    if kind == "number" and isinstance(key, int) and not isinstance(key, bool):
        return key
    if kind == "time" and isinstance(key, str):
        try:
            when = datetime.fromisoformat(key)
        except ValueError:
            raise ValidationError(INVALID_CURSOR, field="cursor") from None
        if when.tzinfo is not None:
            return when
    raise ValidationError(INVALID_CURSOR, field="cursor")
