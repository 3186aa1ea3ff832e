"""The `gcp` vault through the real client library and REST transport, against a fake Secret Manager on 127.0.0.1."""

from __future__ import annotations

import os
import re
import socket
import time

import pytest

from janus.vault import SecretNotFound, VaultError, create_vault
from janus.vault.gcp import GcpSecretsVault, crc32c, create, key_for, secret_id
from tests.support import fake_gcp_secrets
from tests.support.fake_gcp_secrets import FakeSecretManager
from tests.support.waiting import refused_port

SECRET = "s3cr3t-value-that-must-never-leak"
PROJECT = "janus-test"
SECRET_ID = re.compile(r"[A-Za-z0-9_-]{1,255}")


@pytest.fixture(autouse=True)
def gcp_env(monkeypatch, tmp_path):
    """No real Google credentials or project can be picked up from the machine running the tests."""
    for name in list(os.environ):
        if name.startswith(("GCP_", "GOOGLE_", "CLOUDSDK_", "VAULT_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "no-gcloud"))
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")  # nothing listens: ADC cannot find a metadata server
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")


@pytest.fixture
def fake():
    with FakeSecretManager(project=PROJECT, page_size=3) as server:
        yield server
        assert server.unhandled == []  # the provider made no call the fake does not know


@pytest.fixture
def vault(fake, monkeypatch) -> GcpSecretsVault:
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", PROJECT)
    monkeypatch.setenv("GCP_SECRETS_API_ENDPOINT", fake.endpoint)
    return create({})


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


# -- the name mapping ------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "sid"),
    [
        ("prod/billing-service/api-key", "prod_sbilling-service_sapi-key"),
        ("db_password", "db__password"),
        ("team/db.password", "team_sdb_x2epassword"),
        ("café", "caf_xc3_xa9"),
        ("a b", "a_x20b"),
        ("_s", "__s"),
        ("/", "_s"),
        ("Plain-Name-42", "Plain-Name-42"),
    ],
)
def test_keys_map_to_documented_secret_ids(key, sid):
    assert secret_id(key) == sid
    assert key_for(sid) == key


@pytest.mark.parametrize(
    "key",
    [
        "prod/billing-service/api-key",
        "a",
        "_",
        "__",
        "/",
        "//",
        "_/_",
        "_x41",
        "_s_x_",
        "x" * 255,
        "ünïcødé/ключ/键/🔑",
        "tab\there",
        "new\nline",
        "nul\x00byte",
        "percent%2F",
        "-leading-dash",
        "a.b:c@d+e=f",
        "\u00e9",
        "e\u0301",  # composed and decomposed é are different keys and stay different
    ],
)
def test_every_key_round_trips_through_a_valid_secret_id(key):
    sid = secret_id(key)

    assert SECRET_ID.fullmatch(sid)
    assert key_for(sid) == key


def test_different_keys_never_share_a_secret_id():
    keys = ["a/b", "a_b", "a__b", "a_sb", "a-b", "a_x2fb", "a\u00e9", "ae\u0301", "A/B", "a//b", "a/_b", "a_/b"]

    assert len({secret_id(k) for k in keys}) == len(keys)


@pytest.mark.parametrize("sid", ["a_q", "trailing_", "_x4", "_xZZ", "_x41", "_X2e", "_x2E", "_xff", "_xc3", "a.b"])
def test_ids_that_no_key_encodes_to_map_back_to_nothing(sid):
    assert key_for(sid) is None


def test_a_key_whose_secret_id_would_exceed_255_characters_is_refused_without_echoing_it():
    with pytest.raises(VaultError) as info:
        secret_id("🔑" * 16)  # 16 characters, 256 in the id

    assert "255" in str(info.value) and "🔑" not in str(info.value)
    assert SECRET_ID.fullmatch(secret_id("🔑" * 15 + "abc"))


@pytest.mark.parametrize("key", ["", "\ud800", None])
def test_empty_non_text_or_unencodable_keys_are_refused(key):
    with pytest.raises(VaultError):
        secret_id(key)


def test_crc32c_matches_the_published_check_value_and_the_fake():
    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C catalogue check value
    assert crc32c(SECRET.encode()) == fake_gcp_secrets.crc32c(SECRET.encode())


# -- the provider against the fake -------------------------------------------------


def test_set_creates_the_secret_with_automatic_replication_and_get_reads_it_back(vault, fake):
    vault.set("prod/billing-service/api-key", SECRET)

    assert vault.get("prod/billing-service/api-key") == SECRET
    stored = fake.secrets["prod_sbilling-service_sapi-key"]
    assert stored.replication == {"automatic": {}}
    assert stored.versions == [SECRET.encode()]


def test_set_on_an_existing_key_adds_a_version_and_get_reads_the_latest(vault, fake):
    vault.set("prod/token", "first")
    vault.set("prod/token", "second")

    assert vault.get("prod/token") == "second"
    assert fake.secrets["prod_stoken"].versions == [b"first", b"second"]
    assert len(fake.calls("POST", "/secrets")) == 1  # created once, not per write


def test_unicode_keys_and_values_round_trip(vault):
    vault.set("équipe/clé_API", "pässwörd-🔑")

    assert vault.get("équipe/clé_API") == "pässwörd-🔑"
    assert vault.list() == ["équipe/clé_API"]


def test_list_maps_ids_back_to_keys_sorted(vault):
    for key in ("b/two", "a_one", "c"):
        vault.set(key, SECRET)

    assert vault.list() == ["a_one", "b/two", "c"]


def test_list_follows_pagination_to_the_last_page(vault, fake):
    keys = [f"svc/key-{i:02d}" for i in range(8)]
    for key in keys:
        vault.set(key, "v")

    assert vault.list() == keys
    pages = fake.calls("GET", f"/projects/{PROJECT}/secrets")
    assert len(pages) == 3  # 3 + 3 + 2 with the fake's page size of 3
    assert [p[2].get("pageToken") for p in pages] == [None, ["3"], ["6"]]


def test_list_of_an_empty_project_is_empty(vault):
    assert vault.list() == []


def test_list_leaves_out_secrets_whose_ids_no_key_encodes_to(vault, fake):
    vault.set("mine", "v")
    fake.secrets["created_by_hand"] = fake_gcp_secrets._Secret("2024-01-01T00:00:00Z", {"automatic": {}}, [b"x"])
    fake.secrets["plain-by-hand"] = fake_gcp_secrets._Secret("2024-01-01T00:00:00Z", {"automatic": {}}, [b"y"])

    assert vault.list() == ["mine", "plain-by-hand"]
    assert vault.get("plain-by-hand") == "y"


def test_delete_removes_the_secret_so_get_answers_secret_not_found(vault, fake):
    vault.set("prod/gone", SECRET)

    vault.delete("prod/gone")

    assert "prod_sgone" not in fake.secrets
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

    assert "prod/never-stored" in str(info.value) and "Google Secret Manager" in str(info.value)


def test_delete_of_a_missing_key_answers_secret_not_found(vault):
    with pytest.raises(SecretNotFound):
        vault.delete("prod/never-stored")


def test_a_secret_with_no_versions_answers_secret_not_found(vault, fake):
    fake.secrets["empty"] = fake_gcp_secrets._Secret("2024-01-01T00:00:00Z", {"automatic": {}})

    with pytest.raises(SecretNotFound):
        vault.get("empty")


def test_a_secret_created_by_someone_else_between_our_calls_still_gets_our_value(vault, fake):
    fake.fail_next(404, "NOT_FOUND", f"Secret [projects/{PROJECT}/secrets/race] not found.")  # our addVersion
    fake.secrets["race"] = fake_gcp_secrets._Secret("2024-01-01T00:00:00Z", {"automatic": {}})  # their create

    vault.set("race", SECRET)

    assert vault.get("race") == SECRET


def test_payloads_carry_a_checksum_the_server_verifies(vault, fake):
    vault.set("k", SECRET)

    assert fake.secrets["k"].versions == [SECRET.encode()]  # the fake refuses a payload whose checksum is wrong
    assert fake.payload_checksums == [True]  # and the client did send one


def test_a_payload_corrupted_in_transit_is_a_vault_error_not_a_wrong_value(vault, fake):
    vault.set("k", SECRET)
    fake.tamper_next_access()

    with pytest.raises(VaultError) as info:
        vault.get("k")

    assert "CRC32C" in str(info.value)
    assert_clean(info.value)


def test_a_binary_payload_that_is_not_utf8_answers_a_clear_vault_error(vault, fake):
    fake.secrets["raw"] = fake_gcp_secrets._Secret("2024-01-01T00:00:00Z", {"automatic": {}}, [b"\xff\xfe\x00"])

    with pytest.raises(VaultError) as info:
        vault.get("raw")

    assert not isinstance(info.value, SecretNotFound)
    assert "UTF-8" in str(info.value)


@pytest.mark.parametrize(("code", "status"), [(403, "PERMISSION_DENIED"), (400, "INVALID_ARGUMENT"), (500, "INTERNAL")])
def test_a_service_error_other_than_not_found_is_a_vault_error_naming_provider_and_key(vault, fake, code, status):
    fake.fail_next(code, status, "refused by the fake")

    with pytest.raises(VaultError) as info:
        vault.set("prod/key", SECRET)

    assert not isinstance(info.value, SecretNotFound)
    assert "Google Secret Manager" in str(info.value) and "prod/key" in str(info.value)
    assert "refused by the fake" in str(info.value)
    assert_clean(info.value)


def test_a_read_answered_unavailable_once_is_retried(vault, fake):
    vault.set("k", SECRET)
    fake.fail_next(503, "UNAVAILABLE", "The service is currently unavailable.")

    assert vault.get("k") == SECRET
    assert len(fake.calls("GET", "/secrets/k/versions/latest:access")) == 2


def test_a_write_answered_unavailable_is_not_retried(vault, fake):
    fake.fail_next(503, "UNAVAILABLE", "The service is currently unavailable.")

    with pytest.raises(VaultError) as info:
        vault.set("k", SECRET)

    assert "UNAVAILABLE" in str(info.value) or "503" in str(info.value)
    assert len(fake.calls("POST", "/secrets/k:addVersion")) == 1
    assert_clean(info.value)


def test_a_project_the_caller_cannot_see_is_a_vault_error_not_a_missing_key(fake):
    vault = create({"GOOGLE_CLOUD_PROJECT": "someone-elses", "GCP_SECRETS_API_ENDPOINT": fake.endpoint})

    with pytest.raises(VaultError) as info:
        vault.get("prod/key")

    assert not isinstance(info.value, SecretNotFound)
    with pytest.raises(VaultError, match="someone-elses"):
        vault.list()


def test_provider_down_answers_a_vault_error_fast_without_the_value():
    vault = create(
        {
            "GOOGLE_CLOUD_PROJECT": PROJECT,
            "GCP_SECRETS_API_ENDPOINT": f"http://127.0.0.1:{refused_port()}",
            "GCP_SECRETS_TIMEOUT_SECONDS": 1,
        }
    )
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
        assert "Google Secret Manager" in str(info.value)
        assert_clean(info.value)

    assert time.monotonic() - started < 15


def test_a_provider_that_never_answers_times_out_as_a_vault_error(silent_port):
    vault = create(
        {
            "GOOGLE_CLOUD_PROJECT": PROJECT,
            "GCP_SECRETS_API_ENDPOINT": f"http://127.0.0.1:{silent_port}",
            "GCP_SECRETS_TIMEOUT_SECONDS": 0.3,
        }
    )
    started = time.monotonic()

    with pytest.raises(VaultError) as info:
        vault.set("prod/key", SECRET)

    assert time.monotonic() - started < 5
    assert "Google Secret Manager" in str(info.value) and "prod/key" in str(info.value)
    assert_clean(info.value)


def test_an_unset_project_is_a_vault_error_that_names_the_setting():
    with pytest.raises(VaultError, match="GOOGLE_CLOUD_PROJECT"):
        create({})


def test_the_project_can_come_from_janus_config(fake):
    vault = create({"GOOGLE_CLOUD_PROJECT": PROJECT, "GCP_SECRETS_API_ENDPOINT": fake.endpoint})
    vault.set("k", "v")

    assert vault.get("k") == "v"


def test_a_plain_http_endpoint_sends_no_credentials(vault, fake):
    vault.set("k", "v")

    assert vault._client_or_error()._transport._credentials.__class__.__name__ == "AnonymousCredentials"


def test_without_an_endpoint_no_application_default_credentials_is_a_vault_error(monkeypatch, tmp_path):
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    vault = create({"GOOGLE_CLOUD_PROJECT": PROJECT})

    with pytest.raises(VaultError) as info:
        vault.get("prod/key")

    assert "Google Secret Manager" in str(info.value)


def test_the_client_is_created_once_per_provider_instance(vault):
    vault.set("k", "v")
    client = vault._client_or_error()
    vault.get("k")

    assert vault._client_or_error() is client


@pytest.mark.parametrize("raw", ["soon", "0", "-1"])
def test_a_bad_timeout_setting_is_a_vault_error(raw):
    with pytest.raises(VaultError, match="GCP_SECRETS_TIMEOUT_SECONDS"):
        create({"GOOGLE_CLOUD_PROJECT": PROJECT, "GCP_SECRETS_TIMEOUT_SECONDS": raw})


def test_vault_provider_gcp_selects_this_provider(vault, fake):
    selected = create_vault({"VAULT_PROVIDER": "gcp"})
    selected.set("via/registry", "v")

    assert isinstance(selected, GcpSecretsVault)
    assert selected.get("via/registry") == "v"
