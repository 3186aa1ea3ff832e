"""tools/list's title, annotations, outputSchema and definition hash (janus/gateway/tool_metadata.py)."""

from __future__ import annotations

import dataclasses

import pytest

from janus.gateway.catalog import CatalogSnapshot, tool_descriptor
from janus.gateway.tool_metadata import (
    DEFINITION_HASH_META_KEY,
    DEFINITION_VERSION_META_KEY,
    derived_annotations,
    effective_annotations,
)
from tests.gateway.conftest import make_tool
from tests.support.backend import backend_over, call_context

OUT = {"type": "object", "properties": {"id": {"type": "integer"}}}


@pytest.mark.parametrize(
    ("method", "read_only", "destructive", "idempotent"),
    [
        ("GET", True, False, True),
        ("HEAD", True, False, True),
        ("POST", False, False, False),
        ("PUT", False, True, True),
        ("PATCH", False, True, False),
        ("DELETE", False, True, True),
    ],
)
def test_hints_derive_from_the_method(method, read_only, destructive, idempotent):
    assert derived_annotations(method) == {
        "readOnlyHint": read_only,
        "destructiveHint": destructive,
        "idempotentHint": idempotent,
        "openWorldHint": True,
    }


def test_explicit_hints_override_only_themselves():
    hints = effective_annotations("DELETE", {"destructiveHint": False, "openWorldHint": False})
    assert hints == {"readOnlyHint": False, "destructiveHint": False, "idempotentHint": True, "openWorldHint": False}


def test_the_descriptor_carries_title_output_schema_and_the_hash_in_meta():
    tool = dataclasses.replace(make_tool("http://127.0.0.1:9"), title="Get a thing", output_schema=OUT)
    described = tool_descriptor(tool)
    assert described["title"] == "Get a thing" and described["outputSchema"] == OUT
    assert described["annotations"]["readOnlyHint"] is True
    assert described["_meta"][DEFINITION_VERSION_META_KEY] == 1
    assert described["_meta"][DEFINITION_HASH_META_KEY].startswith("sha256:")
    assert "title" not in tool_descriptor(make_tool("http://127.0.0.1:9"))  # none set: none served


def test_the_hash_moves_with_the_definition_and_not_with_anything_else():
    base = make_tool("http://127.0.0.1:9")

    def digest(tool):
        return tool_descriptor(tool)["_meta"][DEFINITION_HASH_META_KEY]

    same = [
        dataclasses.replace(base, path_template="/other/{{id}}"),
        dataclasses.replace(base, output_validation="strict"),
        dataclasses.replace(base, connection=dataclasses.replace(base.connection, timeout_seconds=1.0)),
    ]
    changed = [
        dataclasses.replace(base, description="new words"),
        dataclasses.replace(base, title="A title"),
        dataclasses.replace(base, output_schema=OUT),
        dataclasses.replace(base, annotations={"openWorldHint": False}),
        dataclasses.replace(base, input_schema={"type": "object", "properties": {"id": {"type": "string"}}}),
        dataclasses.replace(base, method="DELETE"),  # the derived hints change
        dataclasses.replace(base, name="billing_other"),
    ]
    assert {digest(t) for t in same} == {digest(base)}
    assert len({digest(t) for t in changed} | {digest(base)}) == len(changed) + 1


@pytest.mark.parametrize(
    ("version", "has_metadata"),
    [("2024-11-05", False), ("2025-03-26", False), ("2025-06-18", True), ("2025-11-25", True), ("2026-07-28", True)],
)
def test_clients_before_2025_06_18_get_tools_without_the_fields_they_do_not_know(version, has_metadata):
    tool = dataclasses.replace(make_tool("http://127.0.0.1:9"), title="T", output_schema=OUT)
    backend = backend_over([tool], lambda: None, lambda record: None)
    [listed] = backend.list_tools(call_context(protocol_version=version)).tools
    assert ("title" in listed, "outputSchema" in listed, "_meta" in listed) == (has_metadata,) * 3
    assert listed["annotations"] == derived_annotations("GET")  # annotations exist since 2025-03-26


def test_the_older_listing_is_built_once_per_snapshot():
    snapshot = CatalogSnapshot(version=1, tools=(make_tool("http://127.0.0.1:9"),), tokens={})
    listing = snapshot.listing(None)
    assert listing.tools_for("2024-11-05") is listing.tools_for("2025-03-26")
    assert listing.tools_for("2025-11-25") is listing.tools
