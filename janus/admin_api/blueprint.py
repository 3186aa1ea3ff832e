"""The admin API's one blueprint, at /api/v1; the resource modules (connections, tokens …) add its routes."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("admin_api", __name__, url_prefix="/api/v1")
