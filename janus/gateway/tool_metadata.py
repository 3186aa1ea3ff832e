"""What tools/list says about a tool beyond its name and input: title, annotations, outputSchema, and the
definition hash clients pin (issue 15, item 2).

Annotation hints the admin did not set derive from the HTTP method, so a tool stored before metadata
existed is still described sensibly. The hash covers the definition as served (name, title, description,
both schemas, annotations): a client that pinned it sees any change, and nothing else moves it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from janus.mcp import versions

ANNOTATION_HINTS = ("readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint")
OUTPUT_POLICIES = ("off", "lenient", "strict")
# Tool.title, Tool.outputSchema and Tool._meta arrived in 2025-06-18: older clients get the tool without them.
METADATA_SINCE = "2025-06-18"
# _meta keys take a reverse-DNS prefix; io.modelcontextprotocol/ is the spec's own.
DEFINITION_HASH_META_KEY = "io.janus/definition-hash"
DEFINITION_VERSION_META_KEY = "io.janus/definition-version"
_SINCE_METADATA = ("title", "outputSchema", "_meta")


def derived_annotations(method: str) -> dict[str, bool]:
    """The hints an HTTP method implies (RFC 9110 safe and idempotent methods). Every tool calls a remote
    API, so openWorldHint is true. A POST adds (not destructive); PUT, PATCH and DELETE may overwrite."""
    method = method.upper()
    return {
        "readOnlyHint": method in ("GET", "HEAD"),
        "destructiveHint": method in ("PUT", "PATCH", "DELETE"),
        "idempotentHint": method in ("GET", "HEAD", "PUT", "DELETE"),
        "openWorldHint": True,
    }


def effective_annotations(method: str, overrides: dict[str, Any] | None) -> dict[str, bool]:
    """The derived hints with the admin's explicit ones (true or false) laid over them."""
    hints = derived_annotations(method)
    for key, value in (overrides or {}).items():
        if key in hints and isinstance(value, bool):
            hints[key] = value
    return hints


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def definition_hash(descriptor: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of the served definition (its `_meta` aside)."""
    served = {k: v for k, v in descriptor.items() if k != "_meta"}
    return "sha256:" + hashlib.sha256(canonical_json(served).encode("utf-8")).hexdigest()


def describe(
    name: str,
    description: str,
    input_schema: dict[str, Any],
    method: str,
    *,
    title: str | None = None,
    annotations: dict[str, Any] | None = None,
    output_schema: dict[str, Any] | None = None,
    version: int = 1,
) -> dict[str, Any]:
    """The MCP Tool object, with the definition hash and version in `_meta`."""
    descriptor: dict[str, Any] = {"name": name}
    if title:
        descriptor["title"] = title
    descriptor["description"] = description
    descriptor["inputSchema"] = input_schema
    if output_schema is not None:
        descriptor["outputSchema"] = output_schema
    descriptor["annotations"] = effective_annotations(method, annotations)
    descriptor["_meta"] = {DEFINITION_HASH_META_KEY: definition_hash(descriptor), DEFINITION_VERSION_META_KEY: version}
    return descriptor


def knows_metadata(protocol_version: str) -> bool:
    return versions.at_least(protocol_version, METADATA_SINCE)


def without_metadata(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tools as a client before METADATA_SINCE knows them."""
    return [{k: v for k, v in t.items() if k not in _SINCE_METADATA} for t in tools]
