"""`mcp-cli import openapi <file|url> --prefix p_ …`: an OpenAPI description → a connection's endpoints.

The CLI only reads the file (and, when it refers to other files, the description files beside it) and sends it
to POST /api/v1/import/openapi; a URL is sent as is, for the gateway to fetch once through its egress policy.
stdout carries the plan (or the API's JSON with --json); the summary goes to stderr.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import click

from janus.cli.mcp_cli_catalog import emit_json, json_flag, note
from janus.cli.mcp_cli_render import table
from janus.cli.mcp_cli_session import CliError, Settings

IMPORT_TIMEOUT = 600.0  # a 1,000-operation description is applied in seconds; a slow gateway gets room
MAX_BUNDLE_FILES = 200
# A $ref to another file ("schemas.yaml#/Pet"), not within the document ("#/components/…").
_EXTERNAL_REF = re.compile(r"""["']?\$ref["']?\s*:\s*["']?(?!#)[^"'\s#]""")
SPEC_SUFFIXES = (".json", ".yaml", ".yml")


@click.group("import", help="Import tools from an API description.")
def import_group() -> None:
    pass


@import_group.command(
    "openapi",
    help="Import an OpenAPI 3.0/3.1 or Swagger 2.0 description (JSON or YAML; a file or an http(s) URL): one tool "
    "per operation. Run with --dry-run first to see the plan; a re-import shows what changed.",
)
@click.argument("source")
@click.option(
    "--prefix", help="Tool name prefix ending in '_' (a new connection's, or to find the one to re-import into)."
)
@click.option("--name", help="Connection name (default: the description's title).")
@click.option("--conn-id", help="Import into this existing connection.")
@click.option("--base-url", help="Base URL instead of the description's server URL.")
@click.option(
    "--include",
    multiple=True,
    help="Only operations matching this glob (tool name, operationId, path) or tag; repeatable.",
)
@click.option("--exclude", multiple=True, help="Leave out operations matching this glob or tag; repeatable.")
@click.option("--dry-run", is_flag=True, help="Show the plan; change nothing.")
@json_flag
@click.pass_obj
def import_openapi(settings: Settings, source, prefix, name, conn_id, base_url, include, exclude, dry_run) -> None:
    if not prefix and not conn_id:
        raise click.UsageError("give --prefix (e.g. --prefix pet_) or --conn-id")
    body: dict[str, Any] = dict(_source(source))
    body.update(
        {
            k: v
            for k, v in {
                "prefix": prefix,
                "name": name,
                "connection_id": conn_id,
                "base_url": base_url,
                "include": list(include) or None,
                "exclude": list(exclude) or None,
                "dry_run": dry_run,
            }.items()
            if v is not None
        }
    )
    plan = settings.api().json("POST", "/api/v1/import/openapi", json_body=body, timeout=IMPORT_TIMEOUT)
    if settings.json_output:
        return emit_json(plan)
    _print_plan(plan)


def _source(source: str) -> dict[str, Any]:
    if source.startswith(("http://", "https://")):
        return {"url": source}
    path = Path(source)
    if not path.is_file():
        raise CliError(f"{source}: no such file (give a description file or an http(s):// URL)")
    text = _read(path)
    if not _EXTERNAL_REF.search(text):
        return {"spec": text}
    # References to other files: send the description files beside it (and below) as a bundle.
    root = path.parent
    files = {path.name: text}
    for other in sorted(root.rglob("*")):
        if other.suffix.lower() in SPEC_SUFFIXES and other.is_file() and other != path:
            files[other.relative_to(root).as_posix()] = _read(other)
            if len(files) > MAX_BUNDLE_FILES:
                raise CliError(
                    f"{root} holds more than {MAX_BUNDLE_FILES} description files; put the bundle alone in a folder"
                )
    return {"files": files, "main": path.name}


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"{path}: cannot read it as UTF-8 text ({exc})") from None


def _short(value: Any, width: int = 70) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _print_plan(plan: dict[str, Any]) -> None:
    items = [i for i in plan["items"] if i["status"] != "unchanged" or i["selected"]]
    if items:
        click.echo(
            table(
                ("Status", "Apply", "Tool", "Method", "Path", "Operation"),
                [
                    (
                        i["status"],
                        "yes" if i["selected"] else "no",
                        i["exposed_name"],
                        i["method"],
                        i["path_template"],
                        i["key"],
                    )
                    for i in items
                ],
            )
        )
    for item in items:
        for change in item["diff"]:
            click.echo(
                f"  {item['exposed_name']}: {change['field']}: {_short(change['old'])} → {_short(change['new'])}"
            )
        for text in item["notes"]:
            click.echo(f"  {item['exposed_name']}: note: {text}")
    for skipped in plan["skipped"]:
        click.echo(f"skipped {skipped['key']}: {skipped['reason']}")
    counts, conn = plan["counts"], plan["connection"]
    summary = ", ".join(f"{counts[k]} {k}" for k in ("added", "changed", "removed", "unchanged", "skipped"))
    auth = plan.get("suggested_auth")
    if auth:
        note(
            f"Suggested auth for {conn['name']!r}: {auth['auth_type']} ({auth.get('note', '')}); the secret is never in a description"
        )
    if plan["dry_run"]:
        note(f"Dry run ({summary}): nothing changed; {counts['selected']} change(s) would be applied.")
    elif plan["applied"]:
        note(f"Applied {len(plan['applied'])} change(s) to connection {conn['name']!r} ({conn['id']}); {summary}.")
    else:
        note(f"Nothing to apply ({summary}).")


def register(group: click.Group) -> None:
    group.add_command(import_group)
