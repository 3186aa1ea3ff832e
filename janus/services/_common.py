"""Small helpers the use cases share: transactions, coercion, timestamps."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from pydantic_core import PydanticCustomError
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError

from janus.extensions import db
from janus.schemas import fields
from janus.schemas.base import InvalidInput, Resource, parse
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
    refresh_catalog()


def create_row(actor: str, kind: str, row: Any, view: Callable[[Any], dict], conflict: str) -> dict[str, Any]:
    """Insert a row and its `<kind>.create` audit row in one transaction; return its view."""
    with change(conflict):
        stage_create(actor, kind, row, view)
    return view(row)


def stage_create(actor: str, kind: str, row: Any, view: Callable[[Any], dict], *, flush: bool = True) -> None:
    """create_row's work inside a transaction the caller commits (one `change()` for many rows).

    flush=False is for a batch: the row must carry its id and timestamps already, and is written with
    the others at the commit (one flush for a thousand rows instead of one each)."""
    db.session.add(row)
    if flush:
        db.session.flush()
    admin_audit.record(actor, f"{kind}.create", kind, row.id, after=view(row))


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
    with change(conflict):
        stage_update(actor, kind, row, changes, view, **extra)
    return view(row)


def stage_update(
    actor: str, kind: str, row: Any, changes: dict[str, Any], view: Callable[[Any], dict], **extra: Any
) -> None:
    """update_row's work inside a transaction the caller commits."""
    before = view(row)
    for key, value in changes.items():
        setattr(row, key, value)
    db.session.flush()
    admin_audit.record(actor, f"{kind}.update", kind, row.id, before=before, after=view(row), **extra)


def delete_row(actor: str, kind: str, row: Any, view: Callable[[Any], dict], **extra: Any) -> None:
    with change():
        stage_delete(actor, kind, row, view, **extra)


def stage_delete(actor: str, kind: str, row: Any, view: Callable[[Any], dict], **extra: Any) -> None:
    """delete_row's work inside a transaction the caller commits; `extra` goes into the audit row's details."""
    before, row_id = view(row), row.id
    db.session.delete(row)
    admin_audit.record(actor, f"{kind}.delete", kind, row_id, before=before, **extra)


def refresh_catalog() -> None:
    # Other processes notice the change counter; this one need not wait for its next poll.
    from flask import current_app

    runtime = current_app.extensions.get("janus.runtime")
    if runtime is not None:
        # At once, in the admin's request: calls never pay for it, and the change is live on this
        # worker when the answer says it is saved.
        runtime.catalog.refresh()


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
            # Every field a schema refused at once; a refusal of the input as a whole under "".
            for field, message in (exc.fields or {"": exc.message}).items():
                self.add(field, message)
            return None

    def add(self, field: str, message: str) -> None:
        self.found.setdefault(field, message)

    def raise_if_any(self) -> None:
        if self.found:
            field, message = next(iter(self.found.items()))
            raise ValidationError(message, field=field or None, fields={k: v for k, v in self.found.items() if k})


def checked(field: str, check: Callable[[Any], Any], value: Any) -> Any:
    """One rule of a schema (janus.schemas) applied on its own, its refusal as a ValidationError of `field`."""
    try:
        return check(value)
    except PydanticCustomError as exc:
        raise ValidationError(exc.message(), field=field) from None


def storable(field: str, value: str) -> str:
    """PostgreSQL text holds neither NUL nor unpaired surrogates (which JSON's \\uD800 can carry)."""
    return checked(field, lambda v: fields.storable(field, v), value)


def valid_id(value: Any) -> bool:
    """Whether a row could have this id; NUL would reach PostgreSQL as a driver error, not a miss."""
    return isinstance(value, str) and "\x00" not in value


def validated(model: type[Resource], data: dict[str, Any]) -> dict[str, Any]:
    """`data` checked against a resource's schema (janus.schemas): its fields, or one ValidationError naming every
    refused field."""
    try:
        return parse(model, data)
    except InvalidInput as exc:
        field = next(iter(exc.fields))
        raise ValidationError(
            exc.message, field=field or None, fields={k: v for k, v in exc.fields.items() if k}
        ) from None
