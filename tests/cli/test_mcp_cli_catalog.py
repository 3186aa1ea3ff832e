"""mcp-cli's secret input: the first line of stdin when stdin is not a terminal."""

from __future__ import annotations

import warnings

import pytest
from click.testing import CliRunner

from janus.cli.mcp_cli_catalog import read_secret
from janus.cli.mcp_cli_session import CliError


def test_a_secret_is_the_first_line_of_stdin_read_without_deprecated_click_calls():
    # click.get_text_stream warns from Click 8.5 and is gone in 9: the read must not depend on it.
    with CliRunner().isolation(input="s3cret value\r\nsecond line\n"), warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_secret("Secret value") == "s3cret value"


def test_an_empty_stdin_is_refused():
    with CliRunner().isolation(input=""), pytest.raises(CliError, match="no secret value on stdin"):
        read_secret("Secret value")
