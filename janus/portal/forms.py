"""HTML form values → the plain dicts the services take (the services do all validating)."""

from __future__ import annotations

from typing import Any

from werkzeug.datastructures import MultiDict

from janus.services.errors import ServiceError, ValidationError


def texts(form: MultiDict, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: form.get(name, "") for name in names}


def checkbox(form: MultiDict, name: str) -> bool:
    return form.get(name) in ("on", "true", "1", "yes")


def number(form: MultiDict, name: str) -> float | None:
    raw = (form.get(name) or "").strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise ValidationError(f"{name} must be a number", field=name) from None


def whole_number(form: MultiDict, name: str) -> int | str | None:
    """An optional whole-number input: None when empty, the int when it is one, else the text as typed
    (the service refuses it with the field's own message)."""
    raw = (form.get(name) or "").strip()
    if not raw:
        return None
    return int(raw) if raw.isdigit() and len(raw) <= 18 else raw


def errors_of(exc: ServiceError, known: tuple[str, ...]) -> dict[str, str]:
    """Each refused input's message under its field; what is about no one input under "form"."""
    errors: dict[str, str] = {}
    for field, message in (exc.fields or {"form": exc.message}).items():
        errors.setdefault(field if field in known else "form", message)
    return errors
