"""CPU cost of DLP masking and response shaping (issue 15, item 3) per tool call.

to_call_result on a ~2 KB JSON answer: without DLP (the default), with DLP on a clean answer (the
pre-check only), with DLP on a dirty one (e-mails, a card number, an IBAN, a JWT: the walk and the
re-serialisation), and with a projection plus an item cap. In process, no network; bounded by --number.

    .venv/bin/python bench/dlp_cost.py --number 5000
"""

from __future__ import annotations

import argparse
import json
import timeit

from janus.gateway.content import UpstreamResponse, to_call_result
from janus.gateway.shaping import shaping_for
from tests.support import fake_credentials

JWT = fake_credentials.jwt()


def _clean() -> bytes:
    # Dates, amounts, ids and order numbers: what makes the pre-check's digit patterns look twice.
    items = [
        {"id": i, "name": f"customer {i}", "created": "2026-12-07T01:02:03Z", "order": f"ORD-{100000 + i}",
         "balance": 1234.5 + i, "active": True}
        for i in range(14)
    ]  # fmt: skip
    return json.dumps({"items": items, "next": "/v1/customers?page=2"}).encode()


def _dirty() -> bytes:
    items = [
        {"id": i, "name": f"customer {i}", "email": f"user{i}@example.com", "created": "2026-12-07T01:02:03Z",
         "balance": 1234.5 + i}
        for i in range(12)
    ]  # fmt: skip
    extra = {"card": "4111 1111 1111 1111", "iban": "GB29NWBK60161331926819", "token": JWT}
    return json.dumps({"items": items, "extra": extra}).encode()


def _us(fn, number: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=5000)
    n = parser.parse_args().number
    clean, dirty = _clean(), _dirty()
    print(f"bodies: clean {len(clean)} bytes, dirty {len(dirty)} bytes of JSON")
    shaping = shaping_for("items[].{id: id, name: name}", 5, None, False)
    cases = (
        ("clean, DLP off (default)", clean, None, False),
        ("clean, DLP on (pre-check only)", clean, None, True),
        ("dirty, DLP off", dirty, None, False),
        ("dirty, DLP on (masking)", dirty, None, True),
        ("clean, projection + item cap", clean, shaping, False),
        ("dirty, projection + item cap + DLP", dirty, shaping, True),
    )
    base = None
    for label, body, shape, redact in cases:
        response = UpstreamResponse(200, "OK", "application/json", body, shaping=shape, redact=redact)
        cost = _us(lambda: to_call_result(response, "2025-11-25"), n)  # noqa: B023 - _us calls it at once
        base = cost if base is None else base
        print(f"  to_call_result, {label}: {cost:.1f} µs ({cost - base:+.1f} µs)")


if __name__ == "__main__":
    main()
