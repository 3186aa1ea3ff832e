"""The `local` provider (the reference's "Local encrypted JSON"): one file of AES-256-GCM values.

File format (VAULT_LOCAL_PATH, default ./secrets.json)::

    {"version": 1, "cipher": "AES-256-GCM", "key_id": "<32 hex>",
     "secrets": {"<name>": "<base64 of nonce(12) || ciphertext || tag(16)>"}}

Names stay in clear so `list()` needs no key. Every value has its own random
96-bit nonce and its name as associated data, so a ciphertext moved to another
name fails authentication. `key_id` is a labelled hash of the key (it reveals
nothing about the key): a wrong key is reported before anything is decrypted,
and a process notices when another process rotated the key file under it.

The key is VAULT_ENCRYPTION_KEY (base64 of 32 bytes) or, where that is unset,
the key file `<path>.key` (base64 text, mode 0600) created on the first write.

Concurrency: writers serialise on `<path>.lock` (filelock: gunicorn workers, a
stdio process, the CLI) and on a thread lock within a process. Files are only
ever replaced whole (temp file, fsync, os.replace, fsync of the directory), so
readers take no lock and re-parse only when the file's stat signature changes.

Key rotation, in key-file mode, all under the lock:
  1. decrypt every value with the old key (any failure aborts; nothing written);
  2. write the new key to `<path>.key.new` (atomic replace, 0600);
  3. replace the vault file with every value re-encrypted, key_id = new key;
  4. replace `<path>.key` with `<path>.key.new`.
A crash before 3 leaves the old vault and the old key (a stale `.key.new` is
ignored, and overwritten by the next rotation). A crash between 3 and 4 leaves
the new vault, whose key_id matches `.key.new`; the next process that finds
the mismatch promotes `.key.new` to `.key` under the lock. With
VAULT_ENCRYPTION_KEY the operator supplies the new key, holds both keys, and
only steps 1 and 3 happen (a single atomic replace).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import os
import tempfile
import threading
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from filelock import FileLock, Timeout

from janus.vault import KEY_BYTES, SecretNotFound, VaultError, decode_key, setting

FORMAT_VERSION = 1
CIPHER = "AES-256-GCM"
DEFAULT_PATH = "./secrets.json"
MAX_NAME_LENGTH = 512
NONCE_BYTES = 12
TAG_BYTES = 16
LOCK_TIMEOUT_SECONDS = 30.0
LOCK_POLL_SECONDS = 0.01  # writers hold the lock for a few fsyncs; 50 ms polling would dominate under contention
_AAD_PREFIX = b"janus-vault/v1\x00"  # separates our associated data from any other use of the key
_KEY_ID_LABEL = b"janus-vault/key-id\x00"


def create(config: Mapping[str, Any]) -> LocalVault:
    raw = setting(config, "VAULT_ENCRYPTION_KEY") or ""
    env_key = decode_key(raw, "VAULT_ENCRYPTION_KEY") if str(raw).strip() else None
    return LocalVault(setting(config, "VAULT_LOCAL_PATH") or DEFAULT_PATH, env_key)


def key_id(key: bytes) -> str:
    return hashlib.sha256(_KEY_ID_LABEL + key).hexdigest()[:32]


def check_name(name: Any) -> None:
    """Names are paths like `prod/billing-service/api-key`; the message never echoes one."""
    ok = isinstance(name, str) and 0 < len(name) <= MAX_NAME_LENGTH
    ok = ok and not any(unicodedata.category(c) in ("Cc", "Cs") for c in name)  # Cs: unencodable surrogates
    if not ok:
        raise VaultError(f"secret names must be 1 to {MAX_NAME_LENGTH} characters without control characters")


@dataclass(frozen=True)
class _Document:
    key_id: str | None
    secrets: Mapping[str, str]


_EMPTY = _Document(None, MappingProxyType({}))


class LocalVault:
    def __init__(self, path: str | os.PathLike[str], env_key: bytes | None = None) -> None:
        self.path = Path(path).expanduser().absolute()  # absolute: the working directory may change later
        self.key_path = self.path.with_name(self.path.name + ".key")
        self.new_key_path = self.path.with_name(self.path.name + ".key.new")
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self._from_env = env_key is not None
        self._key = env_key
        self._cache: tuple[tuple, _Document] | None = None
        self._thread_lock = threading.RLock()
        self._file_lock = FileLock(str(self.lock_path), timeout=LOCK_TIMEOUT_SECONDS, thread_local=False)

    @property
    def key_from_env(self) -> bool:
        return self._from_env

    @property
    def key_location(self) -> str:
        if self._from_env:
            return "the environment variable VAULT_ENCRYPTION_KEY"
        return f"the key file {self.key_path}"

    # -- the Vault protocol --------------------------------------------------

    def get(self, key: str) -> str:
        check_name(key)
        doc = self._load()
        if key not in doc.secrets:
            raise SecretNotFound(f"secret {key!r} not found")
        doc, secret_key = self._readable(doc)
        token = doc.secrets.get(key)
        if token is None:  # deleted while we waited for a rotation to finish
            raise SecretNotFound(f"secret {key!r} not found")
        return self._decrypt(secret_key, key, token).decode("utf-8")

    def set(self, key: str, value: str) -> None:
        check_name(key)
        if not isinstance(value, str):
            raise VaultError(f"the value of secret {key!r} must be a string")
        try:
            plaintext = value.encode("utf-8")
        except UnicodeEncodeError:
            raise VaultError(f"the value of secret {key!r} is not valid Unicode text") from None
        with self._locked():
            doc = self._load()
            secret_key = self._key_for_write(doc)
            secrets = dict(doc.secrets)
            secrets[key] = _encrypt(secret_key, key, plaintext)
            self._store(secret_key, secrets)

    def delete(self, key: str) -> None:
        check_name(key)
        with self._locked():
            doc = self._load()
            if key not in doc.secrets:
                raise SecretNotFound(f"secret {key!r} not found")
            secret_key = self._require_key(doc)  # a vault we cannot read is not ours to edit
            secrets = dict(doc.secrets)
            del secrets[key]
            self._store(secret_key, secrets)

    def list(self) -> list[str]:
        return sorted(self._load().secrets)

    def rotate_key(self, new_key: bytes | None = None) -> int:
        """Re-encrypt every value under `new_key` (generated if None); returns how many."""
        if new_key is None:
            if self._from_env:
                raise VaultError(
                    "VAULT_ENCRYPTION_KEY is set, so the new key must be given explicitly "
                    "(flask janus vault rotate-key --new-key-env NAME)"
                )
            new_key = AESGCM.generate_key(bit_length=8 * KEY_BYTES)
        elif not isinstance(new_key, bytes) or len(new_key) != KEY_BYTES:
            raise VaultError(f"the new key must be exactly {KEY_BYTES} bytes")
        with self._locked():
            doc = self._load()
            old_key = self._require_key(doc) if doc.secrets else b""
            plain = {name: self._decrypt(old_key, name, token) for name, token in doc.secrets.items()}
            fresh = {name: _encrypt(new_key, name, value) for name, value in plain.items()}
            del plain
            if not self._from_env:
                _atomic_write(self.new_key_path, _key_text(new_key))
            self._store(new_key, fresh)
            if not self._from_env:
                _replace(self.new_key_path, self.key_path)
            self._key = new_key
            return len(fresh)

    # -- keys ------------------------------------------------------------------

    def _readable(self, doc: _Document) -> tuple[_Document, bytes]:
        key = self._matching_key(doc.key_id, recover=False)
        if key is not None:
            return doc, key
        if self._from_env:  # nothing on disk can change which key we hold
            raise VaultError(f"{self.path} cannot be decrypted with the configured key ({self.key_location})")
        # Another process may be rotating right now, or crashed mid-rotation: look again under the lock.
        with self._locked():
            doc = self._load()
            return doc, self._require_key(doc)

    def _require_key(self, doc: _Document) -> bytes:
        """Under the lock: the key that decrypts `doc`, or a clear error."""
        key = self._matching_key(doc.key_id, recover=True)
        if key is None:
            raise VaultError(f"{self.path} cannot be decrypted with the configured key ({self.key_location})")
        return key

    def _matching_key(self, want: str | None, *, recover: bool) -> bytes | None:
        if self._key is not None and key_id(self._key) == want:
            return self._key
        if self._from_env:
            return None
        key = self._read_key_file(self.key_path)
        if key is not None and key_id(key) == want:
            self._key = key
            return key
        if recover:  # only under the lock: no rotation is in flight, so a matching .key.new is an orphan
            new = self._read_key_file(self.new_key_path)
            if new is not None and key_id(new) == want:
                _replace(self.new_key_path, self.key_path)
                self._key = new
                return new
            if key is None:
                raise VaultError(f"{self.path} cannot be decrypted: its key file {self.key_path} is missing")
        return None

    def _key_for_write(self, doc: _Document) -> bytes:
        """Under the lock. An empty vault takes the current key, never a cached one that may be stale."""
        if doc.secrets:
            return self._require_key(doc)
        if self._from_env:
            assert self._key is not None
            return self._key
        key = self._read_key_file(self.key_path) or self._create_key_file()
        self._key = key
        return key

    def _read_key_file(self, path: Path) -> bytes | None:
        return read_key_file(path)

    def _create_key_file(self) -> bytes:
        key = AESGCM.generate_key(bit_length=8 * KEY_BYTES)
        try:
            # O_EXCL: even a process that ignores our lock cannot make a second key; mode 0600 from birth.
            fd = os.open(self.key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            existing = self._read_key_file(self.key_path)
            if existing is None:
                raise VaultError(f"key file {self.key_path} vanished while being created") from None
            return existing
        except OSError as exc:
            raise VaultError(f"cannot create key file {self.key_path}: {exc.strerror}") from None
        try:
            os.write(fd, _key_text(key))
            os.fsync(fd)
        finally:
            os.close(fd)
        _fsync_dir(self.key_path.parent)
        return key

    # -- the file --------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._thread_lock:
            try:
                self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                self._file_lock.acquire(timeout=LOCK_TIMEOUT_SECONDS, poll_interval=LOCK_POLL_SECONDS)
            except Timeout:
                raise VaultError(f"timed out after {LOCK_TIMEOUT_SECONDS:.0f} s waiting for {self.lock_path}") from None
            except OSError as exc:  # e.g. a read-only mount
                raise VaultError(f"cannot lock {self.lock_path}: {exc.strerror}") from None
            try:
                yield
            finally:
                self._file_lock.release()

    def _load(self) -> _Document:
        try:
            signature = _signature(os.stat(self.path))
            cached = self._cache
            if cached is not None and cached[0] == signature:
                return cached[1]
            with open(self.path, "rb") as f:
                signature = _signature(os.fstat(f.fileno()))  # of what we read, even if replaced since stat
                data = f.read()
        except FileNotFoundError:
            return _EMPTY
        except OSError as exc:
            raise VaultError(f"cannot read {self.path}: {exc.strerror}") from None
        doc = _parse(data, self.path)
        self._cache = (signature, doc)
        return doc

    def _store(self, key: bytes, secrets: Mapping[str, str]) -> None:
        ordered = dict(sorted(secrets.items()))
        kid = key_id(key)
        document = {"version": FORMAT_VERSION, "cipher": CIPHER, "key_id": kid, "secrets": ordered}
        _atomic_write(self.path, json.dumps(document, indent=2).encode("utf-8") + b"\n")
        self._cache = (_signature(os.stat(self.path)), _Document(kid, MappingProxyType(ordered)))

    def _decrypt(self, key: bytes, name: str, token: str) -> bytes:
        try:
            blob = base64.b64decode(token, validate=True)
        except (binascii.Error, ValueError):
            blob = b""
        if len(blob) < NONCE_BYTES + TAG_BYTES:
            raise VaultError(f"secret {name!r} in {self.path} is malformed")
        try:
            return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], _AAD_PREFIX + name.encode("utf-8"))
        except InvalidTag:
            raise VaultError(
                f"secret {name!r} in {self.path} cannot be decrypted with the configured key "
                "(wrong key, or the value was altered or copied from another secret)"
            ) from None


def _encrypt(key: bytes, name: str, plaintext: bytes) -> str:
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, plaintext, _AAD_PREFIX + name.encode("utf-8"))
    return base64.b64encode(nonce + sealed).decode("ascii")


def _parse(data: bytes, path: Path) -> _Document:
    not_ours = VaultError(f"{path} is not a Janus vault file")
    try:
        obj = json.loads(data)
    except ValueError:  # includes UnicodeDecodeError; `from None` keeps the file's bytes out of tracebacks
        raise not_ours from None
    if not isinstance(obj, dict) or type(obj.get("version")) is not int:
        raise not_ours
    if obj["version"] != FORMAT_VERSION:
        raise VaultError(
            f"{path} has vault format version {obj['version']}; "
            f"this Janus reads version {FORMAT_VERSION} (is it from a newer Janus?)"
        )
    secrets, kid = obj.get("secrets"), obj.get("key_id")
    if obj.get("cipher") != CIPHER or not isinstance(secrets, dict) or not isinstance(kid, (str, type(None))):
        raise not_ours
    if not all(isinstance(v, str) for v in secrets.values()) or (secrets and kid is None):
        raise not_ours
    return _Document(kid, MappingProxyType(secrets))


def _signature(st: os.stat_result) -> tuple:
    # Inode alone can be reused after a replace; together with size and times a change is not missed.
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _key_text(key: bytes) -> bytes:
    return base64.b64encode(key) + b"\n"


def load_or_create_key_file(path: Path) -> bytes:
    """A 32-byte key kept in its own 0600 file (base64 text), created on first use.

    For keys other than the vault's (the client-token hash key lives beside the vault key).
    The file appears complete or not at all (written aside, then hard-linked into place), so a
    process starting at the same moment never reads a half-written key, and only one key wins.
    """
    existing = read_key_file(path)
    if existing is not None:
        return existing
    key = os.urandom(KEY_BYTES)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # mode 0600
    except OSError as exc:
        raise VaultError(f"cannot create key file {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(_key_text(key))
            f.flush()
            os.fsync(f.fileno())
        os.link(tmp, path)  # fails if another process got there first: then its key is the key
    except FileExistsError:
        key = read_key_file(path) or key
    except OSError as exc:
        raise VaultError(f"cannot create key file {path}: {exc.strerror}") from None
    else:
        _fsync_dir(path.parent)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    return key


def read_key_file(path: Path) -> bytes | None:
    """The key in a base64 key file, None if there is none; a file others may read is refused."""
    try:
        with open(path, "rb") as f:
            mode = os.fstat(f.fileno()).st_mode
            if os.name == "posix" and mode & 0o077:
                raise VaultError(
                    f"key file {path} is accessible by group or others (mode {mode & 0o777:04o}); run: chmod 600 {path}"
                )
            data = f.read(4096)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise VaultError(f"cannot read key file {path}: {exc.strerror}") from None
    return decode_key(data, f"key file {path}")


def _atomic_write(path: Path, data: bytes) -> None:
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # mode 0600
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError as exc:
        raise VaultError(f"cannot write {path}: {exc.strerror}") from None
    _fsync_dir(path.parent)


def _replace(source: Path, target: Path) -> None:
    try:
        os.replace(source, target)
    except OSError as exc:
        raise VaultError(f"cannot replace {target}: {exc.strerror}") from None
    _fsync_dir(target.parent)


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable; some platforms and filesystems cannot open or fsync a directory."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
