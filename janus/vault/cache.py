"""A short-lived in-memory cache in front of a vault's get.

Cloud providers bill and rate-limit every read, and a tool call would
otherwise pay a network round trip to the secret store before its own.

Semantics (SECRET_CACHE_TTL, default 30 s):

* A value read successfully is served from memory for `ttl` seconds, counted
  from the moment the read started. The TTL is therefore the bound on
  staleness for secrets changed *outside* Janus (rotated in AWS, GCP, Azure):
  at most `ttl` seconds after the change every call uses the new value.
* Secrets set or deleted *through* Janus call `forget(key)`, which drops the
  value at once; a read already in flight for that key is not stored, so it
  cannot put the old value back. forget() reaches only this process: other
  gunicorn workers, and a `flask janus` command run beside the server, see
  the change within the TTL like any outside rotation.
* While a value is fresh the provider is not asked, so a provider outage is
  invisible until the TTL ends. The first read after that goes to the
  provider; if it fails, the cached value is dropped and the provider's error
  (a VaultError) is raised: the cache never serves a value past its TTL
  (fail closed).
* Concurrent misses for one key share one read (single flight): one caller
  fetches, the others wait for its result or its error.
* Failures are not cached. SecretNotFound in particular is not remembered:
  the next call asks the provider again, so a secret created in the provider
  console is picked up on the next call.

Thread-safe with plain `threading` primitives, which gevent's monkey patching
turns into greenlet-aware ones. Values live only in this process's memory.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


class _Flight:
    """One read in progress; waiters block on `done`."""

    __slots__ = ("done", "ok", "value", "error", "waiters")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.waiters = 0  # callers that joined this read (observability, tests)
        self.ok = False
        self.value = ""  # the secret, once ok
        self.error: BaseException | None = None


class SecretCache:
    def __init__(self, fetch: Callable[[str], str], ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._fetch = fetch
        self._ttl = max(0.0, float(ttl))
        self._clock = clock
        self._values: dict[str, tuple[str, float]] = {}  # key -> (value, expires at)
        self._flights: dict[str, _Flight] = {}
        self._lock = threading.Lock()  # guards the two dicts; never held during a fetch

    @property
    def ttl(self) -> float:
        return self._ttl

    def get(self, key: str) -> str:
        """The secret's value; raises what `fetch` raises (VaultError, SecretNotFound)."""
        while True:
            entry = self._values.get(key)  # lock-free hit: the common case
            if entry is not None and self._clock() < entry[1]:
                return entry[0]
            with self._lock:
                entry = self._values.get(key)
                if entry is not None and self._clock() < entry[1]:
                    return entry[0]
                flight = self._flights.get(key)
                leader = flight is None
                if flight is None:
                    flight = self._flights[key] = _Flight()
                else:
                    flight.waiters += 1
            if leader:
                return self._lead(key, flight)
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            if flight.ok:
                return flight.value
            # The leader was interrupted (GreenletExit, KeyboardInterrupt): try again.

    def _lead(self, key: str, flight: _Flight) -> str:
        started = self._clock()
        try:
            value = self._fetch(key)
        except Exception as exc:
            flight.error = exc
            raise
        else:
            flight.value, flight.ok = value, True
            return value
        finally:
            with self._lock:
                current = self._flights.get(key) is flight  # False after forget()/clear()
                if current:
                    del self._flights[key]
                    if flight.ok:
                        self._values[key] = (flight.value, started + self._ttl)
                    else:
                        self._values.pop(key, None)  # fail closed: nothing stale survives a failed read
            flight.done.set()

    def forget(self, key: str) -> None:
        """Drop the key's value now (it was set or deleted through Janus)."""
        with self._lock:
            self._values.pop(key, None)
            self._flights.pop(key, None)  # an in-flight read may hold the old value: don't store it

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._flights.clear()

    def __repr__(self) -> str:  # never the values
        return f"<SecretCache ttl={self._ttl:g}s keys={len(self._values)}>"

    def __getstate__(self) -> Any:
        raise TypeError("SecretCache holds secrets and cannot be pickled")
