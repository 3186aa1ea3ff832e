"""`mcp-cli`: the remote admin client. It speaks only HTTP to the admin API.

The commands land with the admin API; this group exists so the console script
is installed and says so clearly.
"""
from __future__ import annotations

import click


@click.group(name="mcp-cli", help="Janus admin client (talks to a gateway's admin API over HTTP).")
def mcp_cli() -> None:
    pass


def main() -> None:
    mcp_cli(prog_name="mcp-cli")
