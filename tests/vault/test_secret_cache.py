"""The secret cache in front of a vault: TTL, forget, fail-closed outages, single flight."""

from __future__ import annotations

import threading

import pytest

from janus.vault import SecretNotFound, VaultError
from janus.vault.cache import SecretCache
from tests.support.waiting import wait_for

SECRET = "cached-s3cret-value"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Provider:
    """A vault stand-in that counts reads and can be switched to fail."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.reads: list[str] = []
        self.down = False

    def get(self, key: str) -> str:
        self.reads.append(key)
        if self.down:
            raise VaultError("the provider is unavailable")
        if key not in self.values:
            raise SecretNotFound(f"no secret named {key!r}")
        return self.values[key]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def provider() -> Provider:
    return Provider({"billing/token": SECRET})


@pytest.fixture
def cache(provider: Provider, clock: Clock) -> SecretCache:
    return SecretCache(provider.get, ttl=30, clock=clock)


def test_a_value_is_served_from_memory_until_the_ttl_ends(cache, provider, clock):
    assert cache.get("billing/token") == SECRET
    clock.now += 29.9
    assert cache.get("billing/token") == SECRET
    assert provider.reads == ["billing/token"]


def test_a_value_is_read_again_once_the_ttl_has_passed(cache, provider, clock):
    cache.get("billing/token")
    provider.values["billing/token"] = "rotated-outside-janus"
    clock.now += 30
    assert cache.get("billing/token") == "rotated-outside-janus"
    assert provider.reads == ["billing/token", "billing/token"]


def test_the_ttl_counts_from_when_the_read_started(provider, clock):
    def slow_read(key: str) -> str:
        clock.now += 10  # the provider took 10 s to answer
        return provider.get(key)

    cache = SecretCache(slow_read, ttl=30, clock=clock)
    cache.get("billing/token")
    clock.now += 20  # 30 s after the read began
    cache.get("billing/token")
    assert len(provider.reads) == 2


def test_forget_drops_the_value_at_once(cache, provider):
    cache.get("billing/token")
    provider.values["billing/token"] = "set-through-janus"
    cache.forget("billing/token")
    assert cache.get("billing/token") == "set-through-janus"


def test_clear_drops_every_value(cache, provider):
    provider.values["other"] = "x" * 10
    cache.get("billing/token")
    cache.get("other")
    cache.clear()
    cache.get("billing/token")
    cache.get("other")
    assert len(provider.reads) == 4


def test_a_provider_outage_after_a_successful_read_is_invisible_until_the_ttl_ends(cache, provider, clock):
    cache.get("billing/token")
    provider.down = True
    clock.now += 29
    assert cache.get("billing/token") == SECRET
    assert len(provider.reads) == 1


def test_after_the_ttl_an_outage_fails_closed_with_the_providers_error(cache, provider, clock):
    cache.get("billing/token")
    provider.down = True
    clock.now += 30
    with pytest.raises(VaultError, match="unavailable"):
        cache.get("billing/token")
    # The stale value is gone for good: every later call asks the provider again.
    with pytest.raises(VaultError):
        cache.get("billing/token")
    assert len(provider.reads) == 3
    provider.down = False
    assert cache.get("billing/token") == SECRET


def test_a_missing_secret_is_not_cached(cache, provider):
    with pytest.raises(SecretNotFound):
        cache.get("billing/missing")
    provider.values["billing/missing"] = "created-in-the-console"
    assert cache.get("billing/missing") == "created-in-the-console"
    assert provider.reads == ["billing/missing", "billing/missing"]


def test_a_zero_ttl_reads_the_provider_every_time(provider, clock):
    cache = SecretCache(provider.get, ttl=0, clock=clock)
    cache.get("billing/token")
    cache.get("billing/token")
    assert len(provider.reads) == 2


class BlockingProvider(Provider):
    """Reads the value, then blocks until `release` is set, so a test can line up concurrent misses."""

    def __init__(self, values: dict[str, str]) -> None:
        super().__init__(values)
        self.entered = threading.Event()
        self.release = threading.Event()

    def get(self, key: str) -> str:
        try:
            outcome: object = super().get(key)
        except VaultError as exc:
            outcome = exc
        self.entered.set()
        assert self.release.wait(10), "the test never released the read"
        if isinstance(outcome, Exception):
            raise outcome
        return outcome  # type: ignore[return-value]


def _misses_in_flight(cache: SecretCache, key: str, provider: BlockingProvider, callers: int = 8):
    """Start `callers` threads on one cold key; return once all but the reader wait on its read."""
    results: list[object] = []
    lock = threading.Lock()

    def call() -> None:
        try:
            value: object = cache.get(key)
        except Exception as exc:  # noqa: BLE001 - collected and asserted by the test
            value = exc
        with lock:
            results.append(value)

    threads = [threading.Thread(target=call) for _ in range(callers)]
    threads[0].start()
    assert provider.entered.wait(10)  # the first caller is inside the provider
    for thread in threads[1:]:
        thread.start()
    flight = cache._flights[key]  # the read in flight, which the others must join
    wait_for(lambda: flight.waiters == callers - 1, what="the other callers to join the read in flight")
    return threads, results


def test_concurrent_misses_for_one_key_share_one_read(clock):
    provider = BlockingProvider({"billing/token": SECRET})
    cache = SecretCache(provider.get, ttl=30, clock=clock)
    threads, results = _misses_in_flight(cache, "billing/token", provider)
    provider.release.set()
    for thread in threads:
        thread.join(10)
    assert results == [SECRET] * 8
    assert provider.reads == ["billing/token"]


def test_concurrent_misses_share_the_failure_of_the_one_read(clock):
    provider = BlockingProvider({"billing/token": SECRET})
    provider.down = True
    cache = SecretCache(provider.get, ttl=30, clock=clock)
    threads, results = _misses_in_flight(cache, "billing/token", provider)
    provider.release.set()
    for thread in threads:
        thread.join(10)
    assert len(results) == 8 and all(isinstance(r, VaultError) for r in results)
    assert provider.reads == ["billing/token"]


def test_a_read_in_flight_when_the_key_is_forgotten_does_not_store_the_old_value(clock):
    provider = BlockingProvider({"billing/token": "old-value-123"})
    cache = SecretCache(provider.get, ttl=30, clock=clock)
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(cache.get("billing/token")))
    reader.start()
    assert provider.entered.wait(10)  # the old value has been read, the answer is on its way
    provider.values["billing/token"] = "new-value-456"
    cache.forget("billing/token")  # set through Janus while the read was in flight
    provider.release.set()
    reader.join(10)
    assert result == ["old-value-123"]  # that one call raced the change
    assert cache.get("billing/token") == "new-value-456"
    assert provider.reads == ["billing/token", "billing/token"]


def test_different_keys_do_not_wait_for_each_other(clock):
    provider = BlockingProvider({"billing/token": SECRET})
    fast = Provider({"crm/token": "crm-s3cret"})
    cache = SecretCache(lambda k: provider.get(k) if k == "billing/token" else fast.get(k), ttl=30, clock=clock)
    results = []
    blocked = threading.Thread(target=lambda: results.append(cache.get("billing/token")))
    blocked.start()
    assert provider.entered.wait(10)
    assert cache.get("crm/token") == "crm-s3cret"  # answered while billing/token is still being read
    provider.release.set()
    blocked.join(10)
    assert not blocked.is_alive() and results == [SECRET]


def test_the_cache_never_shows_values_in_its_repr(cache):
    cache.get("billing/token")
    assert SECRET not in repr(cache)


def test_the_gateway_reads_secrets_through_the_cache_and_janus_writes_forget_them(sqlite_app):
    from janus.runtime import get_runtime
    from janus.services import vault_keys
    from janus.vault import app_vault

    runtime = get_runtime(sqlite_app)
    assert runtime.secrets is not None and runtime.secrets.ttl == 30.0  # SECRET_CACHE_TTL's default
    assert runtime.backend.executor._get_secret == runtime.secrets.get  # the executor's only way to the vault
    vault = app_vault(sqlite_app)
    vault.set("billing/token", "first-value")
    assert runtime.secrets.get("billing/token") == "first-value"
    vault.set("billing/token", "rotated-outside-janus")  # not through Janus: served stale within the TTL
    assert runtime.secrets.get("billing/token") == "first-value"
    with sqlite_app.app_context():
        vault_keys.set_secret("admin", "billing/token", "set-through-janus")
    assert runtime.secrets.get("billing/token") == "set-through-janus"
    with sqlite_app.app_context():
        vault_keys.delete_secret("admin", "billing/token")
    with pytest.raises(SecretNotFound):
        runtime.secrets.get("billing/token")
