"""What a change to a connection does to live clients, worked out before it is made (nothing is written).

A connection's tools are named prefix + tool_name, and a client token sees the served tools its scopes
(globs) match, matched as the gateway matches them: janus.gateway.catalog.scope_matcher, the one matcher.
A new prefix renames every tool of the connection, disabling hides them, deleting removes them; enabling
shows them again. Each active token may then lose tools it can call today, gain tools it could not see,
or keep a scope that matched some tool today and matches none afterwards (a "dead" scope: the client
sees an empty list where it had tools).

"Live" is what tools/list serves now: an enabled endpoint of an enabled connection. Token effects count
live tools only (before and after the change); `renamed` lists every endpoint, live or not, each marked,
so a rename of a disabled connection shows what it will do once enabled again.

Cost: one pass, no query per tool or token (janus.services.connections reads the rows in three queries).
Each distinct scope is matched once against this connection's names before and after the change, and
only on the names that could match: those starting with the glob's literal head (a range of a sorted
list) or, for a glob starting with a wildcard, containing its longest literal stretch. A token's tools
are then the OR of its scopes' bit sets.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from janus.gateway.catalog import TokenRecord, scope_matcher

_WILDCARDS = re.compile(r"[*?]")


@dataclass(frozen=True)
class Tool:
    tool_name: str
    enabled: bool  # the endpoint's own switch


@dataclass(frozen=True)
class State:
    """A connection as far as its tools' names and visibility go."""

    prefix: str
    enabled: bool
    exists: bool = True


def literal_runs(glob: str) -> list[str]:
    """The literal stretches of a glob between its wildcards, up to its first '[' (fnmatch treats every
    other character literally): a name the glob matches starts with the first and contains each of them.
    They only narrow the names worth trying; the gateway's matcher still decides."""
    return _WILDCARDS.split(glob.split("[", 1)[0])


class Names:
    """Tool names, each with a number (its bit in a token's set), sorted to find a glob's candidates."""

    def __init__(self, named: Iterable[tuple[str, int]]) -> None:
        pairs = sorted(named)
        self._names = [name for name, _ in pairs]
        self._bits = [bit for _, bit in pairs]

    def matching(self, glob: str) -> Iterator[int]:
        runs = literal_runs(glob)
        names, bits, matches = self._names, self._bits, scope_matcher(glob)
        head = runs[0]
        if head:  # the names starting with it: one range of the sorted list
            for k in range(bisect_left(names, head), len(names)):
                name = names[k]
                if not name.startswith(head):
                    break
                if matches(name):
                    yield bits[k]
            return
        core = max(runs, key=len)  # "*_get_*": only names containing "_get_" (a C-speed test) can match
        for k, name in enumerate(names):
            if core in name and matches(name):
                yield bits[k]

    def mask(self, glob: str) -> int:
        bits = 0
        for bit in self.matching(glob):
            bits |= 1 << bit
        return bits

    def any(self, glob: str) -> bool:
        return next(self.matching(glob), None) is not None


def compute(
    tools: Sequence[Tool],
    before: State,
    after: State,
    tokens: Iterable[TokenRecord],
    other_live_names: Callable[[], Iterable[str]],
    builtin_names: Iterable[str] = (),
) -> dict[str, Any]:
    """The impact of going from `before` to `after`. `other_live_names` (called only when a scope might
    die) gives the tools other connections serve; `builtin_names` the admin tools admin tokens also see."""
    live_before = [before.exists and before.enabled and t.enabled for t in tools]
    live_after = [after.exists and after.enabled and t.enabled for t in tools]
    old = [before.prefix + t.tool_name for t in tools]
    new = [after.prefix + t.tool_name for t in tools]
    indices = range(len(tools))
    renamed: list[dict[str, Any]] = (
        [{"from": old[i], "to": new[i], "live": live_before[i]} for i in sorted(indices, key=old.__getitem__)]
        if after.exists and after.prefix != before.prefix
        else []
    )
    hidden = sorted(old[i] for i in indices if live_before[i] and not live_after[i])
    shown = sorted(new[i] for i in indices if live_after[i] and not live_before[i])

    served_before = Names((old[i], i) for i in indices if live_before[i])
    served_after = Names((new[i], i) for i in indices if live_after[i])
    masks: dict[str, tuple[int, int]] = {}
    elsewhere: dict[str, bool] = {}
    others: list[Names] = []
    builtins = Names((name, 0) for name in builtin_names)

    def matches_elsewhere(scope: str, role: str) -> bool:
        if role == "admin" and builtins.any(scope):
            return True
        if scope not in elsewhere:
            if not others:
                others.append(Names((name, 0) for name in other_live_names()))
            elsewhere[scope] = others[0].any(scope)
        return elsewhere[scope]

    affected: list[dict[str, Any]] = []
    checked = 0
    for token in tokens:
        checked += 1
        had = has = 0
        dead: list[str] = []
        for scope in dict.fromkeys(token.scopes):
            pair = masks.get(scope)
            if pair is None:
                pair = masks[scope] = (served_before.mask(scope), served_after.mask(scope))
            had |= pair[0]
            has |= pair[1]
            if pair[0] and not pair[1] and not matches_elsewhere(scope, token.role):
                dead.append(scope)
        lost, gained = (had & ~has).bit_count(), (has & ~had).bit_count()
        if lost or gained or dead:
            affected.append(
                {
                    "id": token.id,
                    "name": token.name,
                    "role": token.role,
                    "tools_lost": lost,
                    "tools_gained": gained,
                    "dead_scopes": dead,
                }
            )
    affected.sort(key=lambda t: (-t["tools_lost"], t["name"], t["id"]))
    counts = {
        "tools": len(tools),
        "live_tools": sum(live_before),
        "renamed": len(renamed),
        "renamed_live": sum(1 for r in renamed if r["live"]),
        "hidden": len(hidden),
        "shown": len(shown),
        "removed": 0 if after.exists else len(tools),
        "tokens_checked": checked,
        "tokens_affected": len(affected),
        "tokens_losing_tools": sum(1 for t in affected if t["tools_lost"]),
        "tokens_gaining_tools": sum(1 for t in affected if t["tools_gained"]),
        "dead_scopes": sum(len(t["dead_scopes"]) for t in affected),
    }
    return {
        "counts": counts,
        "affects_clients": bool(counts["renamed_live"] or hidden or shown or affected),
        "summary": summary(counts),
        "renamed": renamed,
        "hidden": hidden,
        "shown": shown,
        "tokens": affected,
    }


def _n(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else (many or one + 's')}"


def summary(counts: dict[str, int]) -> str:
    """One line for people (mcp-cli, the portal): what the change does to live clients."""
    parts: list[str] = []
    if counts["removed"]:
        parts.append(f"{_n(counts['removed'], 'tool')} removed ({counts['hidden']} served now)")
    else:
        if counts["renamed"]:
            parts.append(f"{_n(counts['renamed'], 'tool')} renamed ({counts['renamed_live']} served now)")
        if counts["hidden"]:
            parts.append(f"{_n(counts['hidden'], 'served tool')} hidden")
        if counts["shown"]:
            parts.append(f"{_n(counts['shown'], 'tool')} served again")
    tokens = counts["tokens_checked"]
    for key, verb in (("tokens_losing_tools", "lose"), ("tokens_gaining_tools", "gain")):
        if counts[key]:
            parts.append(
                f"{counts[key]} of {_n(tokens, 'active token')} {verb + 's' if counts[key] == 1 else verb} tools"
            )
    if counts["dead_scopes"]:
        parts.append(
            f"{_n(counts['dead_scopes'], 'token scope')} {'stops' if counts['dead_scopes'] == 1 else 'stop'} "
            "matching any tool"
        )
    if not parts:
        return "Impact: no served tool is renamed, hidden or shown, and no active token is affected."
    return "Impact: " + "; ".join(parts) + "."
