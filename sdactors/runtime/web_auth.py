"""Who may use the node's HTTP API: the Explorer's password and the API keys, in one private
file of the data directory (``web-auth.json``, owner-only like device.key).

Neither secret is kept: the password as a slow salted hash (scrypt: a copy of the file does
not give the password away to a quick guess), a key as its SHA-256 (a key is 256 random bits,
which no guessing reaches, and a request must be checked fast). A key is shown once, when it
is made. The node reads the file again whenever it changed, so ``sd web password`` and
``sd api key revoke`` take effect at once, whichever process wrote them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sdactors.runtime.errors import ConfigError, InvalidArgument
from sdactors.runtime.paths import DataDir
from sdactors.runtime.private_files import open_private, private_dir, write_private

FILE_NAME = "web-auth.json"
# scrypt's cost: about 16 MiB and a few tens of milliseconds per try, on purpose.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 1 << 14, 8, 1
SCRYPT_MAXMEM = 64 << 20
# Shorter than this is refused: the password guards every file of the library.
MIN_PASSWORD = 8
KEY_PREFIX = "sdk_"


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    name: str
    read_only: bool
    created_ms: int
    digest: str

    def listed(self) -> dict[str, Any]:
        """What ``sd api key list`` shows of it: never its digest."""
        return {
            "id": self.id,
            "name": self.name,
            "read_only": self.read_only,
            "created_ms": self.created_ms,
        }


@dataclass(frozen=True, slots=True)
class Credentials:
    password: dict[str, Any] | None
    keys: tuple[ApiKey, ...]

    @property
    def configured(self) -> bool:
        """Whether anyone can log in at all (a password or a key exists)."""
        return self.password is not None or bool(self.keys)

    def password_matches(self, given: str) -> bool:
        stored = self.password
        if stored is None:
            return False
        digest = _scrypt(given, bytes.fromhex(stored["salt"]))
        return hmac.compare_digest(digest.hex(), stored["hash"])

    def key_for(self, given: str) -> ApiKey | None:
        digest = _key_digest(given)
        for key in self.keys:
            if hmac.compare_digest(key.digest, digest):
                return key
        return None


def _scrypt(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, maxmem=SCRYPT_MAXMEM
    )


def _key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class CredentialStore:
    """The file, read again when it changed (its inode, size or mtime), written whole."""

    def __init__(self, data: DataDir) -> None:
        self.path = Path(data.root) / FILE_NAME
        self._lock = threading.Lock()
        self._seen: tuple[int, int, int] | None = None
        self._current = Credentials(None, ())

    def current(self) -> Credentials:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._seen, self._current = None, Credentials(None, ())
            return self._current
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        if stamp != self._seen:
            with self._lock:
                self._current = self._read()
                self._seen = stamp
        return self._current

    def _read(self) -> Credentials:
        fd = open_private(self.path, os.O_RDONLY)
        with os.fdopen(fd, "rb") as f:
            raw = f.read()
        try:
            content = json.loads(raw)
            keys = tuple(ApiKey(**k) for k in content.get("keys", []))
            password = content.get("password")
        except (ValueError, TypeError, AttributeError) as exc:
            raise ConfigError(f"{self.path} is damaged ({exc}); remove it and set again") from None
        return Credentials(password, keys)

    def _write(self, credentials: Credentials) -> None:
        content = {
            "password": credentials.password,
            "keys": [{**k.listed(), "digest": k.digest} for k in credentials.keys],
        }
        private_dir(self.path.parent)  # a data directory nothing else was done in yet
        write_private(self.path, json.dumps(content, indent=1).encode())
        self._seen = None

    def set_password(self, password: str) -> None:
        if len(password) < MIN_PASSWORD:
            raise InvalidArgument(f"a password of at least {MIN_PASSWORD} characters, please")
        salt = secrets.token_bytes(16)
        stored = {
            "scheme": "scrypt",
            "n": SCRYPT_N,
            "r": SCRYPT_R,
            "p": SCRYPT_P,
            "salt": salt.hex(),
            "hash": _scrypt(password, salt).hex(),
        }
        with self._lock:
            old = self._read() if self.path.exists() else Credentials(None, ())
            self._write(Credentials(stored, old.keys))

    def create_key(self, name: str, read_only: bool) -> tuple[ApiKey, str]:
        """A new key and its secret (shown once: only its digest is kept)."""
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        with self._lock:
            old = self._read() if self.path.exists() else Credentials(None, ())
            if any(k.name == name for k in old.keys):
                raise InvalidArgument(f"an API key named {name!r} exists already")
            key = ApiKey(
                secrets.token_hex(6), name, read_only, int(time.time() * 1000), _key_digest(secret)
            )
            self._write(Credentials(old.password, (*old.keys, key)))
        return key, secret

    def revoke_key(self, wanted: str) -> ApiKey:
        """The key named ``wanted`` (or of that id), removed."""
        with self._lock:
            old = self._read() if self.path.exists() else Credentials(None, ())
            found = [k for k in old.keys if wanted in (k.name, k.id)]
            if not found:
                raise InvalidArgument(f"no API key named {wanted!r} (sd api key list)")
            self._write(Credentials(old.password, tuple(k for k in old.keys if k not in found)))
        return found[0]
