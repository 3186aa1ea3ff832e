"""The local encrypted-JSON vault on real files, with real processes where concurrency matters."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from janus.vault import SecretNotFound, VaultError, create_vault
from janus.vault.local import LocalVault, create, key_id

REPO = Path(__file__).resolve().parents[2]
PYTHON = "/work/venv/bin/python" if os.path.exists("/work/venv/bin/python") else sys.executable
FLASK = str(Path(PYTHON).with_name("flask"))
SECRET = "s3cr3t-value-that-must-never-leak"


@pytest.fixture(autouse=True)
def _no_vault_settings_from_the_environment(monkeypatch):
    for name in ("VAULT_ENCRYPTION_KEY", "VAULT_READ_ONLY", "VAULT_PROVIDER", "VAULT_LOCAL_PATH"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def vault_path(tmp_path) -> Path:
    return tmp_path / "secrets.json"


def b64key(key: bytes) -> str:
    return base64.b64encode(key).decode()


def assert_no_leak(text: str, *values: str) -> None:
    for value in (SECRET, *values):
        assert value not in text


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "DATABASE_"))}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


WRITER = """
import sys
from janus.vault.local import create, key_id
path, worker, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
vault = create({"VAULT_LOCAL_PATH": path})
print("ready", flush=True)
sys.stdin.readline()  # the start gun: every process is imported and waiting
for i in range(count):
    vault.set(f"worker-{worker}/key-{i}", f"value-{worker}-{i}")
print(key_id(vault._key), flush=True)
"""


def run_together(tmp_path: Path, vault_path: Path, workers: int, count: int) -> list[str]:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    procs = [
        subprocess.Popen(
            [PYTHON, str(script), str(vault_path), str(n), str(count)],
            env=child_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(workers)
    ]
    for proc in procs:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outputs.append(out.strip())
    return outputs


def run_cli(tmp_path: Path, vault_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [FLASK, "--app", "janus", "janus", "vault", "rotate-key", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=child_env(DATABASE_PATH=str(tmp_path / "janus.db"), VAULT_LOCAL_PATH=str(vault_path), **env),
    )


# -- the protocol ------------------------------------------------------------


def test_set_get_list_delete_round_trip(vault_path):
    vault = create({"VAULT_LOCAL_PATH": str(vault_path)})
    assert vault.list() == []
    vault.set("prod/billing-service/api-key", SECRET)
    vault.set("dev/zeta", "ünïcødé ✓")
    vault.set("dev/alpha", "")
    assert vault.get("prod/billing-service/api-key") == SECRET
    assert vault.get("dev/zeta") == "ünïcødé ✓"
    assert vault.get("dev/alpha") == ""
    assert vault.list() == ["dev/alpha", "dev/zeta", "prod/billing-service/api-key"]
    vault.set("dev/zeta", "replaced")
    assert vault.get("dev/zeta") == "replaced"
    vault.delete("dev/zeta")
    assert vault.list() == ["dev/alpha", "prod/billing-service/api-key"]
    assert create({"VAULT_LOCAL_PATH": str(vault_path)}).get("prod/billing-service/api-key") == SECRET


def test_missing_secret_raises_secret_not_found_on_get_and_delete(vault_path):
    vault = create({"VAULT_LOCAL_PATH": str(vault_path)})
    with pytest.raises(SecretNotFound, match="'nope' not found"):
        vault.get("nope")
    vault.set("present", SECRET)
    with pytest.raises(SecretNotFound):
        vault.get("nope")
    with pytest.raises(SecretNotFound):
        vault.delete("nope")
    assert issubclass(SecretNotFound, VaultError)


@pytest.mark.parametrize("name", ["", "x" * 513, "line\nbreak", "nul\x00", "tab\there", "del\x7f"])
def test_invalid_secret_names_are_refused(vault_path, name):
    vault = create({"VAULT_LOCAL_PATH": str(vault_path)})
    with pytest.raises(VaultError, match="1 to 512 characters"):
        vault.set(name, SECRET)
    with pytest.raises(VaultError, match="1 to 512 characters"):
        vault.get(name)
    assert not vault_path.exists()


def test_a_512_character_name_is_accepted(vault_path):
    vault = create({"VAULT_LOCAL_PATH": str(vault_path)})
    vault.set("n" * 512, SECRET)
    assert vault.get("n" * 512) == SECRET


def test_values_are_not_in_the_file_in_plain_text(vault_path):
    vault = create({"VAULT_LOCAL_PATH": str(vault_path)})
    vault.set("a", SECRET)
    vault.set("b", SECRET)
    raw = vault_path.read_bytes()
    assert SECRET.encode() not in raw
    assert base64.b64encode(SECRET.encode()) not in raw
    document = json.loads(raw)
    assert document["version"] == 1 and document["cipher"] == "AES-256-GCM"
    assert document["secrets"]["a"] != document["secrets"]["b"]  # a fresh nonce per value


def test_changes_written_by_another_instance_are_seen(vault_path):
    writer, reader = LocalVault(vault_path), LocalVault(vault_path)
    writer.set("k", "one")
    assert reader.get("k") == "one"
    writer.set("k", "two")
    assert reader.get("k") == "two"
    writer.delete("k")
    assert reader.list() == []


# -- keys --------------------------------------------------------------------


def test_key_file_is_created_beside_the_vault_with_mode_0600(vault_path):
    create({"VAULT_LOCAL_PATH": str(vault_path)}).set("k", SECRET)
    key_file = vault_path.with_name("secrets.json.key")
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(base64.b64decode(key_file.read_text())) == 32
    assert json.loads(vault_path.read_text())["key_id"] == key_id(base64.b64decode(key_file.read_text()))


def test_key_file_readable_by_group_or_others_is_refused(vault_path):
    create({"VAULT_LOCAL_PATH": str(vault_path)}).set("k", SECRET)
    key_file = vault_path.with_name("secrets.json.key")
    key_file.chmod(0o644)
    before = vault_path.read_bytes()
    vault = create({"VAULT_LOCAL_PATH": str(vault_path)})
    with pytest.raises(VaultError, match=r"accessible by group or others.*chmod 600") as err:
        vault.get("k")
    assert_no_leak(str(err.value), key_file.read_text().strip())
    with pytest.raises(VaultError, match="accessible by group or others"):
        vault.set("other", SECRET)
    assert vault_path.read_bytes() == before


def test_encryption_key_from_config_is_used_and_no_key_file_is_written(vault_path):
    key = os.urandom(32)
    vault = create({"VAULT_LOCAL_PATH": str(vault_path), "VAULT_ENCRYPTION_KEY": b64key(key)})
    vault.set("k", SECRET)
    assert not vault_path.with_name("secrets.json.key").exists()
    assert json.loads(vault_path.read_text())["key_id"] == key_id(key)
    assert create({"VAULT_LOCAL_PATH": str(vault_path), "VAULT_ENCRYPTION_KEY": b64key(key)}).get("k") == SECRET


def test_encryption_key_is_read_from_the_environment_when_config_lacks_it(vault_path, monkeypatch):
    key = os.urandom(32)
    monkeypatch.setenv("VAULT_ENCRYPTION_KEY", b64key(key))
    create({"VAULT_LOCAL_PATH": str(vault_path)}).set("k", SECRET)
    assert json.loads(vault_path.read_text())["key_id"] == key_id(key)


@pytest.mark.parametrize(
    "bad",
    [
        "not-base64-at-all!!!",
        base64.b64encode(b"sixteen-byte-key").decode(),
        base64.b64encode(b"x" * 31).decode(),
        base64.b64encode(b"y" * 33).decode(),
    ],
)
def test_invalid_encryption_key_names_the_variable_and_never_echoes_it(vault_path, bad):
    with pytest.raises(VaultError, match="VAULT_ENCRYPTION_KEY must be the base64 encoding of exactly 32 bytes") as err:
        create_vault({"VAULT_LOCAL_PATH": str(vault_path), "VAULT_ENCRYPTION_KEY": bad})
    assert bad not in str(err.value)
    assert err.value.__cause__ is None and (err.value.__context__ is None or err.value.__suppress_context__)


def test_wrong_key_is_a_clear_error_and_a_failed_write_leaves_the_file_byte_for_byte(vault_path):
    right, wrong = os.urandom(32), os.urandom(32)
    create({"VAULT_LOCAL_PATH": str(vault_path), "VAULT_ENCRYPTION_KEY": b64key(right)}).set("k", SECRET)
    before = vault_path.read_bytes()
    vault = create({"VAULT_LOCAL_PATH": str(vault_path), "VAULT_ENCRYPTION_KEY": b64key(wrong)})
    for attempt in (
        lambda: vault.get("k"),
        lambda: vault.set("k2", "other-value"),
        lambda: vault.delete("k"),
        lambda: vault.rotate_key(os.urandom(32)),
    ):
        with pytest.raises(VaultError, match="cannot be decrypted with the configured key") as err:
            attempt()
        assert_no_leak(str(err.value), b64key(right), b64key(wrong), "other-value")
    assert vault_path.read_bytes() == before
    assert vault.list() == ["k"]  # names need no key


@pytest.mark.parametrize(
    "content, message",
    [
        (b'{"version": 1, "secrets": {"k": ', "is not a Janus vault file"),
        (b"[1, 2, 3]", "is not a Janus vault file"),
        (b"\xff\xfe binary", "is not a Janus vault file"),
        (b"", "is not a Janus vault file"),
        (b'{"version": 1, "cipher": "AES-256-GCM", "key_id": "x", "secrets": {"k": 5}}', "is not a Janus vault file"),
        (b'{"version": 2, "cipher": "AES-256-GCM", "key_id": "x", "secrets": {}}', "format version 2"),
    ],
)
def test_a_file_that_is_not_a_vault_is_a_clear_error_and_is_never_overwritten(vault_path, content, message):
    vault_path.write_bytes(content)
    vault = create({"VAULT_LOCAL_PATH": str(vault_path)})
    for attempt in (
        lambda: vault.get("k"),
        lambda: vault.list(),
        lambda: vault.set("k", SECRET),
        lambda: vault.delete("k"),
        lambda: vault.rotate_key(),
    ):
        with pytest.raises(VaultError, match=message) as err:
            attempt()
        assert_no_leak(str(err.value))
    assert vault_path.read_bytes() == content


def test_ciphertexts_swapped_between_two_names_are_detected(vault_path):
    vault = create({"VAULT_LOCAL_PATH": str(vault_path)})
    vault.set("alpha", "alpha-secret-value")
    vault.set("bravo", "bravo-secret-value")
    document = json.loads(vault_path.read_text())
    secrets = document["secrets"]
    secrets["alpha"], secrets["bravo"] = secrets["bravo"], secrets["alpha"]
    vault_path.write_text(json.dumps(document))
    for name in ("alpha", "bravo"):
        with pytest.raises(VaultError, match=f"secret '{name}' .* cannot be decrypted") as err:
            vault.get(name)
        assert_no_leak(str(err.value), "alpha-secret-value", "bravo-secret-value")


def test_values_that_are_not_strings_are_refused_without_echoing_them(vault_path):
    vault = create({"VAULT_LOCAL_PATH": str(vault_path)})
    with pytest.raises(VaultError, match="must be a string") as err:
        vault.set("k", b"s3cr3t-bytes")  # type: ignore[arg-type]
    assert "s3cr3t-bytes" not in str(err.value)
    with pytest.raises(VaultError, match="not valid Unicode") as err:
        vault.set("k", SECRET + "\udc80")
    assert_no_leak(str(err.value))


# -- read-only and create_vault -----------------------------------------------


@pytest.mark.parametrize("flag", [True, "true", "TRUE", "1"])
def test_read_only_mode_allows_reads_and_refuses_writes(vault_path, flag):
    create_vault({"VAULT_LOCAL_PATH": str(vault_path)}).set("k", SECRET)
    before = vault_path.read_bytes()
    vault = create_vault({"VAULT_LOCAL_PATH": str(vault_path), "VAULT_READ_ONLY": flag})
    assert vault.get("k") == SECRET
    assert vault.list() == ["k"]
    for attempt in (lambda: vault.set("k", "new"), lambda: vault.delete("k"), lambda: vault.rotate_key()):
        with pytest.raises(VaultError, match=r"^the vault is read-only \(VAULT_READ_ONLY=true\)$"):
            attempt()
    assert vault_path.read_bytes() == before


def test_read_only_false_and_nonsense_values(vault_path):
    create_vault({"VAULT_LOCAL_PATH": str(vault_path), "VAULT_READ_ONLY": "false"}).set("k", SECRET)
    with pytest.raises(VaultError, match="VAULT_READ_ONLY must be true or false"):
        create_vault({"VAULT_LOCAL_PATH": str(vault_path), "VAULT_READ_ONLY": "maybe"})


def test_each_call_builds_a_new_instance_of_the_selected_provider(vault_path):
    config = {"VAULT_PROVIDER": "local", "VAULT_LOCAL_PATH": str(vault_path)}
    first, second = create_vault(config), create_vault(config)
    assert isinstance(first, LocalVault) and first is not second  # keeping one is the app's (app_vault)
    first.set("k", SECRET)
    assert second.get("k") == SECRET  # two instances on one file see each other's writes


# -- several processes -------------------------------------------------------


def test_four_processes_writing_at_once_lose_nothing(tmp_path, vault_path):
    key_ids = run_together(tmp_path, vault_path, workers=4, count=50)
    assert len(set(key_ids)) == 1
    vault = create({"VAULT_LOCAL_PATH": str(vault_path)})
    expected = {f"worker-{w}/key-{i}": f"value-{w}-{i}" for w in range(4) for i in range(50)}
    assert vault.list() == sorted(expected)
    assert all(vault.get(name) == value for name, value in expected.items())
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".secrets.json")) == []  # no temp files


def test_processes_racing_to_create_the_key_file_end_up_sharing_one_key(tmp_path, vault_path):
    key_ids = run_together(tmp_path, vault_path, workers=6, count=1)
    key = base64.b64decode(vault_path.with_name("secrets.json.key").read_text())
    assert set(key_ids) == {key_id(key)}
    vault = create({"VAULT_LOCAL_PATH": str(vault_path), "VAULT_ENCRYPTION_KEY": b64key(key)})
    assert [vault.get(f"worker-{w}/key-0") for w in range(6)] == [f"value-{w}-0" for w in range(6)]


# -- rotation ----------------------------------------------------------------


def test_rotate_key_cli_reencrypts_everything_under_a_new_key_file(tmp_path, vault_path):
    vault = create({"VAULT_LOCAL_PATH": str(vault_path)})
    values = {f"svc-{i}/token": f"{SECRET}-{i}" for i in range(5)}
    for name, value in values.items():
        vault.set(name, value)
    key_file = vault_path.with_name("secrets.json.key")
    old_key = key_file.read_text().strip()

    result = run_cli(tmp_path, vault_path)

    assert result.returncode == 0, result.stderr
    assert "re-encrypted 5 value(s)" in result.stdout and str(key_file) in result.stdout
    new_key = key_file.read_text().strip()
    assert new_key != old_key and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert not vault_path.with_name("secrets.json.key.new").exists()
    assert_no_leak(result.stdout + result.stderr, old_key, new_key, *values.values())
    fresh = create({"VAULT_LOCAL_PATH": str(vault_path)})
    assert {name: fresh.get(name) for name in fresh.list()} == values
    assert vault.get("svc-0/token") == values["svc-0/token"]  # a running process follows the new key file
    with pytest.raises(VaultError, match="cannot be decrypted with the configured key"):
        create({"VAULT_LOCAL_PATH": str(vault_path), "VAULT_ENCRYPTION_KEY": old_key}).get("svc-0/token")


def test_rotate_key_cli_with_an_environment_key_needs_the_new_key_named(tmp_path, vault_path):
    old_key, new_key = b64key(os.urandom(32)), b64key(os.urandom(32))
    create({"VAULT_LOCAL_PATH": str(vault_path), "VAULT_ENCRYPTION_KEY": old_key}).set("k", SECRET)
    before = vault_path.read_bytes()

    refused = run_cli(tmp_path, vault_path, VAULT_ENCRYPTION_KEY=old_key)
    assert refused.returncode != 0 and "--new-key-env" in refused.stderr
    missing = run_cli(tmp_path, vault_path, "--new-key-env", "JANUS_NEW_KEY", VAULT_ENCRYPTION_KEY=old_key)
    assert missing.returncode != 0 and "JANUS_NEW_KEY is not set" in missing.stderr
    invalid = run_cli(
        tmp_path,
        vault_path,
        "--new-key-env",
        "JANUS_NEW_KEY",
        VAULT_ENCRYPTION_KEY=old_key,
        JANUS_NEW_KEY="too-short-key",
    )
    assert invalid.returncode != 0 and "JANUS_NEW_KEY must be the base64 encoding" in invalid.stderr
    assert vault_path.read_bytes() == before

    result = run_cli(
        tmp_path, vault_path, "--new-key-env", "JANUS_NEW_KEY", VAULT_ENCRYPTION_KEY=old_key, JANUS_NEW_KEY=new_key
    )

    assert result.returncode == 0, result.stderr
    assert "re-encrypted 1 value(s)" in result.stdout and "VAULT_ENCRYPTION_KEY" in result.stdout
    for output in (refused, missing, invalid, result):
        assert_no_leak(output.stdout + output.stderr, old_key, new_key, "too-short-key")
    assert not vault_path.with_name("secrets.json.key").exists()
    assert create({"VAULT_LOCAL_PATH": str(vault_path), "VAULT_ENCRYPTION_KEY": new_key}).get("k") == SECRET
    with pytest.raises(VaultError, match="cannot be decrypted with the configured key"):
        create({"VAULT_LOCAL_PATH": str(vault_path), "VAULT_ENCRYPTION_KEY": old_key}).get("k")


def test_rotation_interrupted_before_the_vault_is_replaced_keeps_the_old_pair(vault_path, monkeypatch):
    vault = create({"VAULT_LOCAL_PATH": str(vault_path)})
    vault.set("k", SECRET)
    before = vault_path.read_bytes()
    with monkeypatch.context() as m:
        m.setattr(LocalVault, "_store", lambda self, key, secrets: (_ for _ in ()).throw(OSError("crash")))
        with pytest.raises(OSError):
            vault.rotate_key()
    assert vault_path.read_bytes() == before
    assert vault_path.with_name("secrets.json.key.new").exists()  # the orphan is ignored
    assert create({"VAULT_LOCAL_PATH": str(vault_path)}).get("k") == SECRET
    assert create({"VAULT_LOCAL_PATH": str(vault_path)}).rotate_key() == 1
    assert create({"VAULT_LOCAL_PATH": str(vault_path)}).get("k") == SECRET
    assert not vault_path.with_name("secrets.json.key.new").exists()


def test_rotation_interrupted_before_the_key_is_replaced_is_finished_by_the_next_reader(vault_path, monkeypatch):
    import janus.vault.local as local

    vault = create({"VAULT_LOCAL_PATH": str(vault_path)})
    vault.set("k", SECRET)
    with monkeypatch.context() as m:
        m.setattr(local, "_replace", lambda source, target: (_ for _ in ()).throw(OSError("crash")))
        with pytest.raises(OSError):
            vault.rotate_key()
    pending = vault_path.with_name("secrets.json.key.new")
    assert json.loads(vault_path.read_text())["key_id"] == key_id(base64.b64decode(pending.read_text()))
    assert create({"VAULT_LOCAL_PATH": str(vault_path)}).get("k") == SECRET
    assert not pending.exists()
    assert json.loads(vault_path.read_text())["key_id"] == key_id(
        base64.b64decode(vault_path.with_name("secrets.json.key").read_text())
    )


def test_processes_creating_a_side_key_file_at_once_all_get_the_one_key_that_landed(tmp_path):
    """The client token hash key file beside the vault: created whole (0600) or not at all, never twice."""
    path = tmp_path / "secrets.json.token-hash.key"
    script = (
        "import base64, sys; from pathlib import Path; from janus.vault.local import load_or_create_key_file; "
        "print(base64.b64encode(load_or_create_key_file(Path(sys.argv[1]))).decode())"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen([PYTHON, "-c", script, str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        for _ in range(6)
    ]
    keys = {p.communicate(timeout=60)[0].decode().strip() for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert keys == {path.read_text().strip()} and len(base64.b64decode(keys.pop())) == 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind
