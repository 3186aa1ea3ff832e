"""The names of Janus's built-in admin tools (janus.services.admin_tools serves them).

Apart from the tools themselves so that the connection services can tell which scopes of an admin token
still match something when a connection's tools go (janus.services.connection_impact) without importing
the admin tools, which call the connection services. tests/services/test_admin_tools.py keeps the two equal.
"""

from __future__ import annotations

NAMES: tuple[str, ...] = (
    "admin_add_connection",
    "admin_add_endpoint",
    "admin_delete_connection",
    "admin_delete_endpoint",
    "admin_list_audit_logs",
    "admin_list_connections",
    "admin_list_endpoints",
    "admin_list_tokens",
    "admin_list_vault_keys",
    "admin_modify_connection",
    "admin_set_vault_secret",
    "admin_status",
)
