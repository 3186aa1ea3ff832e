"""The JSON admin API at /api/v1 (docs/admin-api.md): parse, call a service, render.

One module per resource registers its routes on `bp` (blueprint.py); `apidocs` holds the
OpenAPI document and serves it, with Swagger UI at /apidocs/, on a blueprint of its own.
"""

from __future__ import annotations

from janus.admin_api import (  # noqa: F401  (each module adds its resource's routes)
    _http,
    audit,
    auth,
    connections,
    endpoints,
    imports,
    status,
    tokens,
    users,
    vault,
)
from janus.admin_api.blueprint import bp

__all__ = ["bp"]
