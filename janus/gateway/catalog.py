"""What each caller may see and call, cached in-process and kept fresh.

The database is read once per change, not once per call: every process polls
a change counter at most every `refresh_seconds` and, when it moved, re-reads
only the rows the change log names (`update`), applying them to a copy of the
snapshot; it loads everything only at start or when it fell behind the log.
A `tools/call` therefore costs a dict lookup, a scope check and a
compiled-schema validation, and a change costs in proportion to its size.
"""

from __future__ import annotations

import bisect
import fnmatch
import functools
import gc
import hashlib
import hmac
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from janus.gateway import tool_metadata
from janus.gateway.schemas import ArgumentRules, SchemaValidator
from janus.gateway.specs import ToolSpec

log = logging.getLogger(__name__)

# Janus's built-in admin tools own every name starting with this, in any letter case: an upstream
# tool named like one would be granted by an admin token's `admin_*` scope, or look like one to a model.
RESERVED_PREFIX = "admin_"


def is_reserved_name(name: str) -> bool:
    return name[: len(RESERVED_PREFIX)].casefold() == RESERVED_PREFIX


def token_digest(raw: str) -> str:
    """The token's SHA-256: what databases before schema 0005 stored, and what the keyed hash covers."""
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def keyed_token_hash(key: bytes, digest: str) -> str:
    """HMAC-SHA256 under the server key: a leaked database cannot be tested against guessed tokens
    (admins may paste low-entropy ones), nor given a row for a token of the attacker's choosing."""
    return hmac.digest(key, digest.encode("utf-8"), "sha256").hex()  # one-shot C path: ~1 µs


def hash_token(raw: str, key: bytes) -> str:
    """What the database stores for a token. Over the SHA-256, not the raw value, so rows from before
    the key existed are re-keyed without knowing their tokens. Two hashes: microseconds per request."""
    return keyed_token_hash(key, token_digest(raw))


def parse_scopes(raw: str | Iterable[str] | None) -> tuple[str, ...]:
    if raw is None:
        return ()
    items = raw.split(",") if isinstance(raw, str) else raw
    return tuple(s.strip() for s in items if s and s.strip())


def scopes_allow(scopes: tuple[str, ...] | None, tool_name: str) -> bool:
    if scopes is None:  # an unrestricted local principal (stdio without a token)
        return True
    return any(scope_matcher(glob)(tool_name) for glob in scopes)


@functools.lru_cache(maxsize=32768)
def scope_matcher(glob: str) -> Callable[[str], bool]:
    """Whether a tool name matches one scope glob: shell-style and case-sensitive, as fnmatch.fnmatchcase
    (its translation, compiled once). The one matcher: scopes_allow applies it to a token's scopes, and a
    caller trying one scope on many names (janus.services.connection_impact) keeps it at hand."""
    match = re.compile(fnmatch.translate(glob)).match
    return lambda name: match(name) is not None


@dataclass(frozen=True)
class TokenRecord:
    id: str
    name: str
    role: str
    scopes: tuple[str, ...]
    enabled: bool = True
    expires_at: datetime | None = None
    # Mutual TLS binding: the client certificate this token must arrive with (janus.transports.client_cert).
    cert_fingerprint: str | None = None  # SHA-256 of the DER, 64 lower-case hex digits
    cert_subject: str | None = None  # RFC 4514

    @property
    def cert_bound(self) -> bool:
        return self.cert_fingerprint is not None or self.cert_subject is not None

    def certificate_matches(self, fingerprint: str | None, subject: str | None) -> bool:
        """Whether a presented certificate (None, None: none) satisfies every binding this token has."""
        if self.cert_fingerprint is not None and self.cert_fingerprint != fingerprint:
            return False
        return self.cert_subject is None or self.cert_subject == subject

    # The token's own rate limit (requests a second, burst); None: MCP_RATE_PER_CLIENT / MCP_BURST_PER_CLIENT.
    rate_per_second: int | None = None
    rate_burst: int | None = None

    def is_active(self, now: datetime | None = None) -> bool:
        if not self.enabled:
            return False
        if self.expires_at is None:
            return True
        return (now or datetime.now(UTC)) < self.expires_at


@dataclass(frozen=True)
class Principal:
    """Who is calling: a token (by its keyed hash, hash_token) or, for a local stdio process, nobody in particular.

    An identity the edge verified itself (an OAuth access token, janus/auth/oauth_tokens.py) carries
    its own `grant` instead of a row of the token table; its `token_hash` is then the keyed hash of
    its issuer and subject (`Catalog.hash_identity`), which binds sessions and per-caller caps to the
    identity across token refreshes.
    """

    token_hash: str | None
    transport: str = "stdio"
    actor: str | None = None  # who, when there is no token: the audit log's name for a portal user
    grant: TokenRecord | None = None
    # The HTTP request's `traceparent` header as sent (validated where a call uses it: janus/gateway/tracing.py).
    traceparent: str | None = field(default=None, compare=False)

    @property
    def unrestricted(self) -> bool:
        return self.token_hash is None


@dataclass
class Listing:
    tools: list[dict[str, Any]]
    names: frozenset[str]
    fingerprint: str
    # Tool metadata (issue 15, item 2): the tools as clients before 2025-06-18 know them, made on first need.
    older: list[dict[str, Any]] | None = None

    def tools_for(self, protocol_version: str) -> list[dict[str, Any]]:
        if tool_metadata.knows_metadata(protocol_version):
            return self.tools
        if self.older is None:
            self.older = tool_metadata.without_metadata(self.tools)
        return self.older


# Where a tool stands among others of its name: the first registered wins (the loader's order).
Rank = tuple[str, ...]


@dataclass
class CatalogSnapshot:
    """One immutable view of the catalogue. A change makes a new snapshot from the previous one
    (`changed`), touching only the tools and tokens it names: calls in flight keep the one they hold."""

    version: int
    tools: tuple[ToolSpec, ...]  # sorted by name: tools/list order is deterministic
    tokens: dict[str, TokenRecord]  # by token hash
    # Each tool's place in registration order, by endpoint id (None: the order of `tools`).
    ranks: dict[str, Rank] | None = None
    by_name: dict[str, ToolSpec] = field(init=False)
    # Token hashes by bound certificate fingerprint and subject: a certificate without a bearer is a dict lookup.
    by_cert_fingerprint: dict[str, str] = field(init=False)
    by_cert_subject: dict[str, str] = field(init=False)
    # Every tool the rows define, served or not (shadowed by an earlier one of its name), by endpoint id.
    _candidates: dict[str, ToolSpec] = field(init=False, default_factory=dict)
    # The endpoint ids defining each name (usually one), and the served names in order.
    _ids_by_name: dict[str, tuple[str, ...]] = field(init=False, default_factory=dict)
    _names: list[str] = field(init=False, default_factory=list)
    _listings: dict[tuple[str, ...] | None, Listing] = field(init=False, default_factory=dict)
    _validators: dict[str, SchemaValidator | _Refused] = field(init=False, default_factory=dict)
    _rules: dict[str, ArgumentRules] = field(init=False, default_factory=dict)
    _descriptors: dict[str, tuple[dict[str, Any], str]] = field(init=False, default_factory=dict)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)
    # Tool metadata (issue 15, item 2): compiled output schemas (or why not), by tool name
    output_validators: dict[str, Any] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        if self.ranks is None:
            self.ranks = {t.endpoint_id: ("", f"{i:09d}") for i, t in enumerate(self.tools)}
        self._candidates = {t.endpoint_id: t for t in self.tools}
        ordered = sorted(self.tools, key=lambda t: self._rank(t))
        # The first of a name wins (a stable sort keeps registration order among equals).
        self.tools = tuple(sorted(_servable(ordered), key=lambda t: t.name))
        self.by_name = {t.name: t for t in self.tools}
        self._names = [t.name for t in self.tools]
        ids_by_name: dict[str, list[str]] = {}
        for t in ordered:
            ids_by_name.setdefault(t.name, []).append(t.endpoint_id)
        self._ids_by_name = {name: tuple(ids) for name, ids in ids_by_name.items()}
        self._index_tokens()

    def _rank(self, tool: ToolSpec) -> Rank:
        assert self.ranks is not None
        return self.ranks.get(tool.endpoint_id, ("\uffff",))

    def _index_tokens(self) -> None:
        self.by_cert_fingerprint = {r.cert_fingerprint: h for h, r in self.tokens.items() if r.cert_fingerprint}
        self.by_cert_subject = {r.cert_subject: h for h, r in self.tokens.items() if r.cert_subject}

    def endpoint_ids_of(self, connection_id: str) -> list[str]:
        """The endpoints of a connection this snapshot holds (to drop them when the connection changes)."""
        return [eid for eid, t in self._candidates.items() if t.connection.id == connection_id]

    def changed(
        self,
        version: int,
        *,
        dropped: Iterable[str] = (),
        added: Iterable[tuple[ToolSpec, Rank]] = (),
        tokens: dict[str, TokenRecord] | None = None,
        dropped_tokens: Iterable[str] = (),
    ) -> CatalogSnapshot:
        """A new snapshot: these endpoints dropped (by id), these tools added or replaced (by endpoint
        id), these tokens (by hash) added or replaced and these (by token id) dropped. Costs a copy of
        the dicts and work in proportion to the change; compiled schemas and listed descriptors of the
        tools it leaves alone carry over."""
        new = object.__new__(CatalogSnapshot)
        # Copies of the dicts (C-speed, ~0.1 ms for 10,000 entries), then only the touched entries edited.
        candidates = dict(self._candidates)
        ranks = dict(self.ranks or {})
        ids_by_name = dict(self._ids_by_name)
        affected: set[str] = set()

        def unlist(tool: ToolSpec) -> None:
            affected.add(tool.name)
            rest = tuple(i for i in ids_by_name.get(tool.name, ()) if i != tool.endpoint_id)
            if rest:
                ids_by_name[tool.name] = rest
            else:
                ids_by_name.pop(tool.name, None)

        for eid in dropped:
            old = candidates.pop(eid, None)
            ranks.pop(eid, None)
            if old is not None:
                unlist(old)
        for tool, rank in added:
            old = candidates.get(tool.endpoint_id)
            if old is not None:
                unlist(old)
            candidates[tool.endpoint_id] = tool
            ranks[tool.endpoint_id] = rank
            ids_by_name[tool.name] = (*ids_by_name.get(tool.name, ()), tool.endpoint_id)
            affected.add(tool.name)
        by_name = dict(self.by_name)
        names = list(self._names)
        for name in affected:  # which candidate serves each touched name now (the first registered)
            contenders = sorted(
                (candidates[i] for i in ids_by_name.get(name, ())),
                key=lambda t: ranks.get(t.endpoint_id, ("\uffff",)),
            )
            served = _servable(contenders)
            was = by_name.pop(name, None)
            if served:
                by_name[name] = served[0]
                if was is None:
                    bisect.insort(names, name)
            elif was is not None:
                del names[bisect.bisect_left(names, name)]
        new.version = version
        new.ranks = ranks
        new._candidates = candidates
        new._ids_by_name = ids_by_name
        new._names = names
        new.by_name = by_name
        new.tools = tuple(map(by_name.__getitem__, names)) if affected else self.tools
        leaving = {*dropped_tokens, *(r.id for r in (tokens or {}).values())}  # a token's hash may have changed
        if leaving:
            new.tokens = {h: r for h, r in self.tokens.items() if r.id not in leaving}
            new.tokens.update(tokens or {})
            new._index_tokens()
        else:
            new.tokens = self.tokens
            new.by_cert_fingerprint, new.by_cert_subject = self.by_cert_fingerprint, self.by_cert_subject
        # A name served by an equal spec as before (a connection disabled and enabled again) keeps its caches.
        stale = [name for name in affected if by_name.get(name) != self.by_name.get(name)]
        new._listings = {}
        new._validators, new._rules, new._descriptors = (
            _without(self._validators, stale),
            _without(self._rules, stale),
            _without(self._descriptors, stale),
        )
        new.output_validators = _without(self.output_validators, stale)  # tool metadata (issue 15, item 2)
        new._lock = threading.Lock()
        return new

    def token_for_certificate(self, fingerprint: str, subject: str | None) -> str | None:
        """The hash of the token bound to this certificate (fingerprint first: the narrower binding), if
        every binding of that token holds; None otherwise."""
        token_hash = self.by_cert_fingerprint.get(fingerprint)
        if token_hash is None and subject is not None:
            token_hash = self.by_cert_subject.get(subject)
        if token_hash is None or not self.tokens[token_hash].certificate_matches(fingerprint, subject):
            return None
        return token_hash

    def token(self, principal: Principal) -> TokenRecord | None:
        if principal.grant is not None:
            return principal.grant
        return None if principal.token_hash is None else self.tokens.get(principal.token_hash)

    def scopes_for(self, principal: Principal) -> tuple[str, ...] | None:
        """None means everything; () means nothing (unknown, disabled or expired token)."""
        if principal.unrestricted:
            return None
        record = self.token(principal)
        if record is None or not record.is_active():
            return ()
        return record.scopes

    def listing(self, scopes: tuple[str, ...] | None) -> Listing:
        cached = self._listings.get(scopes)
        if cached is None:
            visible = [t for t in self.tools if scopes_allow(scopes, t.name)]
            described = [self._described(t) for t in visible]
            # Over each tool's own digest (kept from snapshot to snapshot): no JSON of the whole list per change.
            digest = hashlib.sha256("".join(d for _, d in described).encode()).hexdigest()[:16]
            cached = Listing(
                tools=[descriptor for descriptor, _ in described],
                names=frozenset(t.name for t in visible),
                fingerprint=digest,
            )
            with self._lock:
                self._listings[scopes] = cached
        return cached

    def _described(self, tool: ToolSpec) -> tuple[dict[str, Any], str]:
        found = self._descriptors.get(tool.name)
        if found is None:
            descriptor = tool_descriptor(tool)
            digest = hashlib.sha256(json.dumps(descriptor, sort_keys=True).encode()).hexdigest()[:16]
            found = self._descriptors[tool.name] = (descriptor, digest)  # one writer wins; both are equal
        return found

    def validator(self, tool: ToolSpec) -> SchemaValidator:
        """The tool's compiled validator; raises SchemaRefused (every call, from one check per
        snapshot) when its stored schema breaks the rules of janus.gateway.schemas."""
        validator = self._validators.get(tool.name)
        if validator is None:
            # Imported on first call, not at start: `-stdio` answers its first tools/list sooner.
            from janus.gateway.schemas import SchemaRefused, build_validator

            try:
                validator = build_validator(tool.input_schema)
            except SchemaRefused as exc:
                # Logged once per snapshot for the operator; each call answers a tool error.
                log.error("tool %s cannot be called until its input schema is fixed: %s", tool.name, exc)
                validator = _Refused(exc.problems)
            with self._lock:
                self._validators[tool.name] = validator
        if isinstance(validator, _Refused):
            from janus.gateway.schemas import SchemaRefused

            raise SchemaRefused(validator.problems)  # a fresh one: a re-raised instance grows its traceback
        return validator

    def argument_rules(self, tool: ToolSpec) -> ArgumentRules:
        rules = self._rules.get(tool.name)
        if rules is None:
            rules = ArgumentRules.of(tool.input_schema, tool.path_template)
            with self._lock:
                self._rules[tool.name] = rules
        return rules


def _without(cache: dict[str, Any], names: list[str]) -> dict[str, Any]:
    kept = dict(cache)
    for name in names:
        kept.pop(name, None)
    return kept


@dataclass(frozen=True)
class _Refused:
    problems: list[str]


def _servable(tools: Iterable[ToolSpec]) -> list[ToolSpec]:
    """Each name once, none in the admin namespace. The services refuse both; rows written before
    those rules (or by hand) must still never shadow an admin tool or list one name twice."""
    kept: dict[str, ToolSpec] = {}
    for tool in tools:
        if is_reserved_name(tool.name):
            log.warning(
                "tool %s (connection %r) is not served: names starting with %r are reserved for "
                "Janus's admin tools; give the connection another prefix",
                tool.name,
                tool.connection.name,
                RESERVED_PREFIX,
            )
        elif tool.name in kept:
            log.warning(
                "tool %s of connection %r is not served: connection %r registered that name first",
                tool.name,
                tool.connection.name,
                kept[tool.name].connection.name,
            )
        else:
            kept[tool.name] = tool
    return list(kept.values())


def tool_descriptor(tool: ToolSpec) -> dict[str, Any]:
    """The MCP Tool object for tools/list (janus/gateway/tool_metadata.py)."""
    return tool_metadata.describe(
        tool.name,
        tool.description,
        tool.input_schema,
        tool.method,
        title=tool.title,
        annotations=tool.annotations,
        output_schema=tool.output_schema,
        version=tool.definition_version,
    )


# A miss (an unknown token or tool) re-checks the catalogue at most this often per process.
MISS_RECHECK_SECONDS = 0.05


_freeze = gc.freeze  # (a seam for the test that counts the freezes)


class Catalog:
    """A snapshot that refreshes itself when the shared change counter moves.

    `update(snapshot)` returns the snapshot with the changes since its version applied, or None when it
    cannot (too far behind the change log): `load()` then reads everything."""

    def __init__(
        self,
        load: Callable[[], CatalogSnapshot],
        probe: Callable[[], int],
        refresh_seconds: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        token_key: bytes | None = None,
        update: Callable[[CatalogSnapshot], CatalogSnapshot | None] | None = None,
    ) -> None:
        self._token_key = token_key
        self._load = load
        self._update = update
        self._probe = probe
        self._refresh = refresh_seconds
        self._clock = clock
        self._snapshot: CatalogSnapshot | None = None
        self._next_check = 0.0
        self._checked_at = float("-inf")  # when the counter was last read
        self._miss_checked_at = float("-inf")  # when a miss last read it (after_miss coalesces on it)
        self._lock = threading.Lock()
        # Set by start_refresher (a server worker): refreshes happen there, never in a call's own time.
        self._wake: threading.Event | None = None
        self._stopped = False

    def hash_token(self, raw: str) -> str:
        """A presented token as the snapshot's token table (and the session rows) know it."""
        if self._token_key is None:  # never fall back to an unkeyed hash: fail closed
            raise RuntimeError("this catalog was built without the token hash key")
        return hash_token(raw, self._token_key)

    def hash_identity(self, identity: str) -> str:
        """An external identity's key (an OAuth issuer and subject) in the token hashes' space: keyed like
        them, over a text that is never a SHA-256 hex digest, so it cannot equal any client token's hash."""
        if self._token_key is None:
            raise RuntimeError("this catalog was built without the token hash key")
        return keyed_token_hash(self._token_key, "identity:" + identity)

    def current(self) -> CatalogSnapshot:
        snapshot = self._snapshot
        if snapshot is not None and (self._wake is not None or self._clock() < self._next_check):
            return snapshot
        if snapshot is not None:
            # One caller refreshes; the others keep serving the snapshot they have
            # rather than queueing behind a slow (or hung) database.
            if not self._lock.acquire(blocking=False):
                return snapshot
        else:
            self._lock.acquire()
        try:
            if self._snapshot is None or self._clock() >= self._next_check:
                self._refresh_locked()
            snapshot = self._snapshot
            assert snapshot is not None  # _refresh_locked raises rather than leave it unset
            return snapshot
        finally:
            self._lock.release()

    def invalidate(self) -> None:
        """Check again on the next access (after a change made in this process); with a refresher,
        wake it to check now."""
        self._next_check = 0.0
        if self._wake is not None:
            self._wake.set()

    def refresh(self) -> CatalogSnapshot:
        """Check the database now and return the result: for the process that just made a change and
        must see it at once (an admin request, the portal's "try it"). Waits for a refresh in progress
        rather than skip it: that one may have read the counter before the change."""
        with self._lock:
            self._next_check = 0.0
            self._refresh_locked()
            snapshot = self._snapshot
        assert snapshot is not None  # _refresh_locked raises rather than leave it unset
        return snapshot

    def after_miss(self, max_age: float = MISS_RECHECK_SECONDS) -> CatalogSnapshot:
        """The snapshot to answer a miss from (a token or tool this one does not know): checked again now,
        unless it was checked within `max_age` seconds. A token issued or a tool saved a moment ago on
        another worker is then found at once rather than after the next periodic check, and a flood of
        unknown tokens or tools costs at most one counter query per `max_age` (concurrent misses wait for
        the same check)."""
        # Only misses count here, not the periodic checks: one that ran just before the change (a token
        # issued on another worker) must not stand in for the look a miss after it asks for.
        snapshot = self._snapshot
        if snapshot is not None and self._clock() - self._miss_checked_at < max_age:
            return snapshot
        with self._lock:
            if self._snapshot is None or self._clock() - self._miss_checked_at >= max_age:
                self._miss_checked_at = self._clock()
                self._refresh_locked()
            snapshot = self._snapshot
        assert snapshot is not None
        return snapshot

    def start_refresher(self) -> None:
        """Keep the snapshot fresh from a thread of its own (a greenlet in a gevent worker): every
        refresh_seconds, and at once after invalidate(). current() then only ever returns the snapshot
        it finds, so no tool call waits for the change counter's query, the change log or a lock on the
        database in its own time. Measured before (issue 15): the one call per interval that found the
        check due refreshed inline, and during a bulk registration those calls made the p99."""
        if self._refresh <= 0:
            return  # CATALOG_REFRESH_SECONDS=0 asks for a check on every access: nothing to do between them
        with self._lock:
            if self._wake is not None:
                return
            self._wake = threading.Event()
        threading.Thread(target=self._refresh_forever, name="janus-catalog-refresh", daemon=True).start()

    def stop_refresher(self) -> None:
        self._stopped = True
        if self._wake is not None:
            self._wake.set()

    def _refresh_forever(self) -> None:
        wake = self._wake
        assert wake is not None
        while not self._stopped:
            wake.wait(max(self._refresh, MISS_RECHECK_SECONDS))  # CATALOG_REFRESH_SECONDS=0 must not spin
            wake.clear()
            if self._stopped:
                break
            try:
                with self._lock:
                    self._refresh_locked()
            except Exception:  # the first load failed (no snapshot yet): current() raises it to callers
                log.warning("catalog refresh failed", exc_info=True)
        self._wake = None  # back to refreshing on access

    def _probed(self) -> int:
        version = self._probe()
        self._checked_at = self._clock()
        return version

    def _loaded_whole(self) -> None:
        """After a whole load in a server worker (one that refreshes in the background): the snapshot lives
        until the next whole load, so it leaves the cyclic garbage collector's view (gc.freeze), as the app
        did at the worker's start. Otherwise every full collection scans it: 190,000 objects for 10,000 tools,
        a 120-150 ms stop of every call of the worker, which the allocations of an import (1,200 tools) set
        off. It makes no cyclic garbage (measured: a whole load and a dropped snapshot leave none for the
        collector), so nothing frozen leaks when a later snapshot replaces it. Changes made since (an import)
        stay in view: a collection then costs in proportion to them."""
        if self._wake is not None:
            _freeze()

    def _refresh_locked(self) -> None:
        try:
            if self._snapshot is None:
                started = self._clock()
                self._snapshot = self._load()
                self._checked_at = started
                self._loaded_whole()
                log.debug("catalog loaded: version %s, %d tools", self._snapshot.version, len(self._snapshot.tools))
            elif self._probed() != self._snapshot.version:
                updated = self._update(self._snapshot) if self._update is not None else None
                self._snapshot = updated if updated is not None else self._load()
                if updated is None:
                    self._loaded_whole()
                log.debug("catalog at version %s, %d tools", self._snapshot.version, len(self._snapshot.tools))
        except Exception:
            if self._snapshot is None:
                raise
            # Keep serving what we have; the database may be briefly unavailable.
            log.warning("catalog refresh failed; serving the cached catalog", exc_info=True)
        self._next_check = self._clock() + self._refresh
