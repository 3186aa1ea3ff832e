"""Traces of tool calls: the caller's W3C trace context, continued and passed upstream, and OpenTelemetry spans.

Two levels, so that a gateway without a collector pays (almost) nothing:

- **Always**: a valid `traceparent` from the caller (`params._meta.traceparent`, else the HTTP header) names
  the call's trace: its trace id goes into the audit row, and the upstream request carries that
  `traceparent` unchanged (a W3C intermediary that does not trace forwards the context as it is). A call
  without one costs a dict lookup and an attribute read.
- **With `OTEL_EXPORTER_OTLP_ENDPOINT`** (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`): `configure` imports the
  OpenTelemetry SDK, once per process, and every call gets a span (`tools/call <tool>`), a child span for the
  vault read and one for the upstream request, exported over OTLP/HTTP in batches off the call path. The
  upstream's `traceparent` then names the upstream-request span. The SDK reads its standard variables itself
  (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER[_ARG]`, `OTEL_BSP_*`,
  `OTEL_EXPORTER_OTLP_[TRACES_]HEADERS|TIMEOUT|COMPRESSION|CERTIFICATE`).

Spans carry names, statuses and ids, never argument values, secrets, URLs with queries or upstream bodies.
Without the variable no OpenTelemetry module is imported: `_TRACER` stays None and the per-call path checks
only that.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

log = logging.getLogger(__name__)

# The OTLP variables that turn tracing on; OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none keep it off.
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
DEFAULT_SERVICE_NAME = "janus"

# W3C Trace Context, level 1: version-traceid-parentid-flags, lower-case hex. A later version may append
# fields after a dash; version ff is invalid.
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?", re.DOTALL)
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16
_MAX_TRACEPARENT = 512  # anything longer is not a traceparent anyone sends; do not run a regex over it

_TRACER: Any = None  # the SDK's tracer once configured; None: tracing is off and nothing is imported
_PROVIDER: Any = None
_CONFIGURE_LOCK = threading.Lock()
_configured = False
# The trace id of the call this greenlet or thread is running, while a traced call runs: JSON log lines
# carry it (janus/logs.py, wired by create_app). Untraced calls never touch it.
_CURRENT_TRACE: ContextVar[str | None] = ContextVar("janus_call_trace", default=None)


def parse_traceparent(value: object) -> str | None:
    """`value` as a version-00 `traceparent`, or None when it is not a valid one (W3C: then start afresh)."""
    if not isinstance(value, str) or len(value) > _MAX_TRACEPARENT:
        return None
    match = _TRACEPARENT.fullmatch(value.strip(" \t"))
    if match is None:
        return None
    version, trace_id, span_id, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest) or trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return None
    return f"00-{trace_id}-{span_id}-{flags}"


def caller_traceparent(meta: Mapping[str, Any] | None, header: str | None) -> str | None:
    """The caller's trace context: `params._meta.traceparent` (MCP's place for it, per message) before the
    HTTP header (per request); an invalid one in `_meta` is not replaced by the header's."""
    if meta:
        found = meta.get("traceparent")
        if found is not None:
            return parse_traceparent(found)
    return None if header is None else parse_traceparent(header)


def caller_trace_id(meta: object, header: str | None) -> str | None:
    """The trace id the caller's context names, for the audit row of a call refused before the backend ran
    it (throttled, unencodable, refused by the transport): those rows get no span, only the id."""
    traceparent = caller_traceparent(meta if isinstance(meta, Mapping) else None, header)
    return None if traceparent is None else traceparent[3:35]


def enabled_by(environ: Mapping[str, str]) -> bool:
    """Whether these variables ask for OTLP trace export."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return False
    return any(environ.get(name, "").strip() for name in ENDPOINT_VARIABLES)


def configure(environ: Mapping[str, str] | None = None) -> bool:
    """Turn tracing on for this process when the variables ask for it; True when it is on.

    Once per process (the gunicorn worker, after the fork: the batch processor's thread must live there).
    """
    global _TRACER, _PROVIDER, _configured
    if _configured:
        return _TRACER is not None
    with _CONFIGURE_LOCK:
        if _configured:
            return _TRACER is not None
        env = os.environ if environ is None else environ
        if enabled_by(env):  # the variables' values were checked at start-up (janus.config)
            _PROVIDER, _TRACER = _build_tracer()
        _configured = True
    return _TRACER is not None


def _build_tracer() -> tuple[Any, Any]:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from janus.version import __version__

    resource = Resource.create({SERVICE_VERSION: __version__})
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: DEFAULT_SERVICE_NAME}))
    provider = TracerProvider(resource=resource)  # the sampler from OTEL_TRACES_SAMPLER, parent-based by default
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    log.info("OpenTelemetry tracing on: spans of tool calls are exported over OTLP/HTTP")
    # Our own provider, not the global one: nothing else in the process starts spans through it by surprise.
    return provider, provider.get_tracer("janus.gateway", __version__)


def enabled() -> bool:
    return _TRACER is not None


def flush(timeout_seconds: float = 5.0) -> None:
    """Export the spans still queued (worker exit); nothing when tracing is off."""
    if _PROVIDER is not None:
        _PROVIDER.force_flush(int(timeout_seconds * 1000))


def shutdown() -> None:
    """Flush and stop the exporter (tests; a process's exit does it through the SDK's atexit hook)."""
    global _TRACER, _PROVIDER, _configured
    with _CONFIGURE_LOCK:
        provider, _PROVIDER, _TRACER, _configured = _PROVIDER, None, None, False
    if provider is not None:
        provider.shutdown()


# -- one call's trace -----------------------------------------------------------


class CallTrace:
    """One tool call's trace as the executor sees it: the trace id for the audit row, and child spans."""

    __slots__ = ("_token", "trace_id")

    def __init__(self, trace_id: str) -> None:
        self.trace_id = trace_id
        self._token = _CURRENT_TRACE.set(trace_id)

    def vault_read(self, connection: str, auth_type: str) -> Any:
        return NO_SPAN

    def upstream_request(self, connection: str, method: str, headers: dict[str, str]) -> Any:
        return NO_SPAN

    def end(self, status: str, http_status: int | None, connection: str | None, transport: str) -> None:
        self._leave()

    def _leave(self) -> None:
        try:
            _CURRENT_TRACE.reset(self._token)
        except (ValueError, RuntimeError):  # ended in another context, or twice: nothing of ours to undo
            pass


def current_trace_id() -> str | None:
    """The trace id of the call being run here, or None (for log lines)."""
    return _CURRENT_TRACE.get()


class _ForwardedTrace(CallTrace):
    """Tracing off, the caller sent a trace context: the upstream gets it unchanged."""

    __slots__ = ("traceparent",)

    def __init__(self, traceparent: str) -> None:
        super().__init__(traceparent[3:35])
        self.traceparent = traceparent

    def upstream_request(self, connection: str, method: str, headers: dict[str, str]) -> Any:
        headers["traceparent"] = self.traceparent
        return NO_SPAN


class _NoSpan:
    """The child span of a call that is not traced: does nothing, one instance for all."""

    __slots__ = ()

    def __enter__(self) -> _NoSpan:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def answered(self, http_status: int) -> None:
        return None


NO_SPAN = _NoSpan()


class _Span:
    """A child span (vault read, upstream request): ended when its block ends, failed by an exception."""

    __slots__ = ("span",)

    def __init__(self, span: Any) -> None:
        self.span = span

    def __enter__(self) -> _Span:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc is not None:
            _fail(self.span, exc)
        self.span.end()

    def answered(self, http_status: int) -> None:
        self.span.set_attribute("http.response.status_code", http_status)
        if http_status >= 500:
            from opentelemetry.trace import StatusCode

            self.span.set_attribute("error.type", str(http_status))
            self.span.set_status(StatusCode.ERROR)


def _fail(span: Any, exc: BaseException) -> None:
    """The error's kind, never its text: an exception's message may quote a URL with its query."""
    from opentelemetry.trace import StatusCode

    kind = getattr(exc, "kind", None)
    span.set_attribute("error.type", kind if isinstance(kind, str) else type(exc).__name__)
    span.set_status(StatusCode.ERROR)


class _SpanTrace(CallTrace):
    """Tracing on: the call's span, the parent of its vault-read and upstream-request spans."""

    __slots__ = ("_context", "_span", "_tracer")

    def __init__(self, tracer: Any, tool_name: str, traceparent: str | None) -> None:
        from opentelemetry import trace
        from opentelemetry.context import Context

        parent = Context() if traceparent is None else _remote_parent(traceparent)
        self._tracer = tracer
        self._span = tracer.start_span(
            f"tools/call {tool_name}",
            context=parent,
            kind=trace.SpanKind.SERVER,
            attributes={"mcp.method.name": "tools/call", "gen_ai.tool.name": tool_name},
        )
        self._context = trace.set_span_in_context(self._span)
        super().__init__(format(self._span.get_span_context().trace_id, "032x"))

    def vault_read(self, connection: str, auth_type: str) -> _Span:
        from opentelemetry.trace import SpanKind

        # The secret through the cache; for OAuth client credentials also the token request it may need.
        attributes = {"janus.connection": connection, "janus.auth_type": auth_type}
        return _Span(
            self._tracer.start_span("vault read", context=self._context, kind=SpanKind.INTERNAL, attributes=attributes)
        )

    def upstream_request(self, connection: str, method: str, headers: dict[str, str]) -> _Span:
        from opentelemetry.trace import SpanKind

        span = self._tracer.start_span(
            method,  # the HTTP client span's name per the semantic conventions: no URL, no template
            context=self._context,
            kind=SpanKind.CLIENT,
            attributes={"http.request.method": method, "janus.connection": connection},
        )
        ctx = span.get_span_context()
        headers["traceparent"] = f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"
        return _Span(span)

    def end(self, status: str, http_status: int | None, connection: str | None, transport: str) -> None:
        span = self._span
        span.set_attribute("janus.call.status", status)
        span.set_attribute("janus.transport", transport)
        if connection is not None:
            span.set_attribute("janus.connection", connection)
        if http_status is not None:
            span.set_attribute("janus.upstream.status_code", http_status)
        if status == "failure":
            from opentelemetry.trace import StatusCode

            span.set_attribute("error.type", "tool_call_failed")
            span.set_status(StatusCode.ERROR)
        span.end()
        self._leave()


def _remote_parent(traceparent: str) -> Any:
    from opentelemetry import trace

    span_context = trace.SpanContext(
        trace_id=int(traceparent[3:35], 16),
        span_id=int(traceparent[36:52], 16),
        is_remote=True,
        trace_flags=trace.TraceFlags(int(traceparent[53:55], 16)),
    )
    return trace.set_span_in_context(trace.NonRecordingSpan(span_context))


def start_call(tool_name: str, meta: Mapping[str, Any] | None, header: str | None) -> CallTrace | None:
    """The trace of a call that starts now, from the caller's `_meta` and `traceparent` header: None when
    tracing is off and the caller sent no trace context (the common case, which then costs nothing more)."""
    tracer = _TRACER
    if tracer is None and not meta and header is None:
        return None
    traceparent = caller_traceparent(meta, header)
    if tracer is None:
        return None if traceparent is None else _ForwardedTrace(traceparent)
    return _SpanTrace(tracer, tool_name[:200], traceparent)


def vault_read(trace: CallTrace | None, connection: str, auth_type: str) -> Any:
    """A block around the vault read of a call (a context manager); a connection without auth reads none."""
    return NO_SPAN if trace is None or auth_type == "none" else trace.vault_read(connection, auth_type)


def upstream_request(trace: CallTrace | None, connection: str, method: str, headers: dict[str, str]) -> Any:
    """A block around the upstream exchange; puts `traceparent` into `headers` when there is a trace.
    Its `answered(status)` records the upstream's HTTP status."""
    return NO_SPAN if trace is None else trace.upstream_request(connection, method, headers)
