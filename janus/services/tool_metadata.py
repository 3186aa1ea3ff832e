"""A tool's definition version (issue 15, item 2): bumped by every change to what tools/list serves for it.

What counts is the served definition itself (name, title, description, schemas, effective annotations, so
a method change that flips a derived hint counts too), compared by its hash: an edit of the enabled flag,
the path or the body template leaves the version, and the hash clients pinned, as they were.
"""

from __future__ import annotations

from typing import Any

from janus.gateway.tool_metadata import (
    ANNOTATION_HINTS,
    OUTPUT_POLICIES,
    definition_hash,
    derived_annotations,
    describe,
    effective_annotations,
)
from janus.models import Connection, Endpoint


def served_hash(prefix: str, fields: dict[str, Any]) -> str:
    """The definition hash tools/list would carry for an endpoint with these fields."""
    return definition_hash(
        describe(
            prefix + fields["tool_name"],
            fields.get("description") or "",
            fields["input_schema"],
            fields["method"],
            title=fields.get("title"),
            annotations=fields.get("annotations"),
            output_schema=fields.get("output_schema"),
        )
    )


def with_version(ep: Endpoint, fields: dict[str, Any]) -> dict[str, Any]:
    """`fields` (the endpoint as it will be), with definition_version bumped when the definition changes."""
    prefix = ep.connection.prefix
    before = {k: getattr(ep, k) for k in ("tool_name", "description", "input_schema", "method", "title")}
    before.update(annotations=ep.annotations, output_schema=ep.output_schema)
    if served_hash(prefix, before) != served_hash(prefix, fields):
        return {**fields, "definition_version": (ep.definition_version or 1) + 1}
    return fields


def bump_renamed(conn: Connection, prefix: str | None) -> None:
    """A new connection prefix renames every tool of the connection: each definition changes. Staged on the
    rows; the connection's update commits them (or its refusal rolls them back)."""
    if prefix is None or prefix == conn.prefix:
        return
    for ep in conn.endpoints:
        ep.definition_version = (ep.definition_version or 1) + 1


# For the adapters (the portal's editor), which reach the gateway's rules only through the services.
__all__ = [
    "ANNOTATION_HINTS",
    "OUTPUT_POLICIES",
    "derived_annotations",
    "effective_annotations",
    "bump_renamed",
    "served_hash",
    "with_version",
]
