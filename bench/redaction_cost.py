"""CPU cost of redacting reflected credentials (issue 10 item 3) on a typical 2 KB JSON response.

Compares to_call_result without credentials against the same call with a Bearer and a Basic
redactor, plus the redactor alone on clean text, on text full of escapes and on text that
holds the credential. In process, no network; bounded by --number.

    .venv/bin/python bench/redaction_cost.py --number 20000
"""

from __future__ import annotations

import argparse
import base64
import json
import timeit

from janus.gateway.content import UpstreamResponse, to_call_result
from janus.gateway.redaction import NOTHING, Redactor, redactor_for

BEARER = "Bearer sk_live_4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c"
BASIC = "Basic " + base64.b64encode(b"service-user:pa55word-9c1d-long").decode()


def _body(extra: str = "") -> bytes:
    items = [
        {"id": i, "name": f"customer {i}", "email": f"user{i}@example.com", "balance": 1234.5 + i, "active": True}
        for i in range(21)
    ]
    return json.dumps({"items": items, "next": "/v1/customers?page=2", "note": extra}).encode()


def _us(fn, number: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=20000)
    n = parser.parse_args().number
    clean = _body()
    escaped = _body("a&b=%20%2F \\u00e9 \\\\ \\/ " * 8)
    print(f"body: {len(clean)} bytes of JSON (escapes variant: {len(escaped)} bytes)")
    for name, credential in (("bearer", BEARER), ("basic", BASIC)):
        redactor = redactor_for((credential,))
        echoed = _body(f"you sent {credential}")
        for label, body in (("clean", clean), ("escapes", escaped), ("holds the credential", echoed)):
            text = body.decode()
            print(f"  Redactor.text, {name}, {label}: {_us(lambda: redactor.text(text), n):.1f} µs")  # noqa: B023 - _us calls it at once
    for name, redactor in (
        ("no credentials", NOTHING),
        ("bearer", redactor_for((BEARER,))),
        ("basic", redactor_for((BASIC,))),
    ):
        response = UpstreamResponse(200, "OK", "application/json", clean, redactor=redactor)
        print(f"  to_call_result, 2 KB JSON, {name}: {_us(lambda: to_call_result(response, '2025-11-25'), n):.1f} µs")  # noqa: B023 - _us calls it at once
    print(f"  redactor_for, cache hit: {_us(lambda: redactor_for((BEARER,)), n):.2f} µs")
    print(f"  Redactor build (once per credential value): {_us(lambda: Redactor((BEARER,)), 200):.0f} µs")


if __name__ == "__main__":
    main()
