"""The Azure Key Vault provider against a local fake vault over real HTTPS and the real challenge handshake."""

from __future__ import annotations

import logging
import time
import uuid

import pytest
from azure.core.credentials import AccessToken
from azure.keyvault.secrets._shared import http_challenge_cache

from janus.vault import SecretNotFound, VaultError, create_vault
from janus.vault.azure import (
    KEY_TAG,
    MAX_NAME_LENGTH,
    AzureKeyVault,
    InvalidKeyName,
    create,
    key_from_name,
    secret_name,
)
from tests.support.fake_key_vault import SCOPE, FakeKeyVault, make_tls_files
from tests.support.waiting import refused_port

SECRET = "s3cr3t-value-that-must-never-leak"
TOKEN = "test-token-" + uuid.uuid4().hex


class StaticTokenCredential:
    """A TokenCredential with a fixed token, recording what the SDK asked for (tests only;
    production always uses DefaultAzureCredential)."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.requests: list[tuple[tuple[str, ...], str | None]] = []

    def get_token(
        self, *scopes: str, claims: str | None = None, tenant_id: str | None = None, enable_cae: bool = False, **kwargs
    ) -> AccessToken:
        self.requests.append((scopes, tenant_id))
        return AccessToken(self.token, int(time.time()) + 3600)


@pytest.fixture(autouse=True)
def _fresh_challenge_cache():
    # The SDK caches each vault's challenge process-wide; clearing it makes every test's first call handshake.
    http_challenge_cache.clear()
    yield
    http_challenge_cache.clear()


@pytest.fixture(autouse=True)
def _no_azure_settings_from_the_environment(monkeypatch):
    for name in (
        "AZURE_KEYVAULT_URL",
        "AZURE_KEYVAULT_TIMEOUT_SECONDS",
        "AZURE_KEYVAULT_MAX_RETRIES",
        "AZURE_KEYVAULT_PURGE_ON_DELETE",
        "VAULT_PROVIDER",
        "VAULT_READ_ONLY",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def fake_vault(tls):
    started: list[FakeKeyVault] = []

    def start(**options) -> FakeKeyVault:
        vault = FakeKeyVault(tls, token=TOKEN, **options).start()
        started.append(vault)
        return vault

    yield start
    for vault in started:
        vault.stop()


@pytest.fixture
def provider(tls):
    made: list[AzureKeyVault] = []

    def make(url: str, credential=None, **options) -> AzureKeyVault:
        options.setdefault("verify_challenge_resource", False)  # the fake lives on 127.0.0.1, not *.vault.azure.net
        options.setdefault("poll_interval", 0.01)
        vault = AzureKeyVault(
            url, credential=credential or StaticTokenCredential(), connection_verify=str(tls.ca_path), **options
        )
        made.append(vault)
        return vault

    yield make
    for vault in made:
        vault.close()


def assert_no_leak(text: str, *values: str) -> None:
    for value in (SECRET, TOKEN, *values):
        assert value not in text


# -- the name mapping ------------------------------------------------------------------


@pytest.mark.parametrize(
    "key, name",
    [
        ("prod/billing-service/api-key", "prod-s-billing--service-s-api--key"),
        ("stripe", "stripe"),
        ("db_password", "db-5fpassword"),
        ("Prod/API.key", "-50rod-s--41-50-49-2ekey"),
        ("café", "caf-c3-a9"),
        ("a--b", "a----b"),
        ("-s-", "--s--"),
    ],
)
def test_keys_map_to_the_documented_secret_names(key, name):
    assert secret_name(key) == name
    assert key_from_name(name) == key


@pytest.mark.parametrize(
    "key",
    [
        "prod/billing-service/api-key",
        "a",
        "-",
        "/",
        "//",
        "--",
        "-s-",
        "s",
        "/-/",
        "x/-s-/y",
        "UPPER/lower",
        "with space",
        "tab\u00a0nbsp",
        "ключ/значение",
        "密钥/生产",
        "emoji/🔑🎉",
        "e\u0301 combining",
        "ﬁ ligature",
        "0123456789",
        "key.with.dots_and_underscores@host:443",
        "\u200bzero-width",
        "%2F not a slash",
    ],
)
def test_every_key_round_trips_through_its_secret_name(key):
    name = secret_name(key)
    assert 1 <= len(name) <= MAX_NAME_LENGTH
    assert set(name) <= set("abcdefghijklmnopqrstuvwxyz0123456789-")
    assert key_from_name(name) == key
    assert key_from_name(name.upper()) == key  # the service ignores case, so must we


def test_keys_that_differ_only_in_case_or_escaping_get_different_names():
    keys = [
        "api-key",
        "API-key",
        "Api-Key",
        "api/key",
        "api--key",
        "api-s-key",
        "api_key",
        "apikey",
        "api key",
        "a/-b",
        "a-/b",
        "a//b",
        "a--b",
        "é",
        "e\u0301",
        "-61",
        "a",
    ]
    names = [secret_name(k) for k in keys]
    assert len({n.lower() for n in names}) == len(keys)


def test_a_key_that_fits_in_127_characters_once_encoded_is_accepted_and_one_more_is_refused():
    assert len(secret_name("k" * 127)) == 127
    assert len(secret_name("/" * 42)) == 126
    with pytest.raises(InvalidKeyName, match="127"):
        secret_name("k" * 128)
    with pytest.raises(InvalidKeyName, match="132 characters"):
        secret_name("/" * 42 + "é")  # 126 + 6: both UTF-8 bytes of é take three characters each


def test_empty_keys_and_control_characters_are_refused():
    for key in ("", "line\nbreak", "nul\x00", "lone\ud800surrogate"):
        with pytest.raises(InvalidKeyName):
            secret_name(key)


@pytest.mark.parametrize(
    "name", ["a-", "a-s", "-zz", "-6", "-61", "-2d", "-2f", "-c3", "-ff", "db-password", "trailing-s"]
)
def test_names_that_are_not_the_canonical_encoding_of_a_key_map_to_no_key(name):
    assert key_from_name(name) is None


# -- configuration --------------------------------------------------------------------


def test_creating_the_provider_without_a_vault_url_names_the_missing_setting():
    with pytest.raises(VaultError, match="AZURE_KEYVAULT_URL"):
        create({"VAULT_PROVIDER": "azure"})


def test_a_plain_http_vault_url_is_refused():
    with pytest.raises(VaultError, match="https://"):
        create({"AZURE_KEYVAULT_URL": "http://my-vault.vault.azure.net"})


def test_a_timeout_that_is_not_a_positive_number_is_refused():
    with pytest.raises(VaultError, match="AZURE_KEYVAULT_TIMEOUT_SECONDS"):
        create({"AZURE_KEYVAULT_URL": "https://v.vault.azure.net", "AZURE_KEYVAULT_TIMEOUT_SECONDS": "soon"})
    with pytest.raises(VaultError, match="AZURE_KEYVAULT_PURGE_ON_DELETE"):
        create({"AZURE_KEYVAULT_URL": "https://v.vault.azure.net", "AZURE_KEYVAULT_PURGE_ON_DELETE": "maybe"})


def test_the_registry_builds_the_azure_provider_from_the_environment(monkeypatch):
    monkeypatch.setenv("AZURE_KEYVAULT_URL", "https://janus-test-" + uuid.uuid4().hex[:8] + ".vault.azure.net/")
    monkeypatch.setenv("AZURE_KEYVAULT_PURGE_ON_DELETE", "false")
    vault = create_vault({"VAULT_PROVIDER": "azure", "VAULT_TEST_ID": uuid.uuid4().hex})
    try:
        assert isinstance(vault, AzureKeyVault)
        assert vault.vault_url.endswith(".vault.azure.net")
        assert vault.purge_on_delete is False
    finally:
        vault.close()


# -- the protocol over HTTPS --------------------------------------------------------------


@pytest.mark.parametrize("challenge", ["resource", "scope"])
def test_the_first_call_is_challenged_and_retried_with_a_token_for_the_vault_scope_and_tenant(
    fake_vault, provider, challenge
):
    fake = fake_vault(challenge=challenge)
    credential = StaticTokenCredential()
    vault = provider(fake.url, credential)

    vault.set("prod/billing-service/api-key", SECRET)

    challenged, authorized = fake.seen[0], fake.seen[1]
    assert (challenged.method, challenged.path, challenged.status) == (
        "PUT",
        "/secrets/prod-s-billing--service-s-api--key",
        401,
    )
    assert challenged.authorization is None
    assert challenged.body_length == 0  # the value is only sent once the client is authenticated
    assert (authorized.method, authorized.status, authorized.authorization) == ("PUT", 200, f"Bearer {TOKEN}")
    assert authorized.body_length > 0
    assert credential.requests == [((SCOPE,), fake.tenant)]
    assert all(seen.query.get("api-version") for seen in fake.seen)


def test_set_then_get_returns_the_value_and_stores_the_key_in_the_janus_key_tag(fake_vault, provider):
    fake = fake_vault()
    vault = provider(fake.url)

    vault.set("prod/billing-service/api-key", SECRET)

    assert vault.get("prod/billing-service/api-key") == SECRET
    assert fake.value_of("prod-s-billing--service-s-api--key") == SECRET
    assert fake.tags_of("prod-s-billing--service-s-api--key") == {KEY_TAG: "prod/billing-service/api-key"}


def test_setting_a_key_again_replaces_its_value(fake_vault, provider):
    vault = provider(fake_vault().url)
    vault.set("stripe", "old")
    vault.set("stripe", "new")
    assert vault.get("stripe") == "new"


def test_the_handshake_happens_once_and_later_calls_reuse_the_token(fake_vault, provider):
    fake = fake_vault()
    credential = StaticTokenCredential()
    vault = provider(fake.url, credential)

    vault.set("a", "1")
    vault.get("a")
    vault.list()

    assert [seen.status for seen in fake.seen] == [401, 200, 200, 200]
    assert len(credential.requests) == 1


def test_unicode_keys_are_stored_listed_and_read_back_exactly(fake_vault, provider):
    vault = provider(fake_vault().url)
    keys = ["café/clé ☕", "ключ/значение", "Prod/API.key", "emoji/🔑"]
    for i, key in enumerate(keys):
        vault.set(key, f"value-{i}")

    assert vault.list() == sorted(keys)
    assert [vault.get(key) for key in keys] == [f"value-{i}" for i in range(len(keys))]


def test_a_key_too_long_for_key_vault_is_refused_before_any_request(fake_vault, provider):
    fake = fake_vault()
    vault = provider(fake.url)
    with pytest.raises(InvalidKeyName, match="127") as caught:
        vault.set("x" * 128, SECRET)
    assert_no_leak(str(caught.value))
    assert fake.seen == []


def test_list_follows_next_links_across_pages(fake_vault, provider):
    fake = fake_vault(page_size=2)
    vault = provider(fake.url)
    keys = [f"tenant-{i}/token" for i in range(5)]
    for key in keys:
        vault.set(key, SECRET)

    assert vault.list() == sorted(keys)
    pages = [seen for seen in fake.seen if seen.method == "GET" and seen.path == "/secrets"]
    assert len(pages) == 3
    assert [bool(seen.query.get("$skiptoken")) for seen in pages] == [False, True, True]


def test_list_reverse_maps_untagged_names_and_skips_names_no_key_encodes(fake_vault, provider):
    fake = fake_vault()
    fake.put_raw("db--password", "x")  # made by hand, a valid encoding
    fake.put_raw("Legacy-Secret", "x")  # -S is no escape: not reachable by any key
    fake.put_raw("copied", "x", tags={KEY_TAG: "someone/else"})  # a tag that does not match its name
    fake.put_raw("tagged-s-one", "x", tags={KEY_TAG: "tagged/one", "owner": "ops"})

    assert provider(fake.url).list() == ["copied", "db-password", "tagged/one"]


def test_get_of_a_missing_key_raises_secret_not_found_naming_the_key(fake_vault, provider):
    vault = provider(fake_vault().url)
    with pytest.raises(SecretNotFound, match="prod/missing") as caught:
        vault.get("prod/missing")
    assert "Azure Key Vault" in str(caught.value)
    assert caught.value.__suppress_context__  # raised `from None`
    with pytest.raises(SecretNotFound):
        vault.delete("prod/missing")


def test_delete_waits_for_the_deletion_then_purges_so_the_key_can_be_set_again(fake_vault, provider):
    fake = fake_vault(deletion_lag=2, purge_lag=2)
    vault = provider(fake.url)
    vault.set("prod/db", SECRET)

    vault.delete("prod/db")

    assert fake.secrets == {} and fake.deleted == {}
    polls = [seen.status for seen in fake.seen if seen.method == "GET" and seen.path == "/deletedsecrets/prod-s-db"]
    assert polls == [404, 404, 200]
    assert [seen.status for seen in fake.seen if seen.method == "DELETE"] == [200, 204]
    with pytest.raises(SecretNotFound):
        vault.get("prod/db")
    assert vault.list() == []

    vault.set("prod/db", "again")  # the purge is still settling for two attempts: retried, then stored
    assert vault.get("prod/db") == "again"


def test_without_purge_permission_delete_succeeds_and_setting_the_key_again_explains_the_soft_delete(
    fake_vault, provider, caplog
):
    fake = fake_vault(purge_allowed=False)
    vault = provider(fake.url)
    vault.set("prod/db", SECRET)

    with caplog.at_level(logging.WARNING, logger="janus.vault.azure"):
        vault.delete("prod/db")
    assert "not purged" in caplog.text and "purge" in caplog.text
    with pytest.raises(SecretNotFound):
        vault.get("prod/db")

    with pytest.raises(VaultError) as caught:
        vault.set("prod/db", SECRET)
    message = str(caught.value)
    assert "soft-delete" in message and "purge" in message and "prod-s-db" in message
    assert_no_leak(message)
    assert_no_leak(caplog.text)


def test_with_purge_on_delete_off_the_secret_stays_soft_deleted(fake_vault, provider):
    fake = fake_vault()
    vault = provider(fake.url, purge_on_delete=False)
    vault.set("k", SECRET)
    vault.delete("k")
    assert list(fake.deleted) == ["k"]
    assert not any(seen.path.startswith("/deletedsecrets") for seen in fake.seen)


def test_a_vault_without_soft_delete_is_not_polled_or_purged(fake_vault, provider):
    fake = fake_vault(soft_delete=False)
    vault = provider(fake.url)
    vault.set("k", SECRET)
    vault.delete("k")
    assert fake.deleted == {}
    assert not any(seen.path.startswith("/deletedsecrets") for seen in fake.seen)
    vault.set("k", "again")


def test_a_token_the_vault_refuses_fails_as_a_vault_error_without_secrets(fake_vault, provider):
    fake = fake_vault()
    vault = provider(fake.url, StaticTokenCredential("not-the-vaults-token"))
    with pytest.raises(VaultError) as caught:
        vault.set("prod/db", SECRET)
    message = str(caught.value)
    assert "authentication failed" in message and "401" in message and "'prod/db'" in message
    assert_no_leak(message, "not-the-vaults-token")
    assert fake.secrets == {}


def test_a_challenge_for_another_resource_is_refused_before_a_token_is_requested(fake_vault, provider):
    fake = fake_vault()  # the challenge names vault.azure.net; the fake is 127.0.0.1
    credential = StaticTokenCredential()
    vault = provider(fake.url, credential, verify_challenge_resource=True)  # the production default
    with pytest.raises(VaultError, match="does not match"):
        vault.get("prod/db")
    assert credential.requests == []
    assert all(seen.authorization is None for seen in fake.seen)


def test_an_unreachable_vault_fails_fast_with_a_vault_error(provider):
    vault = provider(f"https://127.0.0.1:{refused_port()}")  # nothing listens there
    started = time.monotonic()
    with pytest.raises(VaultError) as caught:
        vault.set("prod/db", SECRET)
    assert time.monotonic() - started < 3
    message = str(caught.value)
    assert "Azure Key Vault" in message and "'prod/db'" in message
    assert "cannot reach" in message and "refused" in message.lower()
    assert caught.value.__suppress_context__
    assert_no_leak(message)
    with pytest.raises(VaultError, match="cannot list secrets"):
        vault.list()


def test_a_vault_that_goes_away_after_working_fails_fast(fake_vault, provider):
    fake = fake_vault()
    vault = provider(fake.url)
    vault.set("k", SECRET)
    fake.stop()
    started = time.monotonic()
    with pytest.raises(VaultError, match="cannot read secret 'k'"):
        vault.get("k")
    assert time.monotonic() - started < 3


def test_a_vault_that_stops_answering_fails_within_the_timeout(fake_vault, provider):
    fake = fake_vault()
    vault = provider(fake.url, timeout=0.3, max_retries=0)
    vault.set("k", SECRET)
    fake.stall.set()
    started = time.monotonic()
    try:
        with pytest.raises(VaultError, match="timed out") as caught:
            vault.get("k")
    finally:
        fake.release()
    assert time.monotonic() - started < 3
    assert_no_leak(str(caught.value))


def test_a_certificate_the_client_does_not_trust_fails_as_a_tls_vault_error(fake_vault):
    fake = fake_vault()
    vault = AzureKeyVault(fake.url, credential=StaticTokenCredential(), verify_challenge_resource=False)
    try:
        with pytest.raises(VaultError, match="TLS error"):
            vault.get("k")
    finally:
        vault.close()
