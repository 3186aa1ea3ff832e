"""Small helpers the use cases share: transactions, coercion, timestamps."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, Literal, overload

from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError

from janus.extensions import db
from janus.services import admin_audit
from janus.services.errors import Conflict, ValidationError


def affected_rows(result: object) -> int:
    """The row count of an UPDATE or DELETE run through the session.

    Session.execute() is typed to answer a Result, which has no count; for those statements
    it is a CursorResult, which does.
    """
    if not isinstance(result, CursorResult):
        raise TypeError(f"{type(result).__name__} carries no row count")
    return result.rowcount


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


@contextlib.contextmanager
def change(conflict_message: str = "the change conflicts with existing data") -> Iterator[None]:
    """One transaction per change: everything (audit row included) commits, or nothing does."""
    try:
        yield
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(conflict_message) from None
    except BaseException:
        db.session.rollback()
        raise
    _refresh_catalog()


def create_row(actor: str, kind: str, row: Any, view: Callable[[Any], dict], conflict: str) -> dict[str, Any]:
    """Insert a row and its `<kind>.create` audit row in one transaction; return its view."""
    with change(conflict):
        db.session.add(row)
        db.session.flush()
        admin_audit.record(actor, f"{kind}.create", kind, row.id, after=view(row))
    return view(row)


def update_row(
    actor: str,
    kind: str,
    row: Any,
    changes: dict[str, Any],
    view: Callable[[Any], dict],
    conflict: str = "the change conflicts with existing data",
    **extra: Any,
) -> dict[str, Any]:
    """Apply already validated changes with a `<kind>.update` audit row (before → after)."""
    before = view(row)
    with change(conflict):
        for key, value in changes.items():
            setattr(row, key, value)
        db.session.flush()
        admin_audit.record(actor, f"{kind}.update", kind, row.id, before=before, after=view(row), **extra)
    return view(row)


def delete_row(actor: str, kind: str, row: Any, view: Callable[[Any], dict]) -> None:
    before, row_id = view(row), row.id
    with change():
        db.session.delete(row)
        admin_audit.record(actor, f"{kind}.delete", kind, row_id, before=before)


def _refresh_catalog() -> None:
    # Other processes notice the change counter; this one need not wait for its next poll.
    from flask import current_app

    runtime = current_app.extensions.get("janus.runtime")
    if runtime is not None:
        runtime.catalog.invalidate()


class FieldErrors:
    """Checks a form's inputs one by one and reports every refused input at once, not just the first.

    `take(check, ...)` runs one check and returns its value, or None after noting its message;
    `raise_if_any()` then raises one ValidationError naming the first problem, with all in `fields`.
    """

    def __init__(self) -> None:
        self.found: dict[str, str] = {}

    def take(self, check, *args: Any, **kwargs: Any) -> Any:
        try:
            return check(*args, **kwargs)
        except ValidationError as exc:
            self.add(exc.field or "", exc.message)
            return None

    def add(self, field: str, message: str) -> None:
        self.found.setdefault(field, message)

    def raise_if_any(self) -> None:
        if self.found:
            field, message = next(iter(self.found.items()))
            raise ValidationError(message, field=field or None, fields={k: v for k, v in self.found.items() if k})


@overload
def text(
    data: dict[str, Any], field: str, *, required: Literal[True], max_len: int = 2000, default: str | None = None
) -> str: ...
@overload
def text(
    data: dict[str, Any], field: str, *, required: bool = False, max_len: int = 2000, default: str | None = None
) -> str | None: ...
def text(
    data: dict[str, Any], field: str, *, required: bool = False, max_len: int = 2000, default: str | None = None
) -> str | None:
    value = data.get(field, default)
    if value is None:
        if required:
            raise ValidationError(f"{field} is required", field=field)
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a string", field=field)
    value = value.strip()
    if required and not value:
        raise ValidationError(f"{field} must not be empty", field=field)
    if len(value) > max_len:
        raise ValidationError(f"{field} must be at most {max_len} characters", field=field)
    storable(field, value)
    return value


def storable(field: str, value: str) -> str:
    """PostgreSQL text holds neither NUL nor unpaired surrogates (which JSON's \\uD800 can carry)."""
    if "\x00" in value:
        raise ValidationError(f"{field} must not contain NUL characters", field=field)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(f"{field} must be valid Unicode text (no unpaired surrogates)") from None
    return value


def valid_id(value: Any) -> bool:
    """Whether a row could have this id; NUL would reach PostgreSQL as a driver error, not a miss."""
    return isinstance(value, str) and "\x00" not in value


def boolean(data: dict[str, Any], field: str, default: bool | None = None, *, required: bool = False) -> bool | None:
    """null is the default; `required` (a change to a NOT NULL column) refuses it instead."""
    value = data.get(field)
    if value is None:
        if required:
            raise ValidationError(f"{field} must be true or false", field=field)
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"true", "false"}:
        return value.lower() == "true"
    raise ValidationError(f"{field} must be true or false", field=field)


def number(
    data: dict[str, Any], field: str, *, low: float, high: float, default: float | None = None, required: bool = False
) -> float | None:
    """null is the default; `required` (a change to a NOT NULL column) refuses it instead."""
    value = data.get(field)
    if value is None:
        if required:
            raise ValidationError(f"{field} must be a number", field=field)
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(f"{field} must be a number", field=field)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationError(f"{field} must be a number", field=field)
    if not low <= value <= high:  # before float(): a huge JSON integer does not fit a float
        raise ValidationError(f"{field} must be between {low:g} and {high:g}", field=field)
    return float(value)


def only(data: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValidationError(f"unknown field(s): {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
