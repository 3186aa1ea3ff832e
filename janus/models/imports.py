"""Where an imported endpoint came from: the OpenAPI operation and a fingerprint of what it generated.

A re-import compares the new description's operations with these rows: an operation whose fingerprint
is unchanged is left alone (even if the admin edited the tool since), a changed one is shown as a diff
and applied only when approved, and a recorded operation that is gone is offered for removal.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from janus.extensions import Model
from janus.models._types import UTCDateTime, utcnow


class ImportedOperation(Model):
    __tablename__ = "imported_operations"

    endpoint_id: Mapped[str] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"), primary_key=True)
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"), index=True)
    operation_key: Mapped[str] = mapped_column(String(2100))  # "GET /pets/{petId}"
    fingerprint: Mapped[str] = mapped_column(String(64))  # sha256 of the generated definition
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
