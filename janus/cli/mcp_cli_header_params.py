"""`mcp-cli endpoint add|modify` flags for header parameters: tool arguments sent as request headers, and
fixed headers (janus/gateway/header_params.py). The names' rules are the gateway's; these flags only parse.

    --header-param x_request_id=X-Request-Id      the argument x_request_id is sent as the header X-Request-Id
    --fixed-header X-Api-Version=2022-11-28       this header and value on every call
    --no-header-params                            none (modify: removes them all)

Given on `modify`, --header-param and --fixed-header replace the endpoint's whole list (give every entry
you want to keep); without any of the three, the list is left as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])
HEADER_FLAGS = "--header-param --fixed-header --no-header-params"


def header_param_options(command: F) -> F:
    command = click.option(
        "--no-header-params",
        "no_header_params",
        is_flag=True,
        default=False,
        help="Send no header parameters (modify: remove them all).",
    )(command)
    command = click.option(
        "--fixed-header",
        "fixed_headers",
        multiple=True,
        metavar="HEADER=VALUE",
        help="A header sent with this value on every call, e.g. X-Api-Version=2022-11-28; repeatable.",
    )(command)
    return click.option(
        "--header-param",
        "header_params",
        multiple=True,
        metavar="ARGUMENT=HEADER",
        help="Send the tool argument ARGUMENT (a property of --schema) as the request header HEADER, and not in "
        "the query or body, e.g. x_request_id=X-Request-Id; repeatable. On modify these (with --fixed-header) "
        "replace the endpoint's list.",
    )(command)


def _pair(text: str, option: str, example: str) -> tuple[str, str]:
    left, sep, right = text.partition("=")
    if not sep or not left.strip() or (option == "--header-param" and not right.strip()):
        raise click.BadParameter(f"{text!r} is not of the form {example}", param_hint=f"'{option}'")
    return left.strip(), right if option == "--fixed-header" else right.strip()


def header_params_body(header_params: tuple[str, ...], fixed_headers: tuple[str, ...], none: bool) -> dict:
    """The API field for the flags given; nothing when none of them is."""
    if none:
        if header_params or fixed_headers:
            raise click.UsageError("--no-header-params cannot be combined with --header-param or --fixed-header")
        return {"header_params": None}
    if not header_params and not fixed_headers:
        return {}
    entries: list[dict[str, str]] = []
    for text in header_params:
        argument, header = _pair(text, "--header-param", "ARGUMENT=Header-Name (e.g. x_request_id=X-Request-Id)")
        entries.append({"argument": argument, "header": header})
    for text in fixed_headers:
        header, value = _pair(text, "--fixed-header", "Header-Name=value (e.g. X-Api-Version=2022-11-28)")
        entries.append({"header": header, "value": value})
    return {"header_params": entries}
