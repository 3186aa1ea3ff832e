"""One way to search and page a list (connections, endpoints, tokens): `?q=`, `?page=`, `?limit=`.

The database does the work (a LIKE per searched column, a count, an offset page), so a list of
10,000 rows costs one page of views, not 10,000.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select

from janus.extensions import db
from janus.services._common import storable
from janus.services.errors import ValidationError

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_QUERY = 200  # characters of a search text


def page_numbers(page: Any, limit: Any) -> tuple[int, int]:
    """`page` (from 1) and `limit` (1..MAX_LIMIT) as numbers, or a ValidationError naming the field."""
    numbers = []
    for field, value, default in (("page", page, 1), ("limit", limit, DEFAULT_LIMIT)):
        if value is None or value == "":
            numbers.append(default)
            continue
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


def paged(
    query: Select, order_by: tuple[Any, ...], to_view: Callable[[Any], dict[str, Any]], page: Any, limit: Any
) -> dict[str, Any]:
    """One page of `query`'s rows as views, with the total that matched."""
    page, limit = page_numbers(page, limit)
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    offset = (page - 1) * limit
    # Past the end there is nothing to fetch, and a huge offset would overflow the database's integer.
    rows = db.session.execute(query.order_by(*order_by).offset(offset).limit(limit)).all() if offset < total else []
    return {"items": [to_view(row) for row in rows], "total": total, "page": page, "limit": limit}
