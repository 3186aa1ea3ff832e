"""The README's "Importing an OpenAPI description" example, run as written: every `mcp-cli` command of its bash
block against a real gunicorn+gevent gateway, with a real Petstore upstream on 127.0.0.1, and every output the
block shows (the `# …` comment lines right under a command) compared with what the command printed.

Only what must be is substituted: ./petstore.yaml is a copy of the Petstore 3.0 fixture in the commands' working
directory; the base URL's port is the upstream's; https://petstore.example.com/openapi.json is a loopback URL
(EGRESS_ALLOWLIST allows it) serving the description after "the API changed"; "<connection-uuid>" is the id of
the connection the import created; the "…" secret is a value. In a shown output, a line that is only "…" stands
for any number of lines, "…" within a line for any text, and any run of spaces for any run of spaces; "(stderr)"
marks a line of standard error. Everything else must match the command's output line for line: a README whose
example drifted from what mcp-cli prints fails here (fix the README, not this test).
"""

from __future__ import annotations

import copy
import json
import re
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.cli import Cli, call_tool
from tests.support.server import GatewayServer
from tests.support.upstream import Upstream, echo, json_response

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SECTION = "## Importing an OpenAPI description"
FIXTURES = ROOT / "tests" / "fixtures" / "openapi"
EXAMPLE_URL = "https://petstore.example.com/openapi.json"
EXAMPLE_ADDRESS = "127.0.0.1:8080"
TOKEN_VALUE = "petstore-token-for-the-readme-test"


@dataclass
class Step:
    argv: list[str]  # after "mcp-cli"
    stdout: list[str] = field(default_factory=list)  # the lines shown, in order ("…": any lines)
    stderr: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "mcp-cli " + shlex.join(self.argv)


def readme_steps() -> list[Step]:
    """The section's bash block as commands, each with the output shown right under it (until a blank line)."""
    text = README.read_text()
    assert SECTION in text, f"README.md has no {SECTION!r} section"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, f"no bash block under {SECTION!r}"
    steps: list[Step] = []
    lines = block.group(1).splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.startswith("mcp-cli "):
            i += 1
            continue
        command = line
        while command.endswith("\\"):
            i += 1
            command = command[:-1] + lines[i]
        step = Step(shlex.split(command)[1:])
        i += 1
        while i < len(lines) and lines[i].startswith("#"):
            shown = lines[i][1:].strip()
            if shown.startswith("(stderr)"):
                step.stderr.append(shown.removeprefix("(stderr)").strip())
            else:
                step.stdout.append(shown)
            i += 1
        steps.append(step)
    return steps


def _pattern(shown: str) -> re.Pattern[str]:
    parts = [r"\s+".join(re.escape(word) for word in piece.split()) for piece in shown.split("…")]
    return re.compile(r"\s*" + ".*".join(parts) + r"\s*")


def assert_shown(shown: list[str], printed: str, what: str) -> None:
    """The printed lines match the shown ones line for line, where "…" alone stands for any lines."""
    actual = printed.splitlines()
    segments: list[list[str]] = [[]]
    for line in shown:
        if line == "…":
            segments.append([])
        else:
            segments[-1].append(line)
    first, last = 0, len(segments) - 1
    at = 0
    for n, segment in enumerate(segments):
        if not segment:
            continue
        patterns = [_pattern(line) for line in segment]

        def fits(start: int, patterns: list[re.Pattern[str]] = patterns) -> bool:
            return start + len(patterns) <= len(actual) and all(
                p.fullmatch(actual[start + k]) for k, p in enumerate(patterns)
            )

        starts = [at] if n == first else range(at, len(actual) - len(patterns) + 1)
        found = next((s for s in starts if fits(s)), None)
        assert found is not None, (
            f"{what}: the README shows\n  "
            + "\n  ".join(segment)
            + ("\nbut the command printed\n  " + "\n  ".join(actual))
        )
        at = found + len(patterns)
        if n == last:
            assert at == len(actual), f"{what}: the command printed more than the README shows: {actual[at:]}"


def _changed_description() -> dict:
    """The Petstore after "the API changed": getPetById has a new summary and an X-Request-Id header."""
    changed = copy.deepcopy(json.loads((FIXTURES / "petstore-3.0.json").read_text()))
    get = changed["paths"]["/pet/{petId}"]["get"]
    get["summary"] = "Find one pet"
    get["parameters"].append(
        {
            "name": "X-Request-Id",
            "in": "header",
            "description": "Echoed in the answer's logs.",
            "schema": {"type": "string"},
        }
    )
    return changed


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("readme-openapi")
    petstore = Upstream()
    petstore.route("/v2/", echo)
    petstore.route("/v2/pet/", lambda request: json_response({"id": 1, "headers": dict(request.headers)}))
    petstore.route("/openapi.json", lambda request: json_response(_changed_description()))
    petstore.start()
    gateway = GatewayServer(
        str(root / "gateway.db"),
        WEB_CONCURRENCY="1",
        CATALOG_REFRESH_SECONDS="0",
        LOGIN_RATE_PER_IP="1000",
        VAULT_LOCAL_PATH=str(root / "secrets.json"),
        EGRESS_ALLOWLIST="127.0.0.1",
    ).start()
    admin = Cli(root / "home")
    admin.login(gateway.url)
    cwd = root / "work"
    cwd.mkdir()
    shutil.copy(FIXTURES / "petstore-3.0.yaml", cwd / "petstore.yaml")
    try:
        yield gateway, petstore, admin, cwd
    finally:
        gateway.stop()
        petstore.stop()


def _substituted(step: Step, petstore: Upstream, admin: Cli) -> list[str]:
    argv = []
    for arg in step.argv:
        arg = arg.replace(EXAMPLE_ADDRESS, f"127.0.0.1:{petstore.port}")
        arg = arg.replace(EXAMPLE_URL, petstore.url + "/openapi.json")
        if arg == "<connection-uuid>":
            arg = next(c["id"] for c in admin.json("connection", "list") if c["prefix"] == "pet_")
        if arg == "…":
            arg = TOKEN_VALUE
        argv.append(arg)
    return argv


def test_the_readme_example_runs_as_written_and_prints_what_it_shows(site):
    gateway, petstore, admin, cwd = site
    steps = readme_steps()
    assert [s.argv[:2] for s in steps] == [
        ["import", "openapi"],
        ["import", "openapi"],
        ["vault", "set"],
        ["connection", "modify"],
        ["import", "openapi"],
        ["import", "openapi"],
    ], [s.text for s in steps]
    assert sum(1 for s in steps if s.stdout or s.stderr) >= 3  # the example shows outputs to check
    for step in steps:
        argv = _substituted(step, petstore, admin)
        result = admin.run(*argv, cwd=cwd)
        assert result.returncode == 0, f"{step.text} exited {result.returncode}:\n{result.stderr}"
        assert_shown(step.stdout, result.stdout, step.text + " (stdout)") if step.stdout else None
        assert_shown(step.stderr, result.stderr, step.text + " (stderr)") if step.stderr else None

    # What the example did: the tools exist, the connection sends the vault's token, the approved
    # re-import added the header parameter, and an MCP client's call sends it.
    token = admin.ok("token", "add", "--name", "Readme", "--scopes", "pet_*").stdout.splitlines()[1]
    answer = call_tool(gateway.url, token, "pet_get_pet_by_id", {"petId": 7, "x_request_id": "readme-1"})
    assert answer["result"].get("isError") is not True, answer
    [sent] = [s for s in petstore.seen if s.path == "/v2/pet/7"]
    assert (sent.method, sent.query) == ("GET", "")  # the header argument is not in the query
    assert sent.headers["authorization"] == f"Bearer {TOKEN_VALUE}" and sent.headers["x-request-id"] == "readme-1"
    assert TOKEN_VALUE not in json.dumps(answer)  # the upstream echoed it; the gateway redacted it
    tools = {e["tool_name"]: e for e in admin.json("endpoint", "list") if e["connection_name"] == "Petstore"}
    assert tools["get_pet_by_id"]["header_params"] == [{"argument": "x_request_id", "header": "X-Request-Id"}]
    assert "delete_pet" not in tools  # excluded, and not approved later
