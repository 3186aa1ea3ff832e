"""When a tool call's upstream request is sent again, and how long to wait first.

Only idempotent methods (GET, HEAD, PUT, DELETE, OPTIONS: RFC 9110 §9.2.2) are retried, so repeating one
cannot act twice; POST and PATCH never are. Only failures that say nothing reached a handler, or that the
upstream asks to be tried again: a refused or reset connection, a connect timeout, a cut response, and the
statuses 502, 503 and 504 (and 429 when its Retry-After fits in the time left). Never once the client has
cancelled. All attempts and the waits between them live inside the call's one deadline (the endpoint's
timeout, else the connection's): a retry that could not finish in time is not started.

A delta-seconds Retry-After on a 502/503/504 replaces the backoff (the upstream knows best), if it fits.
The wait is otherwise exponential backoff with full jitter (uniform between 0 and BASE * 2^(attempt-1), capped at CAP):
clients retrying together spread out instead of hitting a recovering upstream in waves.
"""

from __future__ import annotations

import random

IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
RETRY_STATUSES = frozenset({502, 503, 504})
TOO_MANY_REQUESTS = 429
# UpstreamError kinds after which the request did not reach a handler, or was cut off: "timeout" is retried
# only when time is left (a read timeout uses up the deadline, so in practice only a connect timeout).
RETRY_KINDS = frozenset({"refused", "protocol", "timeout"})
BASE = 0.1  # seconds: the first retry waits up to 100 ms
CAP = 2.0  # seconds: no single wait is longer
MAX_RETRIES = 5  # the schema's upper bound for a connection's retry count

_random = random.SystemRandom()  # no shared seeded state across forked workers


def backoff(attempt: int) -> float:
    """Seconds to wait before retry number `attempt` (1 for the first retry): full jitter."""
    return _random.uniform(0.0, min(CAP, BASE * (2 ** (attempt - 1))))


def retry_after(value: str | None) -> float | None:
    """A Retry-After header in seconds (delta-seconds only; an HTTP date is not waited for), or None."""
    if value is None:
        return None
    value = value.strip()
    if not value.isdigit() or len(value) > 6:
        return None
    return float(value)
