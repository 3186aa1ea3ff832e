"""Importing an OpenAPI description: plan (added, changed, removed, unchanged, skipped), then apply what is approved.

The description is read once (janus.services.openapi_documents) and converted (janus.services.openapi_convert);
each proposal is matched with the connection's endpoints by the operation it came from (imported_operations).
An operation whose generated definition is unchanged since it was last applied is left alone, even if the admin
edited its tool since; a changed one shows a field-by-field diff against the live tool and is applied only when
selected and approved: an upstream change never alters a live tool by itself (tool-definition drift).

Applying is one transaction through the endpoint service (its checks and admin audit rows, a new connection's
too): everything is applied or nothing is. The commit changes the catalog, so MCP clients get
notifications/tools/list_changed.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app
from sqlalchemy import select

from janus.extensions import db
from janus.models import Connection, Endpoint, ImportedOperation
from janus.schemas.openapi_import import OpenApiImport
from janus.services import admin_audit, endpoints
from janus.services import connections as connections_service
from janus.services._common import change, refresh_catalog, valid_id, validated
from janus.services.errors import BAD_BODY, NotFound, ServiceError, ValidationError
from janus.services.off_loop import gevent_active
from janus.services.off_process import in_child
from janus.services.openapi_convert import Conversion, Proposal, convert
from janus.services.openapi_documents import Bundle, SpecError, bundle_from_body, bundle_from_texts, fetch, parse_text

T = TypeVar("T")

DEFINITION_FIELDS = (
    "tool_name",
    "description",
    "method",
    "path_template",
    "input_schema",
    "body_template",
    # Tool metadata (issue 15, item 2)
    "title",
    "output_schema",
    # Header parameters (janus/gateway/header_params.py): a header added, renamed or dropped is a change
    "header_params",
)


def run_import(actor: str, data: dict[str, Any]) -> dict[str, Any]:
    """import_openapi as the portal runs it: in a gevent worker, in a child process (see run_import_json)."""
    if not gevent_active():
        return import_openapi(actor, data)
    return _in_child(import_openapi, actor, data)


def run_import_json(actor: str, body: bytes) -> bytes:
    """import_openapi of a JSON request body, its plan as JSON: what the admin API answers.

    In a gevent worker all of it runs in a child process (janus.services.off_process): reading a large
    description (GitHub's: 13 MB, 1,200 operations), converting it, planning and applying the import are
    seconds of CPU that would otherwise be taken from the worker's tool calls; the worker only passes the
    bytes along and waits, cooperatively. The child writes to the same database; the change is then live here
    at once, and on the other workers at their next catalog check, as any change is."""
    if not gevent_active():
        return _import_json(actor, body)
    return _in_child(_import_json, actor, body)


def _import_json(actor: str, body: bytes) -> bytes:
    try:  # as the admin API's json_body: only an object
        data = json.loads(body)
    except (ValueError, RecursionError):
        data = None
    if not isinstance(data, dict):
        raise ServiceError(BAD_BODY)
    return current_app.json.dumps(import_openapi(actor, data)).encode()


def _in_child(fn: Callable[..., T], *args: Any) -> T:
    # The child builds its app from the environment the worker's came from, on this worker's database.
    result = in_child(fn, *args, app_config={"SQLALCHEMY_DATABASE_URI": current_app.config["SQLALCHEMY_DATABASE_URI"]})
    refresh_catalog()  # the child's change is live on this worker when the answer says it is applied
    return result


def import_openapi(actor: str, data: dict[str, Any]) -> dict[str, Any]:
    """Plan an import and, unless `dry_run`, apply the selected changes; the plan (and what was applied)."""
    request = validated(OpenApiImport, data)
    bundle = _bundle(request)
    conn = _connection(request)
    prefix = conn.prefix if conn is not None else request["prefix"]
    if prefix is None:
        raise ValidationError("give the tools' prefix (e.g. pet_) or the connection to import into", field="prefix")
    if conn is not None and request["prefix"] and request["prefix"] != conn.prefix:
        raise ValidationError(
            f"connection {conn.name!r} has the prefix {conn.prefix!r}, not {request['prefix']!r}", field="prefix"
        )
    if conn is not None and request["base_url"] and request["base_url"] != conn.base_url:
        raise ValidationError(
            f"connection {conn.name!r} calls {conn.base_url}; change its base URL on the connection, "
            "not through an import",
            field="base_url",
        )
    conversion = convert(bundle, prefix, request["base_url"])
    new_connection = None
    if conn is None:
        new_connection = _new_connection(request, conversion)
    items = _plan(conversion, conn, prefix)
    approve = set(request["approve"]) if request["approve"] is not None else None
    unknown = sorted(approve - {i["key"] for i in items}) if approve is not None else []
    if unknown:  # a preview of another description (or a typo): apply nothing rather than a guess
        raise ValidationError(
            f"approve names operations that are not in this plan: {', '.join(unknown[:5])}", field="approve"
        )
    for item in items:
        item["selected"] = (
            item["status"] in ("added", "changed", "removed")
            and _matches(item, request["include"], request["exclude"])
            and (approve is None or item["key"] in approve)
        )
    applied: list[str] = []
    if not request["dry_run"] and any(i["selected"] for i in items):
        conn = _apply(actor, conn, new_connection, items, conversion)
        applied = [i["key"] for i in items if i["selected"]]
    counts = {s: sum(1 for i in items if i["status"] == s) for s in ("added", "changed", "removed", "unchanged")}
    counts["skipped"] = len(conversion.skipped)
    counts["selected"] = sum(1 for i in items if i["selected"])
    return {
        "dry_run": request["dry_run"],
        "applied": applied,
        "connection": _connection_view(conn, new_connection, conversion),
        "source": {
            "title": conversion.title,
            "version": conversion.version,
            "openapi": conversion.spec_version,
            "operations": len(conversion.proposals) + len(conversion.skipped),
            "url": bundle.source_url,
        },
        "suggested_auth": conversion.suggested_auth,
        "counts": counts,
        "items": [{k: v for k, v in item.items() if not k.startswith("_")} for item in items],
        "skipped": [
            {"key": s.key, "operation_id": s.operation_id, "tags": s.tags, "reason": s.reason}
            for s in conversion.skipped
            if _matches(
                {"key": s.key, "operation_id": s.operation_id, "tags": s.tags, "tool_name": "", "exposed_name": ""},
                request["include"],
                request["exclude"],
            )
        ],
    }


# -- reading -------------------------------------------------------------------------


def fetch_description(url: str) -> str:
    """The text at `url`, fetched once through the egress policy: the portal previews and applies this text,
    so what the admin approved is what is imported, whatever the URL serves later."""
    from janus.services.openapi_documents import fetch

    try:
        body, _ = fetch(url, current_app.config.get("EGRESS_ALLOWLIST") or ())
        return body.decode("utf-8-sig")
    except SpecError as exc:
        raise ValidationError(exc.message, field="url") from None
    except UnicodeDecodeError:
        raise ValidationError("the description at url is not UTF-8 text", field="url") from None


def _bundle(request: dict[str, Any]) -> Bundle:
    given = [k for k in ("spec", "files", "url") if request[k] is not None]
    if len(given) != 1:
        raise ValidationError("give exactly one of spec (the description), files (a bundle) or url", field="spec")
    try:
        if request["url"] is not None:
            body, final_url = fetch(request["url"], current_app.config.get("EGRESS_ALLOWLIST") or ())
            return bundle_from_body(body, final_url)
        if request["files"] is not None:
            return bundle_from_texts(request["files"], request["main"])
        spec = request["spec"]
        if isinstance(spec, dict):
            return Bundle({"description": spec}, "description")
        return Bundle({"description": parse_text(spec, "the description")}, "description")
    except SpecError as exc:
        raise ValidationError(exc.message, field=exc.field or given[0]) from None


def _connection(request: dict[str, Any]) -> Connection | None:
    """The connection named by id, else the one with this prefix (a re-import), else None (a new one)."""
    if request["connection_id"]:
        conn = db.session.get(Connection, request["connection_id"]) if valid_id(request["connection_id"]) else None
        if conn is None:
            raise NotFound(f"connection {request['connection_id']!r} not found")
        return conn
    if request["prefix"]:
        return db.session.scalar(select(Connection).where(Connection.prefix == request["prefix"]))
    return None


def _new_connection(request: dict[str, Any], conversion: Conversion) -> dict[str, Any]:
    if not conversion.base_url:
        raise ValidationError(
            "the description names no absolute server URL; give base_url (--base-url)", field="base_url"
        )
    return {
        "name": request["name"] or conversion.title,
        "base_url": conversion.base_url,
        "prefix": request["prefix"],
        "description": f"Imported from the OpenAPI description {conversion.title!r} {conversion.version}".strip(),
    }


def _connection_view(conn: Connection | None, new: dict[str, Any] | None, conversion: Conversion) -> dict[str, Any]:
    if conn is not None:
        return {
            "id": conn.id,
            "name": conn.name,
            "prefix": conn.prefix,
            "base_url": conn.base_url,
            "new": new is not None,
        }
    assert new is not None
    return {"id": None, "name": new["name"], "prefix": new["prefix"], "base_url": new["base_url"], "new": True}


# -- the plan --------------------------------------------------------------------------


def _plan(conversion: Conversion, conn: Connection | None, prefix: str) -> list[dict[str, Any]]:
    recorded: dict[str, tuple[ImportedOperation, Endpoint]] = {}
    records_by_endpoint: dict[str, ImportedOperation] = {}
    by_name: dict[str, Endpoint] = {}
    if conn is not None:
        by_id: dict[str, Endpoint] = {}
        for row in db.session.scalars(select(Endpoint).where(Endpoint.connection_id == conn.id)):
            by_id[row.id] = by_name[row.tool_name] = row
        for op in db.session.scalars(select(ImportedOperation).where(ImportedOperation.connection_id == conn.id)):
            if op.endpoint_id in by_id:
                recorded[op.operation_key] = (op, by_id[op.endpoint_id])
                records_by_endpoint[op.endpoint_id] = op
    items: list[dict[str, Any]] = []
    seen: set[str] = set()
    matched: set[str] = set()  # endpoints a proposal takes over: never also offered for removal
    live_keys = {p.key for p in conversion.proposals}
    for proposal in conversion.proposals:
        seen.add(proposal.key)
        found = recorded.get(proposal.key)
        ep = found[1] if found else by_name.get(proposal.tool_name)
        other = records_by_endpoint.get(ep.id) if ep is not None and not found else None
        if other is not None and other.operation_key in live_keys:
            ep = None  # the name belongs to another operation still in the description: this one is new
        if ep is not None:
            matched.add(ep.id)
        diff: list[dict[str, Any]] = []
        if ep is None:
            status, diff = "added", []
        elif found and found[0].fingerprint == proposal.fingerprint:
            status, diff = "unchanged", []
        else:
            diff = _diff(ep, proposal)
            status = "changed" if diff or not found else "unchanged"
        items.append(_item(proposal.key, status, proposal, prefix, ep, diff))
        items[-1]["_record"] = found[0] if found else (records_by_endpoint.get(ep.id) if ep is not None else None)
    for key, (_, ep) in recorded.items():
        if key not in seen and ep.id not in matched:
            items.append(
                {
                    "key": key,
                    "status": "removed",
                    "operation_id": None,
                    "tags": [],
                    "tool_name": ep.tool_name,
                    "exposed_name": prefix + ep.tool_name,
                    "method": ep.method,
                    "path_template": ep.path_template,
                    "endpoint_id": ep.id,
                    "selected": False,
                    "notes": ["the operation is no longer in the description (or can no longer be imported)"],
                    "diff": [],
                    "_proposal": None,
                    "_endpoint": ep,
                    "_record": None,
                }
            )
    return items


def _item(
    key: str, status: str, proposal: Proposal, prefix: str, ep: Endpoint | None, diff: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "key": key,
        "status": status,
        "operation_id": proposal.operation_id,
        "tags": proposal.tags,
        "tool_name": proposal.tool_name,
        "exposed_name": prefix + proposal.tool_name,
        "method": proposal.method,
        "path_template": proposal.path_template,
        "endpoint_id": ep.id if ep is not None else None,
        "selected": False,
        "notes": proposal.notes,
        "diff": diff,
        "_proposal": proposal,
        "_endpoint": ep,
    }


def _diff(ep: Endpoint, proposal: Proposal) -> list[dict[str, Any]]:
    new = proposal.definition()
    return [
        {"field": field, "old": getattr(ep, field), "new": new[field]}
        for field in DEFINITION_FIELDS
        if getattr(ep, field) != new[field]
    ]


def _matches(item: dict[str, Any], include: list[str], exclude: list[str]) -> bool:
    """A glob on the tool name, exposed name, operationId, key or path; or a tag, exactly (any letter case)."""

    def hit(pattern: str) -> bool:
        tags = {t.casefold() for t in item.get("tags") or []}
        if pattern.casefold() in tags:
            return True
        path = item["key"].split(" ", 1)[-1]
        names = (item.get("tool_name"), item.get("exposed_name"), item.get("operation_id"), item["key"], path)
        return any(n and fnmatch.fnmatchcase(n, pattern) for n in names)

    if include and not any(hit(p) for p in include):
        return False
    return not any(hit(p) for p in exclude)


# -- applying ------------------------------------------------------------------------


def _apply(
    actor: str,
    conn: Connection | None,
    new_connection: dict[str, Any] | None,
    items: list[dict[str, Any]],
    conversion: Conversion,
) -> Connection:
    taken = endpoints.taken_tool_names()
    selected = [i for i in items if i["selected"]]
    with change("the import conflicts with existing data"):
        if conn is None:
            assert new_connection is not None
            conn = connections_service.stage_create_connection(actor, new_connection)
        new_records: list[ImportedOperation] = []
        # Staged, then written in one flush: the database's write lock is held from that flush to the commit
        # only (on SQLite every other writer waits meanwhile).
        for item in selected:
            try:
                record = _apply_item(actor, conn, item, taken)
            except ValidationError as exc:
                exc.message = f"{item['key']} ({item['exposed_name']}): {exc.message}"
                raise
            if record is not None:
                new_records.append(record)
        # The new endpoints first (one flush for the batch), then the rows that point at them.
        db.session.flush()
        db.session.add_all(new_records)
        admin_audit.record(
            actor,
            "openapi.import",
            "connection",
            conn.id,
            after={
                "source": conversion.title,
                "version": conversion.version,
                "applied": {s: sum(1 for i in selected if i["status"] == s) for s in ("added", "changed", "removed")},
            },
        )
    return conn


def _apply_item(actor: str, conn: Connection, item: dict[str, Any], taken: dict[str, str]) -> ImportedOperation | None:
    """Stage one approved item; a new source row to add once the endpoints are written, or None."""
    proposal: Proposal | None = item["_proposal"]
    ep: Endpoint | None = item["_endpoint"]
    if item["status"] == "removed":
        assert ep is not None
        endpoints.stage_delete_endpoint(actor, ep, taken)  # its source row goes with it (ON DELETE CASCADE)
        return None
    assert proposal is not None
    if ep is None:
        ep = endpoints.stage_create_endpoint(actor, conn, proposal.definition(), taken)
    else:
        endpoints.stage_update_endpoint(actor, ep, proposal.definition(), taken)
    record: ImportedOperation | None = item["_record"]
    if record is None:
        return ImportedOperation(
            endpoint_id=ep.id, connection_id=conn.id, operation_key=proposal.key, fingerprint=proposal.fingerprint
        )
    record.operation_key = proposal.key
    record.fingerprint = proposal.fingerprint
    return None
