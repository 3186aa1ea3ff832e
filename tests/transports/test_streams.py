"""ListChangedTracker: which catalogue a notification stream compares against (no app needed)."""

from __future__ import annotations

from janus.gateway.catalog import Catalog, CatalogSnapshot, Principal
from janus.gateway.specs import ConnectionSpec, ToolSpec
from janus.transports.streams import ListChangedTracker

CONN = ConnectionSpec(id="c", name="C", base_url="http://127.0.0.1:9")


def _tool(name: str) -> ToolSpec:
    return ToolSpec(name=name, endpoint_id=name, description=name, method="GET", path_template="/x", connection=CONN)


def test_a_stream_opened_right_after_a_change_takes_the_changed_catalogue_as_its_baseline():
    """The process's catalogue may be up to CATALOG_REFRESH_SECONDS old when a stream opens. Had the
    stream taken that as its baseline, a tool added just before (and already listed to the client by
    another worker) and removed again would change nothing it could see: no list_changed."""
    tools = {1: (_tool("a"),), 2: (_tool("a"), _tool("b")), 3: (_tool("a"),)}
    version = [1]
    clock = [0.0]
    catalog = Catalog(
        lambda: CatalogSnapshot(version=version[0], tools=tools[version[0]], tokens={}),
        lambda: version[0],
        refresh_seconds=0.5,
        clock=lambda: clock[0],
    )
    assert [t.name for t in catalog.current().tools] == ["a"]  # cached until t=0.5
    version[0] = 2  # "b" added by another process
    tracker = ListChangedTracker(catalog, Principal(token_hash=None))
    version[0] = 3  # and removed again
    clock[0] = 1.0
    assert tracker.notification() is not None
    assert tracker.notification() is None  # reported once
