"""`mcp-cli` flags for upstream resilience (janus/cli/mcp_cli_resilience.py), against a real gateway."""

from __future__ import annotations


def test_connection_flags_set_and_change_retries_and_the_breaker(admin):
    conn = admin.json(
        "connection", "add", "--name", "Ledger", "--url", "http://127.0.0.1:9", "--retries", "2",
        "--breaker-threshold", "3", "--breaker-cooldown", "12.5",
    )  # fmt: skip
    assert (conn["retries"], conn["breaker_threshold"], conn["breaker_cooldown_seconds"]) == (2, 3, 12.5)
    changed = admin.json("connection", "modify", "--id", conn["id"], "--breaker-threshold", "0")
    assert (changed["retries"], changed["breaker_threshold"]) == (2, 0)

    refused = admin.run("connection", "modify", "--id", conn["id"], "--retries", "9")
    assert refused.returncode != 0
    assert "retries must be between 0 and 5" in refused.stderr

    defaults = admin.json("connection", "add", "--name", "Plain", "--url", "http://127.0.0.1:9")
    assert (defaults["retries"], defaults["breaker_threshold"], defaults["breaker_cooldown_seconds"]) == (0, 5, 30.0)


def test_endpoint_timeout_flag_sets_and_clears_the_override(admin):
    conn = admin.json("connection", "add", "--name", "Billing", "--url", "http://127.0.0.1:9")
    ep = admin.json("endpoint", "add", "--conn-id", conn["id"], "--name", "get", "--path", "/x", "--timeout", "2.5")
    assert ep["timeout_seconds"] == 2.5
    cleared = admin.json("endpoint", "modify", "--id", ep["id"], "--timeout", "")
    assert cleared["timeout_seconds"] is None
    assert admin.json("endpoint", "modify", "--id", ep["id"], "--timeout", "4")["timeout_seconds"] == 4.0

    wrong = admin.run("endpoint", "modify", "--id", ep["id"], "--timeout", "soon")
    assert wrong.returncode == 2 and "'soon' is not a number of seconds" in wrong.stderr
    too_long = admin.run("endpoint", "modify", "--id", ep["id"], "--timeout", "601")
    assert too_long.returncode != 0 and "timeout_seconds must be between 0.1 and 600" in too_long.stderr
