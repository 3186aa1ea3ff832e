"""Text rendering for `mcp-cli`: aligned tables, the verify report, the metrics table, status lines.

The verify and metrics layouts are the reference product's (its README shows them);
keep titles, underlines and column names exactly as they are.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from http import HTTPStatus
from typing import Any

GAP = "  "
TARGET_URL_WIDTH = 24  # the reference shows "https://internal.bank..." for a longer base URL

VERIFY_TITLE = "Running Gateway Component Diagnostics..."
VERIFY_RULE = "=" * 41
VERIFY_STEPS = {
    "server": "[1/5] Checking Gateway Server Connectivity...",
    "admin_token": "[2/5] Verifying Admin Credentials Token...",
    "database": "[3/5] Querying System Database Schema...",
    "vault": "[4/5] Testing Vault Secret Integration...",
    "targets": "[5/5] Verifying Target API Connectivity...",
}
METRICS_TITLE = "MCP Gateway Monitoring Telemetry Stats"
METRICS_COLUMNS = ("Metric Identifier", "Labels / Tags", "Value")
# Shown besides every mcp_* metric; present when the answering process exports them.
PROCESS_METRICS = (
    "process_resident_memory_bytes",
    "process_virtual_memory_bytes",
    "process_cpu_seconds",
    "process_open_fds",
    "process_start_time_seconds",
    "go_memstats_alloc_bytes",
)
QUANTILES = ("0.5", "0.9", "0.99")


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Columns padded to their widest cell, a dash underline as long as each header."""
    cells = [[_cell(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        return GAP.join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()

    return "\n".join([line(headers), line(["-" * len(h) for h in headers]), *map(line, cells)])


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return " ".join(str(value).split())  # one line per row, whatever the data holds


def truncate(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def step_result(ok: bool, detail: str | None = None) -> str:
    """' OK', ' OK (3 Connections, 6 Tools Registered)', ' FAIL (reason)': the end of a step line."""
    return (" OK" if ok else " FAIL") + (f" ({detail})" if detail else "")


def step_line(step: str, ok: bool | None, detail: str | None = None) -> str:
    return VERIFY_STEPS[step] + ("" if ok is None else step_result(ok, detail))


def http_note(status: int | None, reason: str | None) -> str:
    # The standard phrase: servers differ in case ("UNAUTHORIZED") and HTTP/2 sends none.
    try:
        phrase = HTTPStatus(status).phrase if status is not None else reason or ""
    except (ValueError, TypeError):
        phrase = reason or ""
    return f"HTTP {status} {phrase}".rstrip()


def targets_table(targets: list[dict[str, Any]]) -> str:
    rows = []
    for t in targets:
        answered = t.get("http_status") is not None  # a 5xx answer fails, but it is not "unreachable"
        note = http_note(t.get("http_status"), t.get("reason")) if answered else (t.get("error") or "unreachable")
        if t.get("enabled") is False:
            note += " (connection disabled)"
        note += circuit_note(t)  # upstream resilience (issue 15, item 4)
        rows.append(
            (
                t.get("name", ""),
                truncate(str(t.get("base_url", "")), TARGET_URL_WIDTH),
                "OK" if target_ok(t) else "FAIL",
                note,
            )
        )
    return table(("Name", "Target URL", "Status", "Notes"), rows)


def target_ok(target: dict[str, Any]) -> bool:
    """The probe answered and the circuit breaker lets calls through (a gateway without breakers sends none)."""
    return bool(target.get("ok")) and target.get("circuit", "closed") == "closed"


def circuit_note(target: dict[str, Any]) -> str:
    circuit = target.get("circuit", "closed")
    if circuit == "open":
        return "; circuit open: calls refused"
    if circuit == "half_open":
        return "; circuit half-open: probing"
    return ""


# -- metrics ----------------------------------------------------------------------


def metric_rows(text: str, show_all: bool = False) -> list[tuple[str, str, str]]:
    """(identifier, labels, value) rows from Prometheus text; histograms become estimated quantiles."""
    from prometheus_client.parser import text_string_to_metric_families

    rows: list[tuple[str, str, str]] = []
    for family in text_string_to_metric_families(text):
        if not (show_all or family.name.startswith("mcp_") or family.name in PROCESS_METRICS):
            continue
        if family.type == "histogram":
            rows.extend(_histogram_rows(family))
            continue
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue  # creation timestamps, not measurements
            rows.append((sample.name, labels_text(sample.labels), format_value(sample.value)))
    return rows


def _histogram_rows(family) -> list[tuple[str, str, str]]:
    series: dict[tuple, dict[str, Any]] = {}
    for sample in family.samples:
        if not sample.name.endswith("_bucket"):
            continue
        labels = {k: v for k, v in sample.labels.items() if k != "le"}
        entry = series.setdefault(tuple(sorted(labels.items())), {"labels": labels, "buckets": []})
        entry["buckets"].append((float(sample.labels["le"]), sample.value))
    rows = []
    for entry in series.values():
        for q in QUANTILES:
            value = histogram_quantile(float(q), entry["buckets"])
            if value is not None:
                rows.append((family.name, labels_text({"quantile": q, **entry["labels"]}), format_value(value)))
    return rows


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """Prometheus's histogram_quantile: linear interpolation inside the bucket holding the rank."""
    buckets = sorted(buckets)
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound  # above the highest finite bucket: its bound is the best estimate
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return lower_bound


def labels_text(labels: dict[str, str]) -> str:
    if not labels:
        return "-"
    escaped = {k: v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") for k, v in labels.items()}
    # quantile first, as in the reference's sample; the rest alphabetically.
    keys = sorted(escaped, key=lambda k: (k != "quantile", k))
    return ",".join(f'{k}="{escaped[k]}"' for k in keys)


def format_value(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        return str(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if abs(value) >= 0.001:
        return f"{value:.3f}".rstrip("0").rstrip(".")
    return f"{value:.3g}"


def metrics_report(rows: list[tuple[str, str, str]]) -> str:
    return "\n".join([METRICS_TITLE, "=" * len(METRICS_TITLE), table(METRICS_COLUMNS, rows)])


# -- status and logs ----------------------------------------------------------------


def status_lines(addr: str, data: dict[str, Any]) -> list[str]:
    counts = data.get("counts") or {}
    vault = str(data.get("vault_provider", "?")) + (" (read-only)" if data.get("vault_read_only") else "")
    pairs = [
        ("Gateway", f"{addr} (Janus {data.get('version', '?')}, up {_duration(data.get('uptime_seconds'))})"),
        ("Active port", data.get("port")),
        ("Database", f"{data.get('database', '?')} (schema revision {data.get('schema_revision') or 'none'})"),
        ("Vault provider", vault),
        ("TLS", _on_off(data.get("tls"))),
        ("mTLS", _on_off(data.get("mtls"), "enabled (client certificates required)")),
        ("OIDC sign-in", _on_off(data.get("oidc"))),
        (
            "Catalog",
            f"{counts.get('connections', 0)} connections, {counts.get('tools', 0)} tools, "
            f"{counts.get('tokens', 0)} client tokens, {counts.get('active_sessions', 0)} active MCP sessions",
        ),
    ]
    width = max(len(k) for k, _ in pairs) + 1
    return [f"{(k + ':').ljust(width)} {v}" for k, v in pairs]


def _on_off(flag: Any, on: str = "enabled") -> str:
    return on if flag else "disabled"


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)):
        return "?"
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days}d"] if days else []
    if days or hours:
        parts.append(f"{hours}h")
    if days or hours or minutes:
        parts.append(f"{minutes}m")
    parts.append(f"{secs}s")
    return " ".join(parts)


def short_time(value: Any) -> str:
    """'2025-01-02T13:04:05.123456Z' → '2025-01-02 13:04:05Z' (UTC, as the gateway stores it)."""
    if not isinstance(value, str) or "T" not in value:
        return value or "-"
    date, _, clock = value.partition("T")
    zone = "Z" if clock.endswith("Z") else ""
    return f"{date} {clock.rstrip('Z').split('.')[0].split('+')[0]}{zone}"


def logs_table(items: list[dict[str, Any]]) -> str:
    rows = [
        (
            short_time(i.get("created_at")),
            i.get("token_name"),
            i.get("tool_name"),
            i.get("status"),
            i.get("http_status"),
            _ms(i.get("duration_ms")),
            truncate(_cell(i.get("error_message")), 100),
        )
        for i in items
    ]
    return table(("Time (UTC)", "Token", "Tool", "Status", "HTTP", "Duration ms", "Error"), rows)


def _ms(value: Any) -> str:
    if isinstance(value, (int, float)):
        return str(int(value)) if float(value).is_integer() else f"{value:.1f}"
    return "-"


def impact_report(impact: dict[str, Any]) -> str:
    """`mcp-cli connection modify|delete --dry-run`: what the change would do to live clients, in full."""
    lines = [impact["summary"]]
    for key, label in (("prefix", "Prefix"), ("enabled", "Enabled")):
        change = impact["changes"].get(key)
        if change:
            lines.append(f"{label}: {_cell(change['from'])} -> {_cell(change['to'])}")
    if impact["renamed"]:
        lines += ["", f"Renamed tools ({impact['counts']['renamed']}):"]
        lines += [
            f"  {r['from']} -> {r['to']}" + ("" if r["live"] else "  (not served now)") for r in impact["renamed"]
        ]
    if impact["hidden"]:
        verb = "Removed" if impact["action"] == "delete" else "Hidden"
        lines += ["", f"{verb} served tools ({impact['counts']['hidden']}):", *(f"  {n}" for n in impact["hidden"])]
    if impact["shown"]:
        lines += ["", f"Served again ({impact['counts']['shown']}):", *(f"  {n}" for n in impact["shown"])]
    if impact["tokens"]:
        rows = [
            (t["name"], t["role"], t["tools_lost"], t["tools_gained"], ", ".join(t["dead_scopes"]))
            for t in impact["tokens"]
        ]
        lines += ["", table(("Token", "Role", "Tools Lost", "Tools Gained", "Scopes Matching Nothing"), rows)]
    return "\n".join(lines)
