"""Rate limits and the concurrency cap of the MCP transports (issue 13, part 5).

Three limits, each checked once per process from one `RateLimits` (built with the app's HTTP runtime,
or by stdio, never per request):

- **Per client address, before authentication** (`RATE_LIMIT_PER_IP`, `RATE_LIMIT_BURST_PER_IP`): every
  request the edge refuses as unauthenticated counts against its address. Past the limit the address gets
  429 + Retry-After for everything, before its bearer is read, until the window frees.
- **Per identity, after it** (`MCP_RATE_PER_CLIENT`, `MCP_BURST_PER_CLIENT`, or the token's own
  `rate_per_second` / `rate_burst`): every JSON-RPC request (not notifications: a cancellation must
  always get through) a client token sends over /mcp, /messages, /api/tools or stdio.
- **Tool calls in flight** (`MCP_MAX_CONCURRENT_CALLS`): `CallSlotsGuard` in front of the gateway
  backend; the call past the cap is refused at once, never queued.

Each rate is a moving window (the `limits` library) of BURST requests over BURST/RATE seconds: at most
BURST at once, RATE on average. With `REDIS_URL` the windows and the call slots live in Redis, shared by
every worker and replica; without it, in each process. When Redis fails at call time the limits
degrade to per-process counting for `STORE_RETRY_SECONDS` (a logged warning and
`mcp_rate_limit_store_errors_total`), so an outage neither stops the gateway nor lifts every limit.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.errors import StorageError
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import MovingWindowRateLimiter
from prometheus_client import Counter

from janus.gateway.catalog import Catalog, Principal, TokenRecord
from janus.gateway.tool_backend import CallRecord, arguments_digest, hidden_arguments
from janus.gateway.tracing import caller_trace_id
from janus.mcp import jsonrpc
from janus.mcp.errors import THROTTLED, McpError
from janus.mcp.server import RequestContext, ToolListing
from janus.services.sign_ins import client_address
from janus.transports.http_common import json_response
from janus.transports.wire import HttpResponse


def _redis_error() -> type[Exception]:
    """redis-py's error class, imported when a Redis call has failed (an except clause is evaluated only
    then): importing redis at start-up would load the OpenTelemetry SDK's metrics with it (redis-py
    looks for it at import), ~170 ms and ~60 modules in every worker that never uses Redis."""
    from redis import RedisError

    return RedisError


log = logging.getLogger(__name__)

# Exposed as mcp_throttled_requests_total{tier,transport}; tier: address | client | concurrency.
THROTTLED_REQUESTS = Counter(
    "mcp_throttled_requests",
    "Requests and tool calls refused by a rate limit or the concurrency cap.",
    ["tier", "transport"],
)
# Exposed as mcp_rate_limit_store_errors_total: Redis failed, and the limits counted per process meanwhile.
STORE_ERRORS = Counter("mcp_rate_limit_store_errors", "Rate-limit store (Redis) failures at call time.")

STORE_RETRY_SECONDS = 5.0  # after a Redis failure, count per process this long before trying it again
REDIS_TIMEOUT_SECONDS = 0.5  # a hung Redis costs a call at most this, then the backoff above
# A call slot in Redis is a lease: a worker killed mid-call frees its slots when they expire. Longer than
# any upstream timeout (connections allow 600 s), so a live call never loses its slot.
SLOT_LEASE_SECONDS = 900
KEY_PREFIX = "janus"
ADDRESS, CLIENT, CONCURRENCY = "address", "client", "concurrency"

_ACQUIRE_SLOT = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], t + tonumber(ARGV[2]), ARGV[3])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
"""


@dataclass(frozen=True)
class Throttled:
    """A refusal: which limit, when to retry (whole seconds, at least 1) and the client's message."""

    tier: str
    retry_after: int
    message: str

    @property
    def data(self) -> dict[str, Any]:
        return {"reason": self.tier, "retryAfterSeconds": self.retry_after}

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}

    def error(self) -> McpError:
        return McpError(THROTTLED, self.message, self.data)

    def rpc_response(self, request_id: Any) -> HttpResponse:
        """429 with the JSON-RPC error (THROTTLED) as its body: /mcp and /messages."""
        body = jsonrpc.error_response(request_id, THROTTLED, self.message, self.data)
        return json_response(body, 429, self.headers)

    def json_response(self) -> HttpResponse:
        """429 in the transports' plain JSON error shape: the edge and /api/tools."""
        return json_response(
            {"error": "too_many_requests", "message": self.message, "retry_after": self.retry_after},
            429,
            self.headers,
        )


def window(rate: int, burst: int, unit_seconds: int) -> RateLimitItem | None:
    """RATE per unit with BURST: a moving window of BURST entries over ceil(BURST/RATE) seconds (at least
    1); None when the rate is 0 (no limit). A burst under one second's worth caps the rate at the burst."""
    if rate <= 0:
        return None
    burst = max(1, burst)
    return RateLimitItemPerSecond(burst, max(1, math.ceil(burst * unit_seconds / rate)))


class Counters:
    """The moving windows: in Redis when a URL is given (shared), else in this process; the process's own
    windows stand in while Redis fails."""

    def __init__(self, redis_url: str) -> None:
        self._local = MovingWindowRateLimiter(MemoryStorage())
        self._shared: MovingWindowRateLimiter | None = None
        self.redis: Any = None  # the one Redis client of this process (the call slots use it too)
        if redis_url:
            storage = RedisStorage(
                redis_url,
                key_prefix=KEY_PREFIX,
                wrap_exceptions=True,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            )
            self._shared = MovingWindowRateLimiter(storage)
            self.redis = storage.get_connection()
        self._down_until = 0.0

    @property
    def shared(self) -> bool:
        return self._shared is not None

    def store_up(self) -> bool:
        return self._shared is not None and time.monotonic() >= self._down_until

    def store_failed(self, what: str, error: BaseException) -> None:
        STORE_ERRORS.inc()
        if time.monotonic() >= self._down_until:  # one warning per outage window, not one per call
            log.warning(
                "rate-limit store (REDIS_URL) failed %s (%s); counting per process for %gs",
                what,
                type(error).__name__,
                STORE_RETRY_SECONDS,
            )
        self._down_until = time.monotonic() + STORE_RETRY_SECONDS

    def hit(self, item: RateLimitItem, *key: str) -> int:
        """0 when the hit fits the window, else the seconds until it would (at least 1)."""
        if self.store_up():
            assert self._shared is not None
            try:
                return _hit(self._shared, item, key)
            except StorageError as error:
                self.store_failed("to count a request", error.storage_error)
        return _hit(self._local, item, key)


def _hit(limiter: MovingWindowRateLimiter, item: RateLimitItem, key: tuple[str, ...]) -> int:
    if limiter.hit(item, *key):
        return 0
    reset = limiter.get_window_stats(item, *key).reset_time
    return max(1, math.ceil(reset - time.time()))


class CallSlots:
    """At most `cap` tool calls in flight: gateway-wide in Redis (a sorted set of leases), else per process."""

    def __init__(self, cap: int, counters: Counters) -> None:
        self.cap = cap
        self._counters = counters
        self._lock = threading.Lock()
        self._local = 0
        self._ids = itertools.count()
        self._node = f"{os.getpid()}-{os.urandom(4).hex()}"
        self._key = f"{KEY_PREFIX}:calls-in-flight"
        self._script = counters.redis.register_script(_ACQUIRE_SLOT) if counters.redis is not None else None

    def acquire(self) -> str | None:
        """A slot's id ("" for a per-process one), or None when `cap` calls are in flight."""
        if self._script is not None and self._counters.store_up():
            member = f"{self._node}-{next(self._ids)}"
            try:
                return member if self._script(keys=[self._key], args=[self.cap, SLOT_LEASE_SECONDS, member]) else None
            except _redis_error() as error:  # the script is ours, so redis-py's errors, not the library's
                self._counters.store_failed("to take a call slot", error)
        with self._lock:
            if self._local >= self.cap:
                return None
            self._local += 1
            return ""

    def release(self, slot: str) -> None:
        if slot:
            try:
                self._counters.redis.zrem(self._key, slot)
            except _redis_error() as error:  # the lease frees it later
                self._counters.store_failed("to free a call slot", error)
            return
        with self._lock:
            self._local -= 1


class RateLimits:
    """One process's limits, from the configuration (`rate_limits_for`)."""

    def __init__(self, config: Any) -> None:
        self.address_item = window(config["RATE_LIMIT_PER_IP"], config["RATE_LIMIT_BURST_PER_IP"], 60)
        self.address_rate = (config["RATE_LIMIT_PER_IP"], config["RATE_LIMIT_BURST_PER_IP"])
        self.client_rate = (config["MCP_RATE_PER_CLIENT"], config["MCP_BURST_PER_CLIENT"])
        self.proxy_hops = int(config.get("TRUSTED_PROXY_HOPS", 0))
        self.counters = Counters(config.get("REDIS_URL") or "")
        cap = config["MCP_MAX_CONCURRENT_CALLS"]
        self.slots = CallSlots(cap, self.counters) if cap > 0 else None
        self._items: dict[tuple[int, int], RateLimitItem | None] = {}
        self._blocked: dict[str, float] = {}  # address -> time.time() its window frees (this process's view)

    # -- per client address, before authentication --------------------------------------------------

    def address_of(self, environ: dict[str, Any]) -> str:
        forwarded = environ.get("HTTP_X_FORWARDED_FOR") if self.proxy_hops else None
        return client_address(environ.get("REMOTE_ADDR"), forwarded, self.proxy_hops)

    def address_refusal(self, environ: dict[str, Any]) -> Throttled | None:
        """Before the bearer is read: an address over its limit is refused (a dict lookup, no I/O)."""
        if self.address_item is None or not self._blocked:
            return None
        address = self.address_of(environ)
        until = self._blocked.get(address)
        if until is None:
            return None
        left = until - time.time()
        if left <= 0:
            self._blocked.pop(address, None)
            return None
        return self._address_throttled(math.ceil(left))

    def failed_authentication(self, environ: dict[str, Any], transport: str) -> Throttled | None:
        """Count a refused bearer against its address (shared with REDIS_URL); a Throttled past the limit."""
        if self.address_item is None:
            return None
        address = self.address_of(environ)
        retry = self.counters.hit(self.address_item, ADDRESS, address)
        if not retry:
            return None
        if len(self._blocked) > 10_000:  # addresses are the clients' to choose: keep the table bounded
            self._blocked.clear()
        self._blocked[address] = time.time() + retry
        log.warning("client address %s is over RATE_LIMIT_PER_IP; refused for %ds", address, retry)
        THROTTLED_REQUESTS.labels(tier=ADDRESS, transport=transport).inc()
        return self._address_throttled(retry)

    def _address_throttled(self, retry: int) -> Throttled:
        rate, burst = self.address_rate
        return Throttled(
            ADDRESS,
            retry,
            f"Too many unauthenticated requests from this address (RATE_LIMIT_PER_IP: {rate} a minute, "
            f"burst {burst}); retry after {retry} s.",
        )

    # -- per identity, after authentication ----------------------------------------------------------

    def client_item(self, token: TokenRecord) -> tuple[RateLimitItem | None, int, int]:
        """The token's window and its (rate, burst): its own overrides, else the configured defaults.
        A token that sets only a rate gets at least that many at once."""
        default_rate, default_burst = self.client_rate
        rate = default_rate if token.rate_per_second is None else token.rate_per_second
        if token.rate_burst is not None:
            burst = token.rate_burst
        elif token.rate_per_second is not None:
            burst = max(default_burst, rate)
        else:
            burst = default_burst
        key = (rate, burst)
        if key not in self._items:
            self._items[key] = window(rate, burst, 1)
        return self._items[key], rate, burst

    def client_refusal(self, catalog: Catalog, principal: Principal, message: object) -> Throttled | None:
        """Count one JSON-RPC request of a client token; a Throttled when it is over its limit.
        Notifications and responses are not counted, nor a process without a token (local stdio)."""
        if not isinstance(message, dict) or "method" not in message or not jsonrpc.is_valid_id(message.get("id")):
            return None
        token = catalog.current().token(principal)
        if token is None:
            return None
        item, rate, burst = self.client_item(token)
        if item is None:
            return None
        retry = self.counters.hit(item, CLIENT, token.id)
        if not retry:
            return None
        return Throttled(
            CLIENT,
            retry,
            f"Rate limit exceeded for this client token ({rate} requests a second, burst {burst}); "
            f"retry after {retry} s.",
        )


def rate_limits_for(app: Flask) -> RateLimits:
    """The app's RateLimits in this process: built on first use (after gunicorn forks), then reused."""
    limits = app.extensions.get("janus.rate_limits")
    if limits is None or limits[0] != os.getpid():
        with _BUILD_LOCK:
            limits = app.extensions.get("janus.rate_limits")
            if limits is None or limits[0] != os.getpid():
                limits = app.extensions["janus.rate_limits"] = (os.getpid(), RateLimits(app.config))
    built: RateLimits = limits[1]
    return built


_BUILD_LOCK = threading.Lock()


def throttle_message(
    limits: RateLimits, backend: Any, record: Callable[[CallRecord], None], principal: Principal, message: object
) -> Throttled | None:
    """The per-client check of one parsed message, with its metric and, for a tools/call, its audit row."""
    throttled = limits.client_refusal(backend.catalog, principal, message)
    if throttled is not None:
        THROTTLED_REQUESTS.labels(tier=CLIENT, transport=principal.transport).inc()
        if isinstance(message, dict) and message.get("method") == "tools/call":
            params = message.get("params")
            params = params if isinstance(params, dict) else {}
            audit_throttled(
                backend, record, principal, params.get("name"), params.get("arguments"), throttled, params.get("_meta")
            )
    return throttled


def audit_throttled(
    backend: Any,
    record: Callable[[CallRecord], None],
    principal: Principal,
    name: object,
    arguments: object,
    throttled: Throttled,
    meta: object = None,
) -> None:
    """The `throttled` audit row of a refused tools/call: never the arguments, only their digest; the trace
    id of the caller's `_meta` or header."""
    name = name if isinstance(name, str) else "<unknown>"
    arguments = arguments if isinstance(arguments, dict) else {}
    snapshot = backend.catalog.current()
    # As the backend does: secrets (an admin tool's, a credential header's) stay out of the digest.
    hidden = hidden_arguments(getattr(backend, "builtins", None), snapshot, name)
    if hidden:
        arguments = {k: v for k, v in arguments.items() if k not in hidden}
    token = snapshot.token(principal)
    try:
        digest: str | None = arguments_digest(arguments)
    except (ValueError, RecursionError):  # a lone surrogate: the input guard's own row explains those
        digest = None
    record(
        CallRecord(
            tool_name=name.encode("utf-8", "replace").decode("utf-8")[:200],
            status="throttled",
            duration_ms=0.0,
            token_id=token.id if token else None,
            token_name=token.name if token else principal.actor,
            transport=principal.transport,
            error_message=f"throttled ({throttled.tier}): {throttled.message}"[:500],
            arguments_digest=digest,
            trace_id=caller_trace_id(meta, principal.traceparent),
        )
    )


def http_status_of(response: object) -> tuple[int, dict[str, str]] | None:
    """(429, Retry-After) for a JSON-RPC answer whose error is THROTTLED, else None."""
    if not isinstance(response, dict):
        return None
    error = response.get("error")
    if not isinstance(error, dict) or error.get("code") != THROTTLED:
        return None
    data = error.get("data")
    retry = data.get("retryAfterSeconds") if isinstance(data, dict) else None
    return 429, {"Retry-After": str(retry if isinstance(retry, int) and retry > 0 else 1)}


class CallSlotsGuard:
    """In front of the gateway backend: a tools/call past MCP_MAX_CONCURRENT_CALLS is refused (THROTTLED)
    and audited `throttled`; every other call holds a slot while it runs."""

    def __init__(self, backend: Any, slots: CallSlots, record: Callable[[CallRecord], None]) -> None:
        self._backend = backend
        self._slots = slots
        self._record = record

    def list_tools(self, ctx: RequestContext) -> ToolListing:
        listing: ToolListing = self._backend.list_tools(ctx)
        return listing

    def call_tool(self, ctx: RequestContext, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        slot = self._slots.acquire()
        if slot is None:
            throttled = Throttled(
                CONCURRENCY,
                1,
                f"The gateway is running {self._slots.cap} tool calls, the most it runs at once "
                "(MCP_MAX_CONCURRENT_CALLS); retry shortly.",
            )
            principal = ctx.caller if isinstance(ctx.caller, Principal) else Principal(None)
            THROTTLED_REQUESTS.labels(tier=CONCURRENCY, transport=principal.transport).inc()
            audit_throttled(self._backend, self._record, principal, name, arguments, throttled, ctx.meta)
            raise throttled.error()
        try:
            result: dict[str, Any] = self._backend.call_tool(ctx, name, arguments)
            return result
        finally:
            self._slots.release(slot)

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._backend, attribute)
