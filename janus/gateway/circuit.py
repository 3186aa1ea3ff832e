"""A circuit breaker per connection: an upstream that keeps failing is answered for at once, not waited for.

Closed (calls go through) until `threshold` calls in a row fail (no answer, a timeout, a cut response, or a
502/503/504); then open: every call is refused at once with `CircuitOpen` (the upstream sees nothing) for
`cooldown` seconds. After the cool-down one call, the probe, is let through (half-open) while the others are
still refused: its success closes the circuit, its failure opens it for another cool-down.

State is per worker process (each gunicorn worker, each replica learns on its own): a failing upstream is
refused by a worker after that worker has seen `threshold` failures. /metrics aggregates the state over the
live workers (janus.gateway.metrics, the worst state wins).

Cheap on the hot path: a closed circuit with no failures costs two attribute reads per call and takes no lock
(gevent switches only at I/O; between threads a lost update of the failure count delays an opening by a call
at worst). The lock guards only the open → half-open hand-over, so that exactly one probe goes through.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

CLOSED = "closed"
HALF_OPEN = "half_open"
OPEN = "open"
# The value of the Prometheus gauge per state: ordered so that the worst state of the workers is their max.
STATE_VALUES = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}

# Called on every change of state, with the connection's name and its new state (off the hot path).
Listener = Callable[[str, str], None]


class CircuitOpen(Exception):
    """The connection's circuit is open: the call was refused without contacting the upstream."""

    def __init__(self, connection: str, remaining: float, failures: int) -> None:
        seconds = max(1, int(remaining + 0.999))  # rounded up: "0 more seconds" would read as a lie
        super().__init__(
            f"Upstream '{connection}' is failing: circuit open for {seconds} more second"
            f"{'' if seconds == 1 else 's'} after {failures} consecutive failure{'' if failures == 1 else 's'}"
        )
        self.connection = connection
        self.remaining = remaining
        self.failures = failures


class Breaker:
    """One connection's circuit. `threshold` 0 turns it off: every call goes through."""

    __slots__ = ("_lock", "_on_change", "_opened_at", "_probing", "cooldown", "failures", "name", "threshold")

    def __init__(self, name: str, threshold: int, cooldown: float, on_change: Listener | None = None) -> None:
        self.name = name
        self.threshold = threshold
        self.cooldown = cooldown
        self.failures = 0  # consecutive, since the last success
        self._opened_at: float | None = None  # monotonic; None while closed
        self._probing = False  # half-open: the probe call is out
        self._lock = threading.Lock()
        self._on_change = on_change

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return CLOSED
        return HALF_OPEN if self._probing else OPEN

    def remaining(self, now: float | None = None) -> float:
        """Seconds left in the cool-down (0 when closed or half-open)."""
        opened = self._opened_at
        if opened is None or self._probing:
            return 0.0
        return max(0.0, opened + self.cooldown - (time.monotonic() if now is None else now))

    def admit(self) -> None:
        """Let a call through, or raise CircuitOpen. After the cool-down, the first caller becomes the probe."""
        if self._opened_at is None:  # closed: the common case, no lock
            return
        with self._lock:
            opened = self._opened_at
            if opened is None:
                return
            now = time.monotonic()
            if self._probing or now < opened + self.cooldown:
                raise CircuitOpen(self.name, max(opened + self.cooldown - now, 0.0), self.failures)
            self._probing = True
        self._changed(HALF_OPEN)

    def succeeded(self) -> None:
        if self._opened_at is None:
            if self.failures:
                self.failures = 0
            return
        with self._lock:
            self._opened_at = None
            self._probing = False
            self.failures = 0
        self._changed(CLOSED)

    def failed(self) -> None:
        if self.threshold <= 0:
            return
        self.failures += 1
        if self._opened_at is None and self.failures < self.threshold:
            return
        with self._lock:
            # Opens, or re-opens after a failed probe: a new cool-down from now.
            self._opened_at = time.monotonic()
            self._probing = False
        self._changed(OPEN)

    def released(self) -> None:
        """The call ended without telling anything about the upstream (cancelled, refused by us): a probe's
        slot is freed for the next caller, the counts stay."""
        if self._probing:
            with self._lock:
                self._probing = False
            self._changed(OPEN)

    def _changed(self, state: str) -> None:
        if self._on_change is not None:
            self._on_change(self.name, state)


class Circuits:
    """The breakers of one process's connections, by connection id; rebuilt when a connection's settings change."""

    def __init__(self, on_change: Listener | None = None) -> None:
        self._breakers: dict[str, Breaker] = {}
        self._lock = threading.Lock()
        self._on_change = on_change

    def get(self, connection_id: str, name: str, threshold: int, cooldown: float) -> Breaker:
        breaker = self._breakers.get(connection_id)  # lock-free hit: the common case
        if (
            breaker is not None
            and breaker.threshold == threshold
            and breaker.cooldown == cooldown
            and breaker.name == name
        ):
            return breaker
        with self._lock:
            breaker = self._breakers.get(connection_id)
            if breaker is None or (breaker.threshold, breaker.cooldown, breaker.name) != (threshold, cooldown, name):
                # New settings start closed: an admin who changed them wants them tried.
                if breaker is not None and breaker.state != CLOSED:
                    breaker._changed(CLOSED)
                breaker = Breaker(name, threshold, cooldown, self._on_change)
                self._breakers[connection_id] = breaker
        return breaker

    def states(self) -> dict[str, dict[str, object]]:
        """Each connection's circuit in this process, by connection name: state, failures, seconds left."""
        now = time.monotonic()
        return {
            b.name: {"state": b.state, "failures": b.failures, "remaining_seconds": round(b.remaining(now), 1)}
            for b in list(self._breakers.values())
        }
