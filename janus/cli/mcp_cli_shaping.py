"""`mcp-cli endpoint add|modify` shaping flags and `mcp-cli connection add|modify --redaction` (issue 15, item 3).

Kept apart from mcp_cli_catalog so the catalogue commands gain one decorator and one line each.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

SHAPING_FLAGS = "--projection --max-items --max-text-chars --table"
REDACTION_FLAG = "--redaction"
_REDACTION = {"on": True, "off": False, "default": None}


def shaping_options(command: Callable[..., Any]) -> Callable[..., Any]:
    options = (
        click.option(
            "--projection",
            help="JMESPath expression applied to JSON answers, e.g. 'items[].{id: id, name: name}' ('' removes it).",
        ),
        click.option("--max-items", type=int, help="At most this many array items per answer (0 removes the cap)."),
        click.option(
            "--max-text-chars", type=int, help="At most this many characters of text per answer (0 removes the cap)."
        ),
        click.option("--table", type=click.BOOL, help="true: show an array of objects as a Markdown table."),
    )
    for option in reversed(options):
        command = option(command)
    return command


def shaping_body(projection: str | None, max_items: int | None, max_text_chars: int | None, table: bool | None) -> dict:
    """The API fields of the flags given; '' and 0 clear (null), a flag not given is left out."""
    body: dict[str, Any] = {}
    if projection is not None:
        body["response_projection"] = projection or None
    if max_items is not None:
        body["max_items"] = max_items or None
    if max_text_chars is not None:
        body["max_text_chars"] = max_text_chars or None
    if table is not None:
        body["render_table"] = table
    return body


def redaction_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--redaction",
        type=click.Choice(sorted(_REDACTION)),
        help="Mask e-mails, card numbers, JWTs, cloud keys and IBANs in this connection's answers: "
        "on, off, or default (follow REDACTION_ENABLED).",
    )(command)


def redaction_body(redaction: str | None) -> dict:
    return {} if redaction is None else {"redaction": _REDACTION[redaction]}
