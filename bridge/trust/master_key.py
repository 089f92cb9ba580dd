"""The bridge master key: it wraps every user's data key and nothing else.

It comes from the environment (``INTEROP_BRIDGE_MASTER_KEY``, standard base64 of 32 bytes) or
from a key file holding the same text, created on first run with mode 0600. Back it up
separately from the database: the database alone reveals nothing, and without the key it cannot be
opened.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from pathlib import Path

ENV_VAR = "INTEROP_BRIDGE_MASTER_KEY"
KEY_LENGTH = 32


class MasterKeyError(Exception):
    """The master key is missing, malformed, or its file is readable by others."""


class MasterKey:
    """32 secret bytes; ``key_id`` is a public fingerprint that tells which key wrapped a row."""

    __slots__ = ("_secret", "key_id")

    def __init__(self, secret: bytes) -> None:
        if len(secret) != KEY_LENGTH:
            raise MasterKeyError(f"a master key is {KEY_LENGTH} bytes")
        self._secret = secret
        # A one-way fingerprint, safe to store and log: identifies the key without revealing it.
        self.key_id = hmac.new(secret, b"interop-bridge master key id",
                               hashlib.sha256).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"MasterKey(key_id={self.key_id})"

    @property
    def secret(self) -> bytes:
        return self._secret

    @classmethod
    def generate(cls) -> MasterKey:
        return cls(secrets.token_bytes(KEY_LENGTH))

    @classmethod
    def from_text(cls, text: str) -> MasterKey:
        try:
            return cls(base64.b64decode(text.strip(), validate=True))
        except (binascii.Error, ValueError) as e:
            raise MasterKeyError("the master key must be standard base64 of 32 bytes") from e

    def to_text(self) -> str:
        return base64.b64encode(self._secret).decode() + "\n"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> MasterKey:
        value = (os.environ if environ is None else environ).get(ENV_VAR)
        if not value:
            raise MasterKeyError(f"{ENV_VAR} is not set")
        return cls.from_text(value)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> MasterKey:
        path = Path(path)
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise MasterKeyError(f"{path} is accessible by group or others (mode {mode:o}); "
                                 "chmod 600 it")
        return cls.from_text(path.read_text())

    @classmethod
    def load_or_create(cls, path: str | os.PathLike[str]) -> MasterKey:
        """Read the key file, or create it (mode 0600, never overwriting) on first run."""
        path = Path(path)
        try:
            return cls.load(path)
        except FileNotFoundError:
            pass
        key = cls.generate()
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: if another process created it meanwhile, use theirs rather than overwrite it
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return cls.load(path)
        with os.fdopen(fd, "w") as f:
            f.write(key.to_text())
            f.flush()
            os.fsync(f.fileno())
        return key

    @classmethod
    def from_env_or_file(cls, path: str | os.PathLike[str] | None) -> MasterKey:
        """The environment wins when set; otherwise the key file (created if missing)."""
        if os.environ.get(ENV_VAR):
            return cls.from_env()
        if path is None:
            raise MasterKeyError(f"neither {ENV_VAR} nor a key file is configured")
        return cls.load_or_create(path)
