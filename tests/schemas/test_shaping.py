"""The shaping and masking fields' validation, as the admin API, the CLI and the portal share it."""

from __future__ import annotations

import pytest

from janus.schemas.base import InvalidInput, parse
from janus.schemas.connection import ConnectionUpdate
from janus.schemas.endpoint import EndpointUpdate


@pytest.mark.parametrize(
    "raw, stored", [(True, True), (False, False), (None, None), ("default", None), ("true", True), ("", None)]
)
def test_the_masking_override_is_true_false_or_null(raw, stored):
    assert parse(ConnectionUpdate, {"redaction": raw}) == {"redaction": stored}


@pytest.mark.parametrize("raw", ["sometimes", 1, [True]])
def test_anything_else_is_refused_by_name(raw):
    with pytest.raises(InvalidInput) as refused:
        parse(ConnectionUpdate, {"redaction": raw})
    assert refused.value.fields == {"redaction": "redaction must be true, false or null"}


def test_a_projection_is_stripped_blank_is_null_and_a_bad_one_quotes_the_parser():
    assert parse(EndpointUpdate, {"response_projection": "  items[0] "}) == {"response_projection": "items[0]"}
    assert parse(EndpointUpdate, {"response_projection": " "}) == {"response_projection": None}
    with pytest.raises(InvalidInput) as refused:
        parse(EndpointUpdate, {"response_projection": "items[?a=="})
    assert refused.value.fields["response_projection"].startswith(
        "response_projection is not a valid JMESPath expression: "
    )
