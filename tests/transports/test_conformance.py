"""The official MCP conformance suite (`@modelcontextprotocol/conformance`, pinned in tools/conformance)
run against a real `mcp-gateway` over Streamable HTTP, once per frozen requirement set.

Real parts only: an upstream HTTP server on 127.0.0.1 serving the payloads the suite's
checks expect (every tool a scenario calls is an ordinary REST endpoint in the catalog), a catalog
written straight into SQLite, the gateway under gunicorn+gevent on its default bind (HOST unset),
and tests/support/header_proxy.py in front of it (the suite sends no credentials, the gateway
wants a bearer token). Every server scenario of each requirement set (`--requirements 2026-07-28`
and `2025-11-25`, scored and not-scored) is run at that revision's wire; the outcome must match
tools/conformance/expected-failures-<revision>.yml exactly — an unexpected failure fails the test
and so does an unexpected pass (a stale entry).

A scenario passes by the suite's own baseline rule (no FAILURE and no WARNING check), and
besides: a tool scenario must show that the answer came from our upstream, no SUCCESS may rest
on an "Unknown tool" answer, and a scenario with no SUCCESS tested nothing. An expected failure
named in REQUIRED_CHECKS must still pass the checks listed there.

Install the suite with scripts/install-conformance. Without it the test skips locally
and fails in CI (CI=true).
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import signal
import struct
import subprocess
import tempfile
import time
import wave
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
import yaml
from werkzeug.wrappers import Response

from tests.support.catalog import add_connection, add_endpoint, add_token
from tests.support.header_proxy import HeaderProxy
from tests.support.server import GatewayServer
from tests.support.upstream import Upstream, echo

REPO = Path(__file__).resolve().parents[2]
CONFORMANCE_DIR = REPO / "tools" / "conformance"
SUITE_VERSION = "0.2.0-alpha.12"
# The suite's frozen requirement sets (node_modules/@modelcontextprotocol/conformance/requirements/*.yaml):
# each lists the scenarios a spec revision requires, run at that revision's wire version.
REVISIONS = ("2026-07-28", "2025-11-25")
NODE = CONFORMANCE_DIR / "node_modules" / "node" / "bin" / "node"
CLI = CONFORMANCE_DIR / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"


def expected_failures_file(revision: str) -> Path:
    return CONFORMANCE_DIR / f"expected-failures-{revision}.yml"


IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

CLIENT_TOKEN = "conformance_client_token_0123456789abcdef"
SCENARIO_TIMEOUT = 90.0  # seconds for one `conformance server --scenario` run (its own request timeout is 60 s)
PARALLEL_SCENARIOS = 3  # scenarios are independent MCP sessions; a few at once keeps the run short

# --- what the upstream serves, shaped so Janus's response mapping yields what each check expects ---

SIMPLE_TEXT = "This is a simple text response for testing."  # tools-call-simple-text's documented text
ERROR_TEXT = "This tool intentionally returns an error for testing"  # tools-call-error's documented text
PROGRESS_PARTS = (b"Progress test: started. ", b"Halfway there. ", b"Tool with progress completed.")
PROGRESS_PAUSE = 0.3  # seconds between body parts: the call outlasts several progress intervals
PROGRESS_INTERVAL = "0.2"  # the gateway's PROGRESS_INTERVAL_SECONDS: it reports "still waiting" this often
RECONNECTION_TEXT = "Reconnection test completed."
RECONNECTION_DELAY = 1.0


def png_1x1_red() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # 1x1, 8-bit, truecolour
    pixels = zlib.compress(b"\x00\xff\x00\x00")  # filter byte + one red pixel
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def wav_silence(ms: int = 50, rate: int = 8000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\x00\x00" * (rate * ms // 1000))
    return buf.getvalue()


PNG = png_1x1_red()
WAV = wav_silence()


def _text(body: str, status: int = 200) -> Callable:
    return lambda request: Response(body, status=status, mimetype="text/plain")


def _bytes(body: bytes, mimetype: str) -> Callable:
    return lambda request: Response(body, mimetype=mimetype)


def _slow_parts(request) -> Response:
    def parts():
        for index, part in enumerate(PROGRESS_PARTS):
            if index:
                time.sleep(PROGRESS_PAUSE)  # the upstream's own pace, not a test waiting on something
            yield part

    size = sum(len(p) for p in PROGRESS_PARTS)
    return Response(parts(), mimetype="text/plain", headers={"Content-Length": str(size)}, direct_passthrough=True)


def _reconnection(request) -> Response:
    time.sleep(RECONNECTION_DELAY)  # a long-running call, so a server that polls has a reason to
    return Response(RECONNECTION_TEXT, mimetype="text/plain")


# The schema json-schema-2020-12 documents for its tool (SEP-1613 and SEP-2106 keywords), registered
# as an ordinary endpoint's input schema: the check is that the gateway lists it unstripped.
JSON_SCHEMA_2020_12 = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {
        "address": {
            "$anchor": "addressDef",
            "type": "object",
            "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
        }
    },
    "properties": {
        "name": {"type": "string"},
        "address": {"$ref": "#/$defs/address"},
        "contactMethod": {"type": "string", "enum": ["phone", "email"]},
        "phone": {"type": "string"},
        "email": {"type": "string"},
    },
    "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
    "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
    "then": {"required": ["phone"]},
    "else": {"required": ["email"]},
    "additionalProperties": False,
}


@dataclass(frozen=True)
class ToolDef:
    prefix: str  # the connection's prefix; MCP name = prefix + tool_name
    tool_name: str
    path: str  # upstream route
    handler: Callable
    description: str
    schema: dict = field(default_factory=lambda: {"type": "object"})
    method: str = "GET"

    @property
    def name(self) -> str:
        return self.prefix + self.tool_name


TOOLS = (
    ToolDef("test_", "simple_text", "/simple-text", _text(SIMPLE_TEXT), "Returns a fixed plain-text sentence"),
    ToolDef("test_", "image_content", "/image.png", _bytes(PNG, "image/png"), "Returns a 1x1 red PNG"),
    ToolDef("test_", "audio_content", "/audio.wav", _bytes(WAV, "audio/wav"), "Returns 50 ms of silence as WAV"),
    ToolDef("test_", "error_handling", "/error", _text(ERROR_TEXT, 500), "An upstream that always fails with 500"),
    ToolDef("test_", "tool_with_progress", "/slow", _slow_parts, "A slow upstream that sends its body in three parts"),
    ToolDef("test_", "reconnection", "/reconnection", _reconnection, "A long-running upstream call (SSE polling)"),
    ToolDef(
        "json_",
        "schema_2020_12_tool",
        "/json-schema",
        echo,
        "Tool with JSON Schema 2020-12 features",
        schema=JSON_SCHEMA_2020_12,
        method="POST",
    ),
    # An admin marked `tenant` as mirrored into the Mcp-Param-Tenant header (SEP-2243), so a load
    # balancer can route on it; http-custom-header-server-validation finds the tool by that mark.
    ToolDef(
        "test_",
        "tenant_report",
        "/tenant-report",
        echo,
        "A per-tenant report (tenant routed by header)",
        schema={
            "type": "object",
            "properties": {"tenant": {"type": "string", "x-mcp-header": "Tenant"}},
            "required": ["tenant"],
        },
    ),
)
CONNECTIONS = {"test_": "Conformance tools", "json_": "Conformance JSON Schema"}


def serve_tool_routes(upstream: Upstream) -> None:
    for tool in TOOLS:
        upstream.route(tool.path, tool.handler)


def register_catalog(app, upstream_url: str) -> None:
    ids = {
        prefix: add_connection(app, name, upstream_url, prefix, timeout_seconds=20.0)
        for prefix, name in CONNECTIONS.items()
    }
    for tool in TOOLS:
        add_endpoint(
            app,
            ids[tool.prefix],
            tool.tool_name,
            tool.path,
            method=tool.method,
            schema=tool.schema,
            description=tool.description,
        )
    add_token(app, "Conformance suite", CLIENT_TOKEN, ",".join(f"{prefix}*" for prefix in CONNECTIONS))


# --- running the suite ---


@dataclass
class ScenarioRun:
    name: str
    checks: list[dict]
    upstream_paths: list[str]  # upstream requests made while the scenario ran (exact when run alone)
    seconds: float
    problem: str | None = None  # the runner failed: timeout, crash, no checks.json

    def count(self, status: str) -> int:
        return sum(1 for c in self.checks if c.get("status") == status)

    @property
    def suite_passed(self) -> bool:
        """The suite's own baseline rule (dist/index.js): any FAILURE or WARNING fails the scenario."""
        return self.problem is None and bool(self.checks) and not (self.count("FAILURE") or self.count("WARNING"))


def _check(run: ScenarioRun, check_id: str) -> dict:
    return next((c for c in run.checks if c.get("id") == check_id), {})


def _result_text(check: dict) -> str:
    content = (check.get("details") or {}).get("result", {}).get("content") or []
    return content[0].get("text", "") if content and isinstance(content[0], dict) else ""


def _called(path: str) -> Callable[[ScenarioRun], str | None]:
    return lambda run: None if path in run.upstream_paths else f"the upstream never saw {path}"


def _all(*rules: Callable[[ScenarioRun], str | None]) -> Callable[[ScenarioRun], str | None]:
    return lambda run: next((p for p in (rule(run) for rule in rules) if p), None)


def _simple_text(run: ScenarioRun) -> str | None:
    text = _result_text(_check(run, "tools-call-simple-text"))
    return None if text == SIMPLE_TEXT else f"text was {text!r}, not the upstream's body"


def _image(run: ScenarioRun) -> str | None:
    details = _check(run, "tools-call-image").get("details") or {}
    return None if details.get("mimeType") == "image/png" and details.get("hasData") else f"image details {details}"


def _audio(run: ScenarioRun) -> str | None:
    length = (_check(run, "tools-call-audio").get("details") or {}).get("audioDataLength")
    expected = len(base64.b64encode(WAV))
    return None if length == expected else f"audio data of {length} base64 chars, the upstream WAV has {expected}"


def _error(run: ScenarioRun) -> str | None:
    text = _result_text(_check(run, "tools-call-error"))
    ok = text.startswith("Upstream returned HTTP 500") and ERROR_TEXT in text
    return None if ok else f"error text {text!r} is not the upstream's 500"


def _progress(run: ScenarioRun) -> str | None:
    details = _check(run, "tools-call-with-progress").get("details") or {}
    text = _result_text({"details": details})
    return None if text == b"".join(PROGRESS_PARTS).decode() else f"result text {text!r} is not the upstream's body"


def _listed(run: ScenarioRun) -> str | None:
    names = set((_check(run, "tools-list").get("details") or {}).get("tools") or [])
    missing = {t.name for t in TOOLS} - names
    return f"tools/list lacks {sorted(missing)}" if missing else None


# A suite pass counts only if the answer demonstrably came through the gateway from our upstream.
PROVENANCE: dict[str, Callable[[ScenarioRun], str | None]] = {
    "tools-list": _listed,
    "tools-call-simple-text": _all(_called("/simple-text"), _simple_text),
    "tools-call-image": _all(_called("/image.png"), _image),
    "tools-call-audio": _all(_called("/audio.wav"), _audio),
    "tools-call-error": _all(_called("/error"), _error),
    "tools-call-with-progress": _all(_called("/slow"), _progress),
    # Its accepted cases must have reached the upstream, not merely escaped a 400.
    "http-custom-header-server-validation": _called("/tenant-report"),
}


def conformance_installed() -> str | None:
    """None when the pinned suite and its Node 22 are installed, else what is missing."""
    if not NODE.is_file() or not CLI.is_file():
        return f"{NODE if not NODE.is_file() else CLI} is missing"
    package = json.loads((CLI.parents[1] / "package.json").read_text())
    if package.get("version") != SUITE_VERSION:
        return f"conformance {package.get('version')} is installed, {SUITE_VERSION} is pinned"
    return None


def node_env() -> dict[str, str]:
    # No proxy variables (only 127.0.0.1 is contacted) and no colours in the captured output.
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(NO_COLOR="1", FORCE_COLOR="0", NODE_OPTIONS="")
    return env


def list_server_scenarios(revision: str) -> list[str]:
    """Every server scenario of the revision's frozen requirement set: the scored ones and those it
    runs but never scores (extensions such as tasks, pending scenarios), exactly what
    `conformance server --requirements <revision>` runs."""
    out = subprocess.run(
        [str(NODE), str(CLI), "list", "--server", "--requirements", revision],
        capture_output=True,
        text=True,
        timeout=60,
        env=node_env(),
        check=True,
    )
    text = out.stdout
    scored_block = text.split("Server scenarios", 1)[1].split("\n\n", 1)[0] if "Server scenarios" in text else ""
    names = re.findall(r"^\s+-\s+(\S+)\s*$", scored_block, flags=re.MULTILINE)
    names += re.findall(r"^\s+-\s+(\S+)\s+\[server\]\s*$", text, flags=re.MULTILINE)
    assert names, f"`conformance list --server --requirements {revision}` listed nothing:\n{text}{out.stderr}"
    return names


def run_scenario(mcp_url: str, name: str, revision: str, outdir: Path, upstream: Upstream | None = None) -> ScenarioRun:
    """`conformance server --url <mcp_url> --scenario <name> --spec-version <revision> --force -o <outdir>`;
    checks from checks.json. `--requirements` cannot be combined with `--scenario`; running one scenario
    at the revision's wire with --force is what `--requirements` does for each scenario of its set
    (dist/index.js), and one scenario per run lets us attribute upstream requests to it."""
    seen_before = len(upstream.seen) if upstream else 0
    started = time.monotonic()
    cmd = [
        str(NODE),
        str(CLI),
        "server",
        "--url",
        mcp_url,
        "--scenario",
        name,
        "--spec-version",
        revision,
        "--force",
        "-o",
        str(outdir),
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=node_env(), cwd=str(outdir), start_new_session=True
    )
    try:
        output, _ = proc.communicate(timeout=SCENARIO_TIMEOUT)
        problem = None
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # our own child's process group, by id
        output, _ = proc.communicate()
        problem = f"timed out after {SCENARIO_TIMEOUT:g}s"
    seconds = time.monotonic() - started
    results = sorted(outdir.glob(f"server-{name}-*/checks.json"))
    checks = json.loads(results[-1].read_text()) if results else []
    if problem is None and not results:
        problem = f"no checks.json (exit {proc.returncode}): {output.decode(errors='replace')[-2000:]}"
    paths = [s.path for s in upstream.seen[seen_before:]] if upstream else []
    return ScenarioRun(name=name, checks=checks, upstream_paths=paths, seconds=seconds, problem=problem)


def run_all(
    mcp_url: str, names: list[str], revision: str, workdir: Path, upstream: Upstream | None = None
) -> list[ScenarioRun]:
    """Scenarios that call our upstream run alone, so the requests recorded during a run are its own."""
    calls_upstream = [n for n in names if n in PROVENANCE or n == "server-sse-polling"]
    others = [n for n in names if n not in calls_upstream]

    def one(name: str) -> ScenarioRun:
        outdir = workdir / name.replace("/", "_")
        outdir.mkdir(parents=True, exist_ok=True)
        return run_scenario(mcp_url, name, revision, outdir, upstream)

    runs = {n: one(n) for n in calls_upstream}
    with ThreadPoolExecutor(max_workers=PARALLEL_SCENARIOS) as pool:
        runs.update(zip(others, pool.map(one, others), strict=True))
    return [runs[n] for n in names]


# --- expected failures ---


def load_expected_failures(path: Path) -> dict[str, str]:
    """Scenario -> reason. The file is the suite's own baseline format (usable with --expected-failures),
    and every entry carries its reason as a comment on the same line."""
    text = path.read_text()
    names = (yaml.safe_load(text) or {}).get("server") or []
    reasons = dict(re.findall(r"^\s*-\s*([\w./-]+)\s*#\s*(\S.*)$", text, flags=re.MULTILINE))
    missing = [n for n in names if not reasons.get(n)]
    assert not missing, f"{path.name}: give each expected failure a one-line reason (# ...): {missing}"
    assert len(set(names)) == len(names), f"{path.name} lists a scenario twice"
    return {n: reasons[n] for n in names}


def _shortcut(run: ScenarioRun) -> str | None:
    """Why a suite pass proves nothing: a SUCCESS resting on an "Unknown tool" answer (the check
    took the gateway's refusal for the behaviour it wanted), or no SUCCESS check at all."""
    if not run.count("SUCCESS"):
        return "no check succeeded (the scenario tested nothing)"
    for check in run.checks:
        if check.get("status") == "SUCCESS" and "Unknown tool" in json.dumps(check.get("details") or {}):
            return f"{check.get('id')} succeeded on an 'Unknown tool' answer"
    return None


def verdicts(runs: list[ScenarioRun]) -> dict[str, tuple[bool, str]]:
    """Scenario -> (passed, note). A suite pass without upstream provenance, or one resting on an
    error answer, is a failure."""
    out = {}
    for run in runs:
        if run.problem:
            out[run.name] = (False, run.problem)
        elif run.suite_passed and _shortcut(run):
            out[run.name] = (False, f"suite passed, but {_shortcut(run)}")
        elif not run.suite_passed:
            failed = [c for c in run.checks if c.get("status") in ("FAILURE", "WARNING")]
            note = "; ".join(
                f"{c.get('status')} {c.get('id')}: {c.get('errorMessage') or c.get('description')}" for c in failed[:3]
            )
            out[run.name] = (False, note[:300])
        else:
            problem = PROVENANCE.get(run.name, lambda r: None)(run)
            out[run.name] = (False, f"suite passed, but {problem}") if problem else (True, "")
    return out


def table(runs: list[ScenarioRun], results: dict[str, tuple[bool, str]], expected: dict[str, str]) -> str:
    lines = [f"{'scenario':34} {'result':6} {'expected':8} {'ok/fail/warn':12} {'secs':>5}  note", "-" * 100]
    for run in runs:
        passed, note = results[run.name]
        counts = f"{run.count('SUCCESS')}/{run.count('FAILURE')}/{run.count('WARNING')}"
        want = "fail" if run.name in expected else "pass"
        mark = "" if passed == (want == "pass") else "  <-- UNEXPECTED"
        note = note or expected.get(run.name, "")
        lines.append(
            f"{run.name:34} {'pass' if passed else 'FAIL':6} {want:8} {counts:12} {run.seconds:5.1f}  "
            f"{note[:120]}{mark}"
        )
    return "\n".join(lines)


# Scenarios that fail as a whole for a listed reason, but whose named checks test what Janus does
# serve: those checks must still succeed, so an expected failure cannot hide a regression in them.
REQUIRED_CHECKS: dict[str, tuple[str, ...]] = {
    "server-stateless": (
        "sep-2575-request-meta-invalid-missing-meta",
        "sep-2575-request-meta-invalid-missing-protocol-version",
        "sep-2575-request-meta-invalid-missing-client-capabilities",
        "sep-2575-http-server-meta-invalid-400",
        "sep-2575-request-meta-client-info-optional",
        "sep-2575-server-implements-discover",
        "sep-2575-server-identifies-in-result-meta",
        "sep-2575-server-declares-prompts-in-discover",
        "sep-2575-discover-capabilities-match-handlers",
        "sep-2575-server-unsupported-version-error",
        "sep-2575-http-server-unsupported-version-400",
        "sep-2575-http-server-header-mismatch-400",
        "sep-2575-http-server-method-not-found-404-initialize",
        "sep-2575-http-server-method-not-found-404-ping",
        "sep-2575-http-server-method-not-found-404-logging-setlevel",
        "sep-2575-http-server-method-not-found-404-resources-subscribe",
        "sep-2575-http-server-method-not-found-404-resources-unsubscribe",
        "sep-2575-http-server-method-not-found-404",
        "sep-2575-server-sends-subscription-ack",
        "sep-2575-server-tags-subscription-id",
        "sep-2575-server-honors-notification-filter",
        "sep-2575-http-server-error-jsonrpc-id",
    ),
    "caching": ("sep-2549-tools-list-caching-hints", "sep-2549-ttl-non-negative", "sep-2549-cache-scope-valid"),
}


def required_check_problems(runs: list[ScenarioRun]) -> list[str]:
    problems = []
    for run in runs:
        for check_id in REQUIRED_CHECKS.get(run.name, ()):
            statuses = {c.get("status") for c in run.checks if c.get("id") == check_id}
            if statuses != {"SUCCESS"}:
                problems.append(f"{run.name}: check {check_id} must succeed, got {sorted(statuses) or 'nothing'}")
    return problems


def compare(
    runs: list[ScenarioRun], results: dict[str, tuple[bool, str]], expected: dict[str, str], filename: str
) -> list[str]:
    problems = [f"unknown scenario in {filename}: {n}" for n in expected if n not in results]
    problems += required_check_problems(runs)
    # An expected failure means the suite ran and its checks failed, not that the run itself broke.
    problems += [
        f"scenario did not run properly: {r.name}: {r.problem}" for r in runs if r.problem and r.name in expected
    ]
    for name, (passed, note) in results.items():
        if passed and name in expected:
            problems.append(f"unexpected pass: {name} (remove it from {filename})")
        elif not passed and name not in expected:
            problems.append(f"unexpected failure: {name}: {note}")
    return problems


# --- the test ---


@pytest.fixture
def conformance():
    missing = conformance_installed()
    if missing:
        message = f"MCP conformance suite not installed ({missing}); run scripts/install-conformance"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def gateway_behind_proxy(conformance, sqlite_app, upstream):
    serve_tool_routes(upstream)
    register_catalog(sqlite_app, upstream.url)
    # Janus reports progress when a streamed call starts, every PROGRESS_INTERVAL_SECONDS while the
    # upstream works, and when it answers; the suite wants three, so the interval is shorter than the call.
    # HOST unset: the default bind (0.0.0.0), so `dns-rebinding-protection` tests the gateway as shipped
    # (issue 10, item 1); the suite and the proxy still connect over 127.0.0.1 only.
    with (
        GatewayServer(
            sqlite_app.config["DATABASE_PATH"], PROGRESS_INTERVAL_SECONDS=PROGRESS_INTERVAL, HOST=None
        ) as gateway,
        HeaderProxy(gateway.url, CLIENT_TOKEN) as proxy,
    ):
        yield gateway, proxy


def _assert_transport_mounted(proxy: HeaderProxy, gateway: GatewayServer) -> None:
    """A readable failure while the transport is missing, instead of thirty failed scenarios."""
    probe = requests.post(
        proxy.url + "/mcp",
        timeout=10,
        headers={"Accept": "application/json, text/event-stream"},
        json={"jsonrpc": "2.0", "id": 0, "method": "ping"},
    )
    try:
        body = probe.json()
    except ValueError:
        body = None
    speaks_json_rpc = isinstance(body, dict) and body.get("jsonrpc") == "2.0"
    assert probe.status_code not in (404, 405) or speaks_json_rpc, (
        f"the gateway has no Streamable HTTP endpoint at /mcp (POST answered HTTP {probe.status_code}):\n"
        f"{probe.text[:500]}\n\ngateway log (tail):\n{gateway.log[-2000:]}"
    )


@pytest.mark.timeout(900)
@pytest.mark.parametrize("revision", REVISIONS)
def test_conformance_requirement_set_results_match_its_expected_failures(
    gateway_behind_proxy, upstream, capsys, revision
):
    gateway, proxy = gateway_behind_proxy
    _assert_transport_mounted(proxy, gateway)
    path = expected_failures_file(revision)
    expected = load_expected_failures(path)
    names = list_server_scenarios(revision)

    keep = os.environ.get("CONFORMANCE_RESULTS_DIR")  # set it to keep every scenario's checks.json for reading
    with tempfile.TemporaryDirectory(prefix="janus-conformance-") as workdir:
        outdir = Path(keep) / revision if keep else Path(workdir)
        runs = run_all(proxy.url + "/mcp", names, revision, outdir, upstream)
    results = verdicts(runs)
    report = table(runs, results, expected)
    with capsys.disabled():
        print(
            f"\nMCP conformance {SUITE_VERSION}, requirements {revision}, against mcp-gateway via "
            f"{proxy.url}/mcp\n{report}\n"
        )

    problems = compare(runs, results, expected, path.name)
    assert not problems, "\n".join(problems) + f"\n\n{report}\n\ngateway log (tail):\n{gateway.log[-3000:]}"


@pytest.mark.parametrize("revision", REVISIONS)
def test_each_requirement_sets_expected_failures_file_gives_a_reason_for_every_entry(revision):
    expected = load_expected_failures(expected_failures_file(revision))
    assert expected, "the expected-failures file lists nothing; delete this test if that is ever true"
