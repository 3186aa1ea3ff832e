"""Flask CLI groups and the console scripts `mcp-gateway` and `mcp-cli`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # `mcp-cli` imports this package and must not pull in Flask
    from flask import Flask


def register_cli(app: Flask) -> None:
    from janus.cli.janus_group import janus_group
    from janus.cli.mcp_cli import mcp_cli
    from janus.cli.migrations import db_group

    app.cli.add_command(db_group)
    app.cli.add_command(janus_group)
    app.cli.add_command(mcp_cli)
