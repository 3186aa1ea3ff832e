"""The admin audit trail: who changed what, before → after, secrets redacted."""

from __future__ import annotations

from typing import Any

from janus.extensions import db
from janus.models import AdminAuditLog

REDACTED = "[redacted]"
TARGET_ID_MAX = 64  # AdminAuditLog.target_id
_SECRET_FIELDS = {"token_hash", "password_hash", "password", "value", "token", "secret"}


def redact(view: dict[str, Any] | None) -> dict[str, Any] | None:
    if view is None:
        return None
    return {k: (REDACTED if k in _SECRET_FIELDS else v) for k, v in view.items()}


def record(
    actor: str,
    action: str,
    target_type: str,
    target_id: str | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    **extra: Any,
) -> None:
    """Add the audit row to the current transaction: it commits with the change or not at all."""
    details: dict[str, Any] = {}
    if before is not None:
        details["before"] = redact(before)
    if after is not None:
        details["after"] = redact(after)
    details.update(extra)
    if target_id is not None and len(target_id) > TARGET_ID_MAX:  # e.g. a long vault key name: keep it whole here
        details["target_id"] = target_id
        target_id = target_id[: TARGET_ID_MAX - 1] + "…"
    db.session.add(
        AdminAuditLog(actor=actor, action=action, target_type=target_type, target_id=target_id, details=details or None)
    )
