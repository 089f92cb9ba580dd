"""Per-user sealing of secrets: the trust boundary of the bridge.

Each bridged user has a random 32-byte data key, stored only wrapped (AES-256-GCM) under the
master key. Every private key, session record and stored plaintext of that user is sealed with
AES-256-GCM under the data key, with associated data naming the user, the purpose and the record,
so a sealed value copied into another user's row (or another purpose, or another record) does not
open. Code outside this module gets a :class:`UserBoundary` for one user and can only seal and open
that user's records; it never sees a data key.
"""

from __future__ import annotations

import logging
import os
import time

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from mautrix.util.async_db import Connection

from .master_key import MasterKey
from .purposes import Purpose
from .types import UserId

log = logging.getLogger("bridge.trust")

SEAL_VERSION = 1
_NONCE = 12


class VaultError(Exception):
    """A sealed value did not open: wrong user, purpose or record, tampering, or wrong key."""


class WrongMasterKeyError(VaultError):
    """The user's data key was wrapped by another master key than the one loaded."""


def _ad(*parts: str) -> bytes:
    # length-prefixed so that ("ab", "c") and ("a", "bc") differ
    out = bytearray(b"interop-bridge/v1")
    for part in parts:
        raw = part.encode()
        out += len(raw).to_bytes(4, "big") + raw
    return bytes(out)


def _seal(key: bytes, plaintext: bytes, ad: bytes) -> bytes:
    nonce = os.urandom(_NONCE)
    return bytes((SEAL_VERSION,)) + nonce + AESGCM(key).encrypt(nonce, plaintext, ad)


def _open(key: bytes, sealed: bytes, ad: bytes) -> bytes:
    if len(sealed) < 1 + _NONCE + 16 or sealed[0] != SEAL_VERSION:
        raise VaultError("not a sealed value of a known version")
    try:
        return AESGCM(key).decrypt(sealed[1:1 + _NONCE], sealed[1 + _NONCE:], ad)
    except InvalidTag:
        raise VaultError("sealed value does not open here") from None


def wrap_data_key(master: MasterKey, user_id: str, data_key: bytes) -> bytes:
    return _seal(master.secret, data_key, _ad("data-key", user_id))


def unwrap_data_key(master: MasterKey, user_id: str, wrapped: bytes) -> bytes:
    return _open(master.secret, wrapped, _ad("data-key", user_id))


class UserBoundary:
    """Seal and open one user's records. Holds the user's data key; never hands it out."""

    __slots__ = ("_aead", "log", "user_id")

    def __init__(self, user_id: UserId, data_key: bytes) -> None:
        self.user_id = user_id
        self._aead = AESGCM(data_key)
        self.log = log.getChild("user").getChild(user_id.replace(".", "_"))

    def __repr__(self) -> str:
        return f"UserBoundary({self.user_id!r})"

    def seal(self, purpose: Purpose, name: str, plaintext: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return (bytes((SEAL_VERSION,)) + nonce
                + self._aead.encrypt(nonce, plaintext, _ad(self.user_id, purpose, name)))

    def open(self, purpose: Purpose, name: str, sealed: bytes) -> bytes:
        if len(sealed) < 1 + _NONCE + 16 or sealed[0] != SEAL_VERSION:
            raise VaultError("not a sealed value of a known version")
        try:
            return self._aead.decrypt(sealed[1:1 + _NONCE], sealed[1 + _NONCE:],
                                      _ad(self.user_id, purpose, name))
        except InvalidTag:
            raise VaultError(f"a {purpose} record of {self.user_id} does not open") from None


class Vault:
    """Hands out :class:`UserBoundary` objects; creates a user's data key on first use."""

    def __init__(self, master_key: MasterKey) -> None:
        self._master = master_key
        self._boundaries: dict[str, UserBoundary] = {}

    @property
    def master_key_id(self) -> str:
        return self._master.key_id

    async def boundary(self, conn: Connection, user_id: UserId) -> UserBoundary:
        cached = self._boundaries.get(user_id)
        if cached is not None:
            return cached
        row = await conn.fetchrow(
            "SELECT wrapped_key, master_key_id FROM trust_user_key WHERE user_id=$1", user_id)
        if row is None:
            data_key = os.urandom(32)
            await conn.execute(
                "INSERT INTO trust_user_key (user_id, wrapped_key, master_key_id, created_at) "
                "VALUES ($1, $2, $3, $4)",
                user_id, wrap_data_key(self._master, user_id, data_key), self._master.key_id,
                int(time.time()))
            log.info("Created the data key of %s", user_id)
        else:
            if row["master_key_id"] != self._master.key_id:
                raise WrongMasterKeyError(
                    f"the data key of {user_id} is wrapped by master key {row['master_key_id']}, "
                    f"not the loaded {self._master.key_id}")
            data_key = unwrap_data_key(self._master, user_id, row["wrapped_key"])
        boundary = UserBoundary(user_id, data_key)
        # Only cache once the row is known to exist; a rolled-back creation must not leave a key
        # in memory that is nowhere on disk, so newly created keys are cached by the next lookup.
        if row is not None:
            self._boundaries[user_id] = boundary
        return boundary

    async def forget_user(self, conn: Connection, user_id: UserId) -> None:
        """Crypto-shred: delete the user's data key; everything sealed for them becomes noise."""
        self._boundaries.pop(user_id, None)
        await conn.execute("DELETE FROM trust_user_key WHERE user_id=$1", user_id)
        log.info("Forgot the data key of %s", user_id)

    def drop_cache(self) -> None:
        self._boundaries.clear()
