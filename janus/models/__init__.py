"""Typed SQLAlchemy 2.0 models. No request access here."""

from janus.models.audit import AdminAuditLog, ToolCallLog
from janus.models.audit_rollups import AuditRollup, AuditRollupGap, AuditRollupLatency, AuditRollupState
from janus.models.catalog import Connection, Endpoint
from janus.models.imports import ImportedOperation
from janus.models.sessions import McpSession, PortalSession
from janus.models.state import CATALOG_COUNTER, CatalogChange, ChangeCounter, track_catalog_changes
from janus.models.tokens import ClientToken, KeyCheck, User

# The Alembic head this code expects; startup skips Alembic entirely when the
# database is already there (keeps `mcp-gateway -stdio` fast). A test keeps it
# equal to migrations/versions' head.
SCHEMA_REVISION = "0017_endpoint_header_params"

__all__ = [
    "AdminAuditLog",
    "AuditRollup",
    "AuditRollupGap",
    "AuditRollupLatency",
    "AuditRollupState",
    "CATALOG_COUNTER",
    "CatalogChange",
    "ChangeCounter",
    "ClientToken",
    "Connection",
    "Endpoint",
    "ImportedOperation",
    "KeyCheck",
    "McpSession",
    "PortalSession",
    "SCHEMA_REVISION",
    "ToolCallLog",
    "User",
    "track_catalog_changes",
]
