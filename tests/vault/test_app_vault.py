"""One vault per app: built from the app's settings on first use, then the same instance (janus.vault.app_vault)."""

from __future__ import annotations

import os
import threading

import pytest

from janus.vault import APP_EXTENSION, ReadOnlyVault, VaultError, app_vault
from janus.vault.local import LocalVault
from tests.conftest import make_app

SECRET = "s3cr3t-value-that-must-never-leak"


@pytest.fixture(autouse=True)
def _no_vault_settings_from_the_environment(monkeypatch):
    for name in ("VAULT_ENCRYPTION_KEY", "VAULT_READ_ONLY", "VAULT_PROVIDER", "VAULT_LOCAL_PATH"):
        monkeypatch.delenv(name, raising=False)


def _app(tmp_path, name: str, **settings):
    return make_app({"DATABASE_PATH": str(tmp_path / f"{name}.db")}, **settings)


def test_one_app_gets_the_same_vault_every_time_and_two_apps_get_their_own(tmp_path):
    first = _app(tmp_path, "first", VAULT_LOCAL_PATH=str(tmp_path / "first.json"))
    second = _app(tmp_path, "second", VAULT_LOCAL_PATH=str(tmp_path / "second.json"), VAULT_READ_ONLY=True)
    vault = app_vault(first)
    assert isinstance(vault, LocalVault)
    assert app_vault(first) is vault
    with first.app_context():
        from flask import current_app

        assert app_vault(current_app) is vault  # through the proxy, as the services ask
    other = app_vault(second)
    assert other is not vault and isinstance(other, ReadOnlyVault)  # each app's own settings
    assert app_vault(second) is other
    vault.set("only-in-first", SECRET)
    assert other.list() == []  # a different store, not just a different object
    assert (tmp_path / "first.json").exists() and not (tmp_path / "second.json").exists()


def test_apps_with_the_same_settings_still_get_one_vault_each(tmp_path):
    path = str(tmp_path / "shared.json")
    first, second = _app(tmp_path, "a", VAULT_LOCAL_PATH=path), _app(tmp_path, "b", VAULT_LOCAL_PATH=path)
    assert app_vault(first) is not app_vault(second)
    app_vault(first).set("k", SECRET)
    assert app_vault(second).get("k") == SECRET


def test_requests_arriving_together_on_a_fresh_app_build_one_vault(tmp_path):
    app = _app(tmp_path, "together", VAULT_LOCAL_PATH=str(tmp_path / "secrets.json"))
    start = threading.Barrier(8)
    seen: list[object] = []

    def ask() -> None:
        start.wait()
        seen.append(app_vault(app))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 8 and all(vault is seen[0] for vault in seen)


def test_a_vault_that_cannot_be_built_is_not_kept(tmp_path):
    app = _app(tmp_path, "broken", VAULT_PROVIDER="nowhere")
    for _ in range(2):
        with pytest.raises(VaultError, match="Unknown VAULT_PROVIDER 'nowhere'"):
            app_vault(app)
    assert APP_EXTENSION not in app.extensions
    app.config["VAULT_PROVIDER"] = "local"
    app.config["VAULT_LOCAL_PATH"] = str(tmp_path / "secrets.json")
    assert isinstance(app_vault(app), LocalVault)  # the next call tries again


def test_a_forked_child_builds_its_own_working_vault_for_the_same_app(tmp_path):
    app = _app(tmp_path, "forked", VAULT_LOCAL_PATH=str(tmp_path / "secrets.json"))
    parent = app_vault(app)
    parent.set("k", SECRET)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            child = app_vault(app)
            child.set("from-child", "v")
            same = app_vault(app) is child
            os.write(write_end, b"ok" if child is not parent and same and child.get("k") == SECRET else b"no")
        finally:
            os._exit(0)
    os.close(write_end)
    answer = os.read(read_end, 2)
    os.close(read_end)
    os.waitpid(pid, 0)
    assert answer == b"ok"
    assert app_vault(app) is parent and parent.get("from-child") == "v"
