"""The portal's one blueprint; the page modules (auth, dashboard, connections …) add its routes."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("portal", __name__)
