"""Rows, rounds and the printed table of bench/http_benchmark.py."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field


@dataclass
class Row:
    target: str
    concurrency: int
    client: str = ""
    status: str = "ok"
    requests: int = 0
    seconds: float = 0.0
    rps: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    errors: int = 0
    cpu_us_per_call: float = 0.0
    peak_rss_mib: float = 0.0
    others_cpu_pct: float = 0.0  # CPU used by processes outside the benchmark, % of one core
    cpu_seconds: float = 0.0
    cpu_split: dict[str, float] = field(default_factory=dict)  # pid -> CPU seconds in the run (root first)
    rounds: int = 1
    per_round: list[dict] = field(default_factory=list)
    error_sample: str | None = None
    vs_peer: dict[str, float] = field(default_factory=dict)


def combine(runs: list[Row]) -> Row:
    """Rounds of one target: totals for req/s and CPU, median of the p50s, worst p99, highest RSS."""
    good = [r for r in runs if not r.status.startswith(("unavailable", "failed"))]
    if len(runs) == 1 or not good:
        return runs[0]
    row = Row(good[0].target, good[0].concurrency, client=good[0].client, rounds=len(good))
    row.status = next((r.status for r in runs if r.status != "ok"), "ok")
    row.requests = sum(r.requests for r in good)
    row.seconds = sum(r.seconds for r in good)
    row.errors = sum(r.errors for r in good)
    row.error_sample = next((r.error_sample for r in good if r.error_sample), None)
    row.cpu_seconds = sum(r.cpu_seconds for r in good)
    row.rps = row.requests / row.seconds if row.seconds else 0.0
    row.cpu_us_per_call = row.cpu_seconds / row.requests * 1e6 if row.requests else 0.0
    row.p50_ms = statistics.median(r.p50_ms for r in good)
    row.p99_ms = max(r.p99_ms for r in good)
    row.peak_rss_mib = max(r.peak_rss_mib for r in good)
    row.others_cpu_pct = max(r.others_cpu_pct for r in good)
    for r in good:
        for pid, seconds in r.cpu_split.items():
            row.cpu_split[pid] = round(row.cpu_split.get(pid, 0.0) + seconds, 2)
    row.per_round = [
        {
            "rps": round(r.rps, 1),
            "p50_ms": round(r.p50_ms, 3),
            "p99_ms": round(r.p99_ms, 3),
            "cpu_us_per_call": round(r.cpu_us_per_call, 1),
            "others_cpu_pct": round(r.others_cpu_pct),
            "cpu_split": r.cpu_split,
        }
        for r in runs
    ]
    return row


def add_ratios(rows: list[Row]) -> None:
    peers = {r.concurrency: r for r in rows if r.target == "peer" and r.status == "ok" and r.requests}
    for r in rows:
        p = peers.get(r.concurrency)
        if p and r.requests and not r.status.startswith(("unavailable", "failed")):
            r.vs_peer = {
                "rps": r.rps / p.rps,
                "p50": r.p50_ms / p.p50_ms if p.p50_ms else 0.0,
                "cpu": r.cpu_us_per_call / p.cpu_us_per_call if p.cpu_us_per_call else 0.0,
            }


def table(rows: list[Row]) -> str:
    """One line per target and concurrency; ÷peer columns are ratios to FastMCP at the same concurrency."""
    head = (
        f"{'target':18} {'conc':>4} {'client':>6} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} "
        f"{'CPU µs/call':>11} {'RSS MiB':>7} {'req/s':>6} {'p50':>6} {'CPU':>6} {'others%':>7}"
    )
    at = head.index("RSS MiB") + len("RSS MiB") + 1
    over = " " * at + "—— ÷ peer ——".center(20)
    lines = [over, head, "-" * len(head)]
    for r in rows:
        if r.status.startswith(("unavailable", "failed")):
            lines.append(f"{r.target:18} {r.concurrency:4d} {r.client:>6} {r.status}")
            continue
        ratio = (
            f"{r.vs_peer['rps']:6.2f} {r.vs_peer['p50']:6.2f} {r.vs_peer['cpu']:6.2f}"
            if r.vs_peer
            else f"{'-':>6} {'-':>6} {'-':>6}"
        )
        lines.append(
            f"{r.target:18} {r.concurrency:4d} {r.client:>6} {r.rps:7.0f} {r.p50_ms:7.2f} {r.p99_ms:7.2f} "
            f"{r.errors:6d} {r.cpu_us_per_call:11.0f} {r.peak_rss_mib:7.1f} {ratio} {r.others_cpu_pct:7.0f}"
            + ("" if r.status == "ok" else f"  [{r.status}]")
        )
    return "\n".join(lines)


def cpu_split_lines(rows: list[Row]) -> str:
    lines = [
        "CPU seconds by process in each run (the tree's root first; with keep-alive connections, the gunicorn "
        "worker that accepted them does the work):"
    ]
    for r in rows:
        if len(r.cpu_split) > 1 and r.requests:
            split = " / ".join(f"{v:.2f}" for v in r.cpu_split.values())
            lines.append(f"  {r.target:18} c={r.concurrency:<3} {split}")
    return "\n".join(lines)
