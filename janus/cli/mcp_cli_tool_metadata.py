"""`mcp-cli endpoint add|modify` options for tool metadata (issue 15, item 2): title, annotation hints,
output schema and its validation policy."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

HINTS = {  # option → MCP annotation
    "read_only": "readOnlyHint",
    "destructive": "destructiveHint",
    "idempotent": "idempotentHint",
    "open_world": "openWorldHint",
}
HINT_VALUES = click.Choice(["true", "false", "derived"], case_sensitive=False)
OPTIONS = "--title --read-only --destructive --idempotent --open-world --output-schema --output-validation"


def metadata_options(command: Callable) -> Callable:
    """The options, each None when not given (a PATCH then leaves the field as it is)."""
    options = [
        click.option("--title", help="Title shown by MCP clients ('' removes it)."),
        *(
            click.option(
                "--" + option.replace("_", "-"),
                option,
                type=HINT_VALUES,
                help=f"{hint}: true, false or derived (from the HTTP method).",
            )
            for option, hint in HINTS.items()
        ),
        click.option(
            "--output-schema",
            help="JSON Schema of the tool's structuredContent as a JSON string ('' removes it).",
        ),
        click.option(
            "--output-validation",
            type=click.Choice(["off", "lenient", "strict"]),
            help="off, lenient (log and pass; the default) or strict (a mismatch is a tool error).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def metadata_changes(meta: dict[str, Any], current: Callable[[], dict[str, Any] | None]) -> dict[str, Any]:
    """The API fields for the options given. A hint changes only itself: `current()` gives the annotations
    stored now (modify), which the given hints are laid over."""
    body: dict[str, Any] = {}
    if meta.get("title") is not None:
        body["title"] = meta["title"]
    given = {hint: meta[option] for option, hint in HINTS.items() if meta.get(option) is not None}
    if given:
        hints = dict(current() or {})
        for hint, value in given.items():
            if value.lower() == "derived":
                hints.pop(hint, None)
            else:
                hints[hint] = value.lower() == "true"
        body["annotations"] = hints or None
    schema = meta.get("output_schema")
    if schema is not None:
        if schema.strip():
            try:
                body["output_schema"] = json.loads(schema)
            except ValueError as exc:
                raise click.BadParameter(f"not valid JSON: {exc}", param_hint="'--output-schema'") from None
        else:
            body["output_schema"] = None
    if meta.get("output_validation") is not None:
        body["output_validation"] = meta["output_validation"]
    return body
