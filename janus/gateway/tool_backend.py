"""The gateway as an MCP tool backend: scope checks, validation, execution, audit, metrics."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from janus.gateway import metrics, output_validation, tracing
from janus.gateway.cancel_scope import CallCancelled
from janus.gateway.catalog import Catalog, CatalogSnapshot, Principal, TokenRecord, scopes_allow
from janus.gateway.errors import UpstreamError
from janus.gateway.schemas import (
    DEFAULT_PATTERN_BUDGET,
    PatternTimeout,
    SchemaRefused,
    ValidationProblem,
    argument_errors,
)
from janus.gateway.templating import ArgumentError
from janus.gateway.upstream_auth import SecretError
from janus.mcp.errors import INTERNAL_ERROR, INVALID_PARAMS, METHOD_NOT_FOUND, REQUEST_CANCELLED, McpError
from janus.mcp.server import RequestContext, ToolListing
from janus.mcp.versions import LATEST_HANDSHAKE

if TYPE_CHECKING:
    from janus.gateway.executor import Executor

log = logging.getLogger(__name__)

UNKNOWN_TOOL_LABEL = "<unknown>"  # keeps metric cardinality bounded against junk names
# error.data.reason of the -32602 for a tool that does not exist: what adapters (REST's 404) match on, never the text.
UNKNOWN_TOOL_REASON = "unknown_tool"


@dataclass(frozen=True)
class CallRecord:
    """One audit row: never argument values, only their digest."""

    tool_name: str
    status: str  # success | failure | denied | cancelled
    duration_ms: float
    token_id: str | None
    token_name: str | None
    transport: str
    http_status: int | None = None
    error_message: str | None = None
    arguments_digest: str | None = None
    trace_id: str | None = None  # 32 hex digits: the W3C trace the call belongs to (janus/gateway/tracing.py)
    redactions: str | None = None  # DLP (janus/gateway/dlp.py): classes and counts masked, "email:2,card:1"
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # upstream resilience (issue 15, item 4): requests sent upstream, retries included; None: none was due
    attempts: int | None = None


class BuiltinTools(Protocol):
    """Tools Janus itself provides (the admin tools): listed and called beside upstream tools."""

    names: frozenset[str]

    def descriptors(self) -> list[dict[str, Any]]: ...
    def sensitive_arguments(self, name: str) -> frozenset[str]: ...
    def call(self, name: str, arguments: dict[str, Any], token: TokenRecord) -> dict[str, Any]: ...


def encodable(value: Any) -> bool:
    """False when `value` holds text with no UTF-8 form (a lone surrogate: JSON can spell one)."""
    try:
        orjson.dumps(value)  # rejects lone surrogates, at C speed: the common case costs ~1 µs
        return True
    except TypeError:
        pass  # a surrogate, or just something orjson does not carry (a huge integer, deep nesting)
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    except (TypeError, ValueError, RecursionError):
        pass  # not ours to judge: the backend validates arguments
    return True


def arguments_digest(arguments: Any) -> str:
    try:
        # orjson: ~5x cheaper than json.dumps on the per-call path; same compact UTF-8 form.
        canonical = orjson.dumps(arguments, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=str)
    except TypeError:  # integers beyond 64 bits and the like
        canonical = json.dumps(
            arguments, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
        ).encode("utf-8")
    return hashlib.sha256(canonical).hexdigest()


def hidden_arguments(builtins: BuiltinTools | None, snapshot: CatalogSnapshot, name: str) -> frozenset[str]:
    """The arguments of this tool kept out of its audit digest: a built-in admin tool's secrets, and the header
    parameters whose header carries a credential (janus/gateway/header_params.py), since a digest of a short
    secret can be reversed by guessing. Empty for almost every tool: one dict lookup."""
    if builtins is not None and name in builtins.names:
        return builtins.sensitive_arguments(name)
    tool = snapshot.by_name.get(name)
    if tool is None or tool.header_params is None:
        return frozenset()
    return tool.header_params.sensitive


def tool_error(text: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": text}], "isError": True}


class GatewayBackend:
    """Implements janus.mcp's ToolBackend on top of the catalog and the executor."""

    def __init__(
        self,
        catalog: Catalog,
        make_executor: Callable[[], Executor],
        record: Callable[[CallRecord], None],
        builtins: BuiltinTools | None = None,
        pattern_budget: float = DEFAULT_PATTERN_BUDGET,
    ) -> None:
        self.catalog = catalog
        self._pattern_budget = pattern_budget  # seconds of schema regex matching per call
        self.builtins = builtins
        self._make_executor = make_executor
        self._executor: Executor | None = None
        self._executor_lock = threading.Lock()
        self._record = record

    @property
    def executor(self) -> Executor:
        """Built on the first call (importing requests), not at start-up."""
        executor = self._executor
        if executor is None:
            with self._executor_lock:
                if self._executor is None:
                    self._executor = self._make_executor()
                executor = self._executor
        return executor

    def close(self) -> None:
        if self._executor is not None:
            self._executor.close()

    def list_tools(self, ctx: RequestContext) -> ToolListing:
        snapshot = self.catalog.current()
        principal = _principal(ctx)
        scopes = snapshot.scopes_for(principal)
        listing = snapshot.listing(scopes)
        served = listing.tools_for(ctx.protocol_version)  # without the fields an older client does not know
        admin = self._visible_builtins(snapshot.token(principal), scopes)
        if not admin:
            return ToolListing(tools=served, fingerprint=f"{snapshot.version}.{listing.fingerprint}")
        tools = sorted(served + admin, key=lambda t: t["name"])
        return ToolListing(tools=tools, fingerprint=f"{snapshot.version}.{listing.fingerprint}.admin{len(admin)}")

    def _visible_builtins(self, token: TokenRecord | None, scopes: tuple[str, ...] | None) -> list[dict[str, Any]]:
        """Admin tools exist only for active admin-role tokens whose scopes match them."""
        if self.builtins is None or token is None or token.role != "admin" or not token.is_active():
            return []
        return [d for d in self.builtins.descriptors() if scopes_allow(scopes, d["name"])]

    def call_tool(
        self,
        ctx: RequestContext,
        name: str,
        arguments: dict[str, Any],
        *,
        observe: Callable[[CallRecord], None] | None = None,
    ) -> dict[str, Any]:
        """`observe`, if given, also receives the call's audit record (the portal's "try it" shows its
        HTTP status and duration)."""
        metrics.IN_FLIGHT.inc()
        try:
            return self._call_tool(ctx, name, arguments, observe)
        finally:
            metrics.IN_FLIGHT.dec()

    def _call_tool(
        self, ctx: RequestContext, name: str, arguments: dict[str, Any], observe: Callable[[CallRecord], None] | None
    ) -> dict[str, Any]:
        started = time.perf_counter()
        principal = _principal(ctx)
        trace = tracing.start_call(name, ctx.meta, principal.traceparent)
        builtins = self.builtins if self.builtins is not None and name in self.builtins.names else None
        snapshot = self.catalog.current()
        if builtins is None and name not in snapshot.by_name:
            snapshot = self.catalog.after_miss()  # a tool saved a moment ago on another worker
        token = snapshot.token(principal)
        hidden = hidden_arguments(builtins, snapshot, name)
        digest = arguments_digest({k: v for k, v in arguments.items() if k not in hidden} if hidden else arguments)

        def finish(
            status: str,
            *,
            label: str = name,
            http_status: int | None = None,
            error: str | None = None,
            attempts: int | None = None,
            redactions: str | None = None,
        ) -> None:
            elapsed = time.perf_counter() - started
            if status != "denied" and ctx.is_cancelled():
                # The client cancelled: whatever happened, its answer is dropped (the spec asks us not to
                # send one). A denial stays a denial: that is the record a security review looks for.
                what = "after the upstream answered" if http_status is not None else "before the upstream answered"
                error = f"cancelled by the client {what}" + (f" ({error})" if error and status != "cancelled" else "")
                status = "cancelled"
            # The audit row first: it is the record of the call, metrics are best effort.
            record = CallRecord(
                tool_name=name[:200],
                status=status,
                duration_ms=round(elapsed * 1000, 3),
                token_id=token.id if token else None,
                token_name=token.name if token else principal.actor,
                transport=principal.transport,
                http_status=http_status,
                error_message=error,
                arguments_digest=digest,
                trace_id=None if trace is None else trace.trace_id,
                attempts=attempts,
                redactions=redactions,
            )
            self._record(record)
            if trace is not None:
                tool_spec = snapshot.by_name.get(name)
                trace.end(status, http_status, tool_spec.connection.name if tool_spec else None, principal.transport)
            if observe is not None:
                observe(record)
            try:
                metrics.observe(label, status, elapsed)
            except Exception:
                log.warning("could not update tool metrics", exc_info=True)

        if builtins is not None:
            visible = self._visible_builtins(token, snapshot.scopes_for(principal))
            if token is None or not any(d["name"] == name for d in visible):
                finish("denied", error="admin tool outside the token's role or scopes")
                raise McpError(METHOD_NOT_FOUND, f"Method not found: tool '{name}' is not available to this client")
            try:
                result = builtins.call(name, arguments, token)
            except Exception:
                log.exception("admin tool %s failed unexpectedly", name)
                finish("failure", error="internal error")
                raise McpError(INTERNAL_ERROR, f"Internal error while calling tool '{name}'") from None
            finish(
                "failure" if result.get("isError") else "success",
                error=(result.get("content") or [{}])[0].get("text", "")[:500] if result.get("isError") else None,
            )
            return result

        tool = snapshot.by_name.get(name)
        if tool is None:
            finish("failure", label=UNKNOWN_TOOL_LABEL, error="unknown tool")
            raise McpError(INVALID_PARAMS, f"Unknown tool: {name}", {"reason": UNKNOWN_TOOL_REASON})
        if not scopes_allow(snapshot.scopes_for(principal), name):
            # The reference's rule: out-of-scope tools do not exist for this caller.
            finish("denied", error="tool outside the token's scopes")
            raise McpError(METHOD_NOT_FOUND, f"Method not found: tool '{name}' is not available to this client")

        try:
            validator = snapshot.validator(tool)
            refusal = snapshot.argument_rules(tool).refusal(arguments)
            if refusal:  # before any regex runs: undeclared names never cost a validation
                finish("failure", error="invalid arguments: undeclared or fixed names")
                return tool_error(f"Invalid arguments for tool '{name}': {refusal}")
            problems = argument_errors(validator, arguments, self._pattern_budget)
            if problems:
                finish("failure", error="invalid arguments")
                reasons = "\n".join(f"- {_where(e)}{e.message}" for e in problems[:20])
                return tool_error(f"Invalid arguments for tool '{name}':\n{reasons}")
            outcome = self.executor.execute(
                tool, arguments, protocol_version=ctx.protocol_version, cancel=ctx.cancel_event, trace=trace
            )
        except CallCancelled:
            finish("cancelled")
            raise McpError(REQUEST_CANCELLED, "Request cancelled") from None  # never sent: the core drops it
        except ArgumentError as exc:
            finish("failure", error="invalid arguments")
            return tool_error(f"Invalid arguments for tool '{name}': {exc}")
        except PatternTimeout as exc:
            log.warning(
                "tool %s: pattern %r used up the %gs matching budget; the call is refused",
                name,
                exc.pattern[:200],
                self._pattern_budget,
            )
            finish("failure", error="invalid arguments: pattern time limit")
            return tool_error(
                f"Invalid arguments for tool '{name}': an argument could not be checked against "
                f"the tool's pattern within {self._pattern_budget * 1000:g} ms, so it is refused"
            )
        except SchemaRefused as exc:
            # The admin's problem, not the caller's: the details (URLs, patterns) go to the log only.
            log.debug("tool %s refused: its input schema is not usable: %s", name, exc)
            finish("failure", error="input schema refused")
            return tool_error(
                f"Tool '{name}' cannot be called: its input schema is not usable (for example it "
                "refers to a document outside itself, which Janus never fetches). "
                "An administrator must correct the tool's schema."
            )
        except (UpstreamError, SecretError) as exc:
            finish("failure", error=str(exc)[:500], attempts=getattr(exc, "attempts", None))
            raise McpError(INTERNAL_ERROR, str(exc)) from None
        except Exception:
            log.exception("tool %s failed unexpectedly", name)
            finish("failure", error="internal error")
            raise McpError(INTERNAL_ERROR, f"Internal error while calling tool '{name}'") from None
        result, status, error = outcome.result, outcome.status, outcome.error
        if output_validation.needs_check(tool, result):
            result, error = output_validation.check(snapshot.output_validators, tool, result)
            status = "failure" if result["isError"] else status
        finish(
            status,
            http_status=outcome.http_status,
            error=error,
            attempts=outcome.attempts,
            redactions=outcome.redactions,
        )
        return result


def try_tool(backend: GatewayBackend, actor: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """An admin's trial call (the portal's "try it"): the same path as a client's tools/call —
    validation, upstream, audit (under `actor`), metrics — answered as a JSON-RPC-shaped dict, plus the
    audit row's upstream HTTP status (None when no answer came) and duration."""
    backend.catalog.refresh()  # a tool saved a moment ago must be callable at once
    ctx = RequestContext(
        caller=Principal(token_hash=None, transport="portal", actor=actor),
        session=None,
        protocol_version=LATEST_HANDSHAKE,
        era="handshake",
        client_info=None,
        request_id=None,
        meta={},
    )
    records: list[CallRecord] = []
    try:
        answer: dict[str, Any] = {"result": backend.call_tool(ctx, name, arguments, observe=records.append)}
    except McpError as exc:
        answer = {"error": {"code": exc.code, "message": exc.message}}
    if records:
        answer.update(http_status=records[-1].http_status, duration_ms=records[-1].duration_ms)
    return answer


@dataclass(frozen=True)
class TrialRequest:
    """The upstream request a trial call would send, before credentials (never shown: the vault's)."""

    method: str
    url: str
    body: str | None  # the JSON text sent, as sent
    headers: tuple[tuple[str, str], ...] = ()  # the endpoint's header parameters (never the credentials)


def preview_tool(backend: GatewayBackend, name: str, arguments: dict[str, Any]) -> TrialRequest:
    """What `try_tool` would send for these arguments, without sending it.

    Raises ArgumentError when the tool is unknown or the arguments break its schema or templates: the
    preview is only offered for a call that would reach the upstream.
    """
    from janus.gateway.executor import plan_request  # the executor module imports urllib3: load it on use

    snapshot = backend.catalog.refresh()  # the tool as saved a moment ago, as try_tool will call it
    tool = snapshot.by_name.get(name)
    if tool is None:
        raise ArgumentError(f"unknown tool {name!r}")
    problems = sorted(snapshot.validator(tool).iter_errors(arguments), key=lambda e: list(e.absolute_path))
    if problems:
        raise ArgumentError("; ".join(f"{_where(e)}{e.message}" for e in problems[:20]))
    planned = plan_request(tool, arguments)
    return TrialRequest(
        method=planned.method,
        url=planned.url(tool.connection.base_url),
        body=None if planned.body is None else planned.body.decode("utf-8"),
        headers=planned.headers,
    )


def _principal(ctx: RequestContext) -> Principal:
    """The caller, which the MCP core passes through untouched: the transports always give a Principal."""
    if not isinstance(ctx.caller, Principal):
        raise TypeError(f"the gateway's caller must be a Principal, not {type(ctx.caller).__name__}")
    return ctx.caller


def _where(error: ValidationProblem) -> str:
    path = "/".join(str(p) for p in error.absolute_path)
    return f"{path}: " if path else ""
