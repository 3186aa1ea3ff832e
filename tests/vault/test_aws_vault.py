"""The `aws` vault against moto's Secrets Manager, run as a real server process on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import boto3
import pytest
import requests

from janus.vault import SecretNotFound, VaultError, create_vault
from janus.vault.aws import AwsSecretsVault, create
from tests.support.server import listening_socket
from tests.support.waiting import refused_port, wait_for

PYTHON = "/work/venv/bin/python" if os.path.exists("/work/venv/bin/python") else sys.executable
SECRET = "s3cr3t-value-that-must-never-leak"
REGION = "eu-west-1"


@pytest.fixture(scope="module")
def moto_url():
    # The server gets its socket already bound and listening (werkzeug's own hand-over from its reloader,
    # WERKZEUG_SERVER_FD): a port bound, released and then named to it could be taken meanwhile.
    with listening_socket("127.0.0.1") as listener:
        port = listener.getsockname()[1]
        proc = subprocess.Popen(
            [PYTHON, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(listener.fileno(),),
            env={**os.environ, "WERKZEUG_RUN_MAIN": "true", "WERKZEUG_SERVER_FD": str(listener.fileno())},
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(
            lambda: proc.poll() is None and requests.get(f"{url}/moto-api/", timeout=1).ok,
            timeout=60,
            what="the moto server",
        )
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(autouse=True)
def aws_env(monkeypatch, tmp_path):
    """Dummy credentials from the environment only: no profile, no real account is ever reachable."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "VAULT_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def endpoint(moto_url, monkeypatch):
    requests.post(f"{moto_url}/moto-api/reset", timeout=5).raise_for_status()
    monkeypatch.setenv("AWS_SECRETS_ENDPOINT_URL", moto_url)
    return moto_url


@pytest.fixture
def vault(endpoint) -> AwsSecretsVault:
    return create({})


@pytest.fixture
def sm(endpoint):
    """A plain boto3 client on the same server, to see what the provider really stored."""
    return boto3.client("secretsmanager", endpoint_url=endpoint, region_name=REGION)


@pytest.fixture
def silent_port():
    """A port that accepts connections into its backlog and never answers: a hung provider."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield s.getsockname()[1]


def assert_clean(exc: BaseException, *values: str) -> None:
    assert exc.__cause__ is None and (exc.__context__ is None or exc.__suppress_context__)
    for value in (SECRET, *values):
        assert value not in str(exc)


def test_set_creates_the_secret_and_get_reads_it_back(vault, sm):
    vault.set("prod/billing-service/api-key", SECRET)

    assert vault.get("prod/billing-service/api-key") == SECRET
    assert sm.get_secret_value(SecretId="prod/billing-service/api-key")["SecretString"] == SECRET


def test_set_on_an_existing_key_adds_a_new_current_version(vault, sm):
    vault.set("prod/token", "first")
    vault.set("prod/token", "second")

    assert vault.get("prod/token") == "second"
    versions = sm.list_secret_version_ids(SecretId="prod/token")["Versions"]
    assert len(versions) == 2
    assert sm.get_secret_value(SecretId="prod/token", VersionStage="AWSPREVIOUS")["SecretString"] == "first"


def test_unicode_values_round_trip(vault):
    vault.set("prod/unicode", "pässwörd-🔑")

    assert vault.get("prod/unicode") == "pässwörd-🔑"


def test_list_returns_every_key_sorted(vault):
    for key in ("b/two", "a/one", "c"):
        vault.set(key, SECRET)

    assert vault.list() == ["a/one", "b/two", "c"]


def test_list_follows_pagination_to_the_last_page(vault):
    keys = [f"key-{i:02d}" for i in range(7)]
    for key in keys:
        vault.set(key, "v")
    vault.list_page_size = 2

    assert vault.list() == keys


def test_prefix_is_prepended_on_write_and_stripped_from_list(endpoint, sm):
    vault = create({"AWS_SECRETS_PREFIX": "janus/"})
    vault.set("prod/db-password", SECRET)
    sm.create_secret(Name="other-app/key", SecretString="x")
    sm.create_secret(Name="JANUS/upper-case-look-alike", SecretString="x")

    assert sm.get_secret_value(SecretId="janus/prod/db-password")["SecretString"] == SECRET
    assert vault.list() == ["prod/db-password"]
    assert vault.get("prod/db-password") == SECRET


def test_prefix_can_come_from_the_environment(endpoint, monkeypatch, sm):
    monkeypatch.setenv("AWS_SECRETS_PREFIX", "team-a/")
    create({}).set("k", "v")

    assert sm.get_secret_value(SecretId="team-a/k")["SecretString"] == "v"


def test_delete_removes_the_secret_at_once_so_get_answers_secret_not_found(vault):
    vault.set("prod/gone", SECRET)

    vault.delete("prod/gone")

    with pytest.raises(SecretNotFound):
        vault.get("prod/gone")
    assert vault.list() == []


def test_a_deleted_key_can_be_set_again_immediately(vault):
    vault.set("prod/again", "old")
    vault.delete("prod/again")

    vault.set("prod/again", "new")

    assert vault.get("prod/again") == "new"


def test_get_of_a_missing_key_answers_secret_not_found_naming_the_key(vault):
    with pytest.raises(SecretNotFound) as info:
        vault.get("prod/never-stored")

    assert "prod/never-stored" in str(info.value)
    assert "AWS Secrets Manager" in str(info.value)


def test_delete_of_a_missing_key_answers_secret_not_found(vault):
    with pytest.raises(SecretNotFound):
        vault.delete("prod/never-stored")


def test_a_binary_secret_holding_utf8_text_is_read_as_text(vault, sm):
    sm.create_secret(Name="binary/text", SecretBinary="héllo".encode())

    assert vault.get("binary/text") == "héllo"


def test_a_binary_secret_that_is_not_utf8_answers_a_clear_vault_error(vault, sm):
    sm.create_secret(Name="binary/raw", SecretBinary=b"\xff\xfe\x00secret")

    with pytest.raises(VaultError) as info:
        vault.get("binary/raw")

    assert not isinstance(info.value, SecretNotFound)
    assert "binary/raw" in str(info.value) and "UTF-8" in str(info.value)


def test_a_secret_scheduled_for_deletion_elsewhere_is_a_vault_error_not_a_missing_key(vault, sm):
    sm.create_secret(Name="prod/scheduled", SecretString="old")
    sm.delete_secret(SecretId="prod/scheduled", RecoveryWindowInDays=7)  # an operator's delete, recoverable

    with pytest.raises(VaultError) as info:
        vault.get("prod/scheduled")

    assert not isinstance(info.value, SecretNotFound)
    assert "AWS Secrets Manager" in str(info.value) and "prod/scheduled" in str(info.value)
    assert "InvalidRequestException" in str(info.value)
    assert_clean(info.value)


def test_delete_purges_a_secret_scheduled_for_deletion_so_the_key_can_be_set_again(vault, sm):
    sm.create_secret(Name="prod/scheduled", SecretString="old")
    sm.delete_secret(SecretId="prod/scheduled", RecoveryWindowInDays=7)

    vault.delete("prod/scheduled")
    vault.set("prod/scheduled", "new")

    assert vault.get("prod/scheduled") == "new"


def test_provider_down_answers_a_vault_error_fast_without_the_value(monkeypatch):
    monkeypatch.setenv("AWS_SECRETS_ENDPOINT_URL", f"http://127.0.0.1:{refused_port()}")  # nothing listens
    vault = create({"AWS_SECRETS_TIMEOUT_SECONDS": 1})
    started = time.monotonic()

    for operation in (
        lambda: vault.set("prod/key", SECRET),
        lambda: vault.get("prod/key"),
        lambda: vault.delete("prod/key"),
        vault.list,
    ):
        with pytest.raises(VaultError) as info:
            operation()
        assert not isinstance(info.value, SecretNotFound)
        assert "AWS Secrets Manager" in str(info.value)
        assert_clean(info.value)

    assert time.monotonic() - started < 15


def test_a_provider_that_never_answers_times_out_as_a_vault_error(silent_port):
    vault = create(
        {
            "AWS_SECRETS_ENDPOINT_URL": f"http://127.0.0.1:{silent_port}",
            "AWS_SECRETS_TIMEOUT_SECONDS": 0.3,
            "AWS_SECRETS_MAX_RETRIES": 0,
        }
    )
    started = time.monotonic()

    with pytest.raises(VaultError) as info:
        vault.set("prod/key", SECRET)

    assert time.monotonic() - started < 5
    assert "AWS Secrets Manager" in str(info.value) and "prod/key" in str(info.value)
    assert_clean(info.value)


def test_credentials_in_janus_config_are_ignored(endpoint, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    vault = create({"AWS_ACCESS_KEY_ID": "from-config", "AWS_SECRET_ACCESS_KEY": "from-config"})

    with pytest.raises(VaultError) as info:
        vault.get("prod/key")

    assert "credentials" in str(info.value).lower()


def test_no_region_anywhere_answers_a_vault_error_that_says_how_to_set_one(endpoint, monkeypatch):
    monkeypatch.delenv("AWS_DEFAULT_REGION")

    with pytest.raises(VaultError) as info:
        create({}).get("prod/key")

    assert "AWS_REGION" in str(info.value)


def test_aws_region_wins_over_aws_default_region(endpoint, monkeypatch, sm):
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    create({}).set("k", "v")

    assert sm.list_secrets()["SecretList"] == []  # eu-west-1 is empty: moto keeps each region apart
    other = boto3.client("secretsmanager", endpoint_url=endpoint, region_name="us-west-2")
    assert other.get_secret_value(SecretId="k")["SecretString"] == "v"


def test_the_client_is_created_once_per_provider_instance(vault):
    vault.set("k", "v")
    client = vault._get_client()
    vault.get("k")

    assert vault._get_client() is client


@pytest.mark.parametrize("raw", ["soon", "0", "-1"])
def test_a_bad_timeout_setting_is_a_vault_error(raw):
    with pytest.raises(VaultError, match="AWS_SECRETS_TIMEOUT_SECONDS"):
        create({"AWS_SECRETS_TIMEOUT_SECONDS": raw})


def test_vault_provider_aws_selects_this_provider(endpoint, monkeypatch):
    vault = create_vault({"VAULT_PROVIDER": "aws"})
    vault.set("via/registry", "v")

    assert isinstance(vault, AwsSecretsVault)
    assert vault.get("via/registry") == "v"
