"""Where a user's Signal state lives: SQL through the user's trust boundary, or memory.

Every method takes the caller's connection, so the caller decides the transaction: a decrypt, the
session update and the stored plaintext can commit together. Records are sealed with purposes
named below; the record name (peer, key id) is part of the associated data, so a sealed record
moved to another row does not open.
"""

from __future__ import annotations

import base64
import json
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

from ..storage import Connection, for_update
from ..trust import Purpose, UserBoundary, Vault
from .keys import KeyPair
from .prekeys import LocalIdentity, PreKey, SignedPreKey
from .session import SessionRecord
from .types import PeerId, PreKeyId, RegistrationId, SignedPreKeyId, UserId

P_IDENTITY = Purpose.SIGNAL_IDENTITY
P_SIGNED_PRE_KEY = Purpose.SIGNAL_SIGNED_PRE_KEY
P_PRE_KEY = Purpose.SIGNAL_PRE_KEY
P_SESSION = Purpose.SIGNAL_SESSION
P_PEER_IDENTITY = Purpose.SIGNAL_PEER_IDENTITY
P_SENDER_KEY = Purpose.SIGNAL_SENDER_KEY


@dataclass(slots=True)
class KeyCounters:
    """Plain (unsealed) bookkeeping beside the identity."""

    current_signed_pre_key_id: int
    next_signed_pre_key_id: int
    next_pre_key_id: int


class SignalStore(Protocol):
    async def load_identity(self, conn: Any,
                            user: UserId) -> tuple[LocalIdentity, KeyCounters] | None: ...
    async def create_identity(self, conn: Any, user: UserId, identity: LocalIdentity,
                              counters: KeyCounters) -> None: ...
    async def save_counters(self, conn: Any, user: UserId, counters: KeyCounters) -> None: ...
    async def load_signed_pre_keys(self, conn: Any, user: UserId) -> list[SignedPreKey]: ...
    async def save_signed_pre_key(self, conn: Any, user: UserId, key: SignedPreKey) -> None: ...
    async def delete_signed_pre_key(self, conn: Any, user: UserId, key_id: int) -> None: ...
    async def load_pre_key(self, conn: Any, user: UserId, key_id: int) -> PreKey | None: ...
    async def load_pre_keys(self, conn: Any, user: UserId) -> list[PreKey]: ...
    async def save_pre_keys(self, conn: Any, user: UserId, keys: list[PreKey]) -> None: ...
    async def delete_pre_key(self, conn: Any, user: UserId, key_id: int) -> None: ...
    async def load_session(self, conn: Any, user: UserId,
                           peer: PeerId) -> SessionRecord | None: ...
    async def save_session(self, conn: Any, user: UserId, peer: PeerId,
                           record: SessionRecord) -> None: ...
    async def load_peer_identity(self, conn: Any, user: UserId, peer: PeerId) -> bytes | None: ...
    async def save_peer_identity(self, conn: Any, user: UserId, peer: PeerId,
                                 key: bytes) -> None: ...
    async def load_sender_key(self, conn: Any, user: UserId, group: str,
                              sender: str) -> bytes | None: ...
    async def save_sender_key(self, conn: Any, user: UserId, group: str, sender: str,
                              record: bytes) -> None: ...


def _b(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _u(text: str) -> bytes:
    return base64.b64decode(text)


def encode_identity(identity: LocalIdentity) -> bytes:
    return json.dumps({"priv": _b(identity.identity.private),
                       "reg": identity.registration_id}).encode()


def decode_identity(data: bytes) -> LocalIdentity:
    d = json.loads(data)
    return LocalIdentity(KeyPair.from_private(_u(d["priv"])), RegistrationId(d["reg"]))


def encode_signed_pre_key(key: SignedPreKey) -> bytes:
    return json.dumps({"priv": _b(key.key_pair.private), "pub": _b(key.key_pair.public),
                       "sig": _b(key.signature)}).encode()


def decode_signed_pre_key(key_id: int, created_at: int, data: bytes) -> SignedPreKey:
    d = json.loads(data)
    return SignedPreKey(SignedPreKeyId(key_id), KeyPair(_u(d["priv"]), _u(d["pub"])),
                        _u(d["sig"]), created_at)


def encode_pre_key(key: PreKey) -> bytes:
    return key.key_pair.private + key.key_pair.public


def decode_pre_key(key_id: int, data: bytes) -> PreKey:
    return PreKey(PreKeyId(key_id), KeyPair(data[:32], data[32:64]))


class SessionMemo:
    """Decoded session records, each under the exact sealed bytes it was read from or written
    as, kept apart per user.

    A record is only handed out for the bytes its user's row holds at that moment (the store
    reads the row first, in the caller's transaction), so it is always what decoding the row
    would give: anything that wrote the row since — a rolled-back transaction, another store
    object, another process — left other bytes there, and the row is decoded instead. Handing a
    record out takes it out of memory, because the caller changes it and may then fail; saving
    puts it back under its new bytes. Entries are found through their user's own partition only,
    and :meth:`forget` drops a user's partition whole. At most ``size`` records in all: the least
    recently used user's least recently used record goes first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._count = 0
        self._users: OrderedDict[UserId, OrderedDict[PeerId, tuple[bytes, SessionRecord]]] = (
            OrderedDict())

    def __len__(self) -> int:
        return self._count

    def take(self, user: UserId, peer: PeerId, sealed: bytes) -> SessionRecord | None:
        """The record last kept for ``user`` and ``peer``, if it was kept as ``sealed``."""
        partition = self._users.get(user)
        entry = None if partition is None else partition.pop(peer, None)
        if partition is None or entry is None:
            return None
        self._count -= 1
        if not partition:
            del self._users[user]
        return entry[1] if entry[0] == sealed else None

    def keep(self, user: UserId, peer: PeerId, sealed: bytes, record: SessionRecord) -> None:
        partition = self._users.get(user)
        if partition is None:
            partition = self._users[user] = OrderedDict()
        else:
            self._users.move_to_end(user)
            if partition.pop(peer, None) is not None:
                self._count -= 1
        partition[peer] = (sealed, record)
        self._count += 1
        while self._count > self.size:
            oldest_user, oldest = next(iter(self._users.items()))
            oldest.popitem(last=False)
            self._count -= 1
            if not oldest:
                del self._users[oldest_user]

    def forget(self, user: UserId) -> None:
        partition = self._users.pop(user, None)
        if partition is not None:
            self._count -= len(partition)


class SqlSignalStore:
    """The durable store: the bridge database, every secret sealed by the user's boundary.

    Loading a session always reads its row; what it saves is opening and decoding it when the
    row still holds the bytes this store last saw for it (:class:`SessionMemo`), as in a
    conversation's steady state.
    """

    SESSION_CACHE_SIZE = 4096

    def __init__(self, vault: Vault) -> None:
        self.vault = vault
        self._sessions = SessionMemo(self.SESSION_CACHE_SIZE)

    async def _boundary(self, conn: Connection, user: UserId) -> UserBoundary:
        return await self.vault.boundary(conn, user)

    async def load_identity(self, conn: Connection,
                            user: UserId) -> tuple[LocalIdentity, KeyCounters] | None:
        row = await conn.fetchrow(
            "SELECT sealed, current_signed_pre_key_id, next_signed_pre_key_id, next_pre_key_id "
            "FROM signal_identity WHERE user_id=$1", user)
        if row is None:
            return None
        boundary = await self._boundary(conn, user)
        identity = decode_identity(boundary.open(P_IDENTITY, "", row["sealed"]))
        return identity, KeyCounters(row["current_signed_pre_key_id"],
                                     row["next_signed_pre_key_id"], row["next_pre_key_id"])

    async def create_identity(self, conn: Connection, user: UserId, identity: LocalIdentity,
                              counters: KeyCounters) -> None:
        boundary = await self._boundary(conn, user)
        await conn.execute(
            "INSERT INTO signal_identity (user_id, sealed, current_signed_pre_key_id, "
            "next_signed_pre_key_id, next_pre_key_id) VALUES ($1, $2, $3, $4, $5)",
            user, boundary.seal(P_IDENTITY, "", encode_identity(identity)),
            counters.current_signed_pre_key_id, counters.next_signed_pre_key_id,
            counters.next_pre_key_id)

    async def save_counters(self, conn: Connection, user: UserId, counters: KeyCounters) -> None:
        await conn.execute(
            "UPDATE signal_identity SET current_signed_pre_key_id=$2, next_signed_pre_key_id=$3, "
            "next_pre_key_id=$4 WHERE user_id=$1", user, counters.current_signed_pre_key_id,
            counters.next_signed_pre_key_id, counters.next_pre_key_id)

    async def load_signed_pre_keys(self, conn: Connection, user: UserId) -> list[SignedPreKey]:
        boundary = await self._boundary(conn, user)
        rows = await conn.fetch("SELECT key_id, sealed, created_at FROM signal_signed_pre_key "
                                "WHERE user_id=$1 ORDER BY key_id", user)
        return [decode_signed_pre_key(r["key_id"], r["created_at"], boundary.open(
            P_SIGNED_PRE_KEY, str(r["key_id"]), r["sealed"])) for r in rows]

    async def save_signed_pre_key(self, conn: Connection, user: UserId,
                                  key: SignedPreKey) -> None:
        boundary = await self._boundary(conn, user)
        await conn.execute(
            "INSERT INTO signal_signed_pre_key (user_id, key_id, sealed, created_at) "
            "VALUES ($1, $2, $3, $4)", user, key.key_id,
            boundary.seal(P_SIGNED_PRE_KEY, str(key.key_id), encode_signed_pre_key(key)),
            key.created_at)

    async def delete_signed_pre_key(self, conn: Connection, user: UserId, key_id: int) -> None:
        await conn.execute("DELETE FROM signal_signed_pre_key WHERE user_id=$1 AND key_id=$2",
                           user, key_id)

    async def load_pre_key(self, conn: Connection, user: UserId, key_id: int) -> PreKey | None:
        sealed = await conn.fetchval(
            "SELECT sealed FROM signal_pre_key WHERE user_id=$1 AND key_id=$2", user, key_id)
        if sealed is None:
            return None
        boundary = await self._boundary(conn, user)
        return decode_pre_key(key_id, boundary.open(P_PRE_KEY, str(key_id), sealed))

    async def load_pre_keys(self, conn: Connection, user: UserId) -> list[PreKey]:
        boundary = await self._boundary(conn, user)
        rows = await conn.fetch(
            "SELECT key_id, sealed FROM signal_pre_key WHERE user_id=$1 ORDER BY key_id", user)
        return [decode_pre_key(r["key_id"], boundary.open(P_PRE_KEY, str(r["key_id"]),
                                                          r["sealed"])) for r in rows]

    async def save_pre_keys(self, conn: Connection, user: UserId, keys: list[PreKey]) -> None:
        boundary = await self._boundary(conn, user)
        for key in keys:
            # a wrapped-round id replaces a long-consumed key of the same id
            await conn.execute("DELETE FROM signal_pre_key WHERE user_id=$1 AND key_id=$2",
                               user, key.key_id)
            await conn.execute(
                "INSERT INTO signal_pre_key (user_id, key_id, sealed) VALUES ($1, $2, $3)",
                user, key.key_id, boundary.seal(P_PRE_KEY, str(key.key_id), encode_pre_key(key)))

    async def delete_pre_key(self, conn: Connection, user: UserId, key_id: int) -> None:
        await conn.execute("DELETE FROM signal_pre_key WHERE user_id=$1 AND key_id=$2",
                           user, key_id)

    async def load_session(self, conn: Connection, user: UserId,
                           peer: PeerId) -> SessionRecord | None:
        # On PostgreSQL the row stays locked until the caller's transaction ends, so two
        # concurrent operations on one session queue up.
        sealed: bytes | None = await conn.fetchval(
            "SELECT sealed FROM signal_session WHERE user_id=$1 AND peer=$2" + for_update(conn),
            user, peer)
        if sealed is None:
            return None
        record = self._sessions.take(user, peer, sealed)
        if record is None:
            boundary = await self._boundary(conn, user)
            record = SessionRecord.deserialize(boundary.open(P_SESSION, peer, sealed))
        return record

    async def save_session(self, conn: Connection, user: UserId, peer: PeerId,
                           record: SessionRecord) -> None:
        boundary = await self._boundary(conn, user)
        sealed = boundary.seal(P_SESSION, peer, record.serialize())
        await conn.execute(
            "INSERT INTO signal_session (user_id, peer, sealed, updated_at)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, peer) DO UPDATE SET"
            " sealed=excluded.sealed, updated_at=excluded.updated_at",
            user, peer, sealed, int(time.time()))
        self._sessions.keep(user, peer, sealed, record)

    async def load_peer_identity(self, conn: Connection, user: UserId,
                                 peer: PeerId) -> bytes | None:
        sealed = await conn.fetchval(
            "SELECT sealed FROM signal_peer_identity WHERE user_id=$1 AND peer=$2", user, peer)
        if sealed is None:
            return None
        return (await self._boundary(conn, user)).open(P_PEER_IDENTITY, peer, sealed)

    async def save_peer_identity(self, conn: Connection, user: UserId, peer: PeerId,
                                 key: bytes) -> None:
        boundary = await self._boundary(conn, user)
        await conn.execute(
            "INSERT INTO signal_peer_identity (user_id, peer, sealed, updated_at) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, peer) DO UPDATE SET "
            "sealed=excluded.sealed, updated_at=excluded.updated_at",
            user, peer, boundary.seal(P_PEER_IDENTITY, peer, key), int(time.time()))

    async def load_sender_key(self, conn: Connection, user: UserId, group: str,
                              sender: str) -> bytes | None:
        sealed = await conn.fetchval(
            "SELECT sealed FROM signal_sender_key WHERE user_id=$1 AND group_id=$2 AND sender=$3",
            user, group, sender)
        if sealed is None:
            return None
        return (await self._boundary(conn, user)).open(P_SENDER_KEY, f"{group}\n{sender}", sealed)

    async def save_sender_key(self, conn: Connection, user: UserId, group: str, sender: str,
                              record: bytes) -> None:
        boundary = await self._boundary(conn, user)
        await conn.execute(
            "INSERT INTO signal_sender_key (user_id, group_id, sender, sealed, updated_at) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, group_id, sender) DO UPDATE SET "
            "sealed=excluded.sealed, updated_at=excluded.updated_at", user, group, sender,
            boundary.seal(P_SENDER_KEY, f"{group}\n{sender}", record), int(time.time()))

    async def delete_user(self, conn: Connection, user: UserId) -> None:
        """Remove every Signal row of a user (on opt-out, beside the vault's crypto-shred)."""
        await self.forget_keys(conn, user)
        for table in ("signal_inbound", "signal_outbound"):
            await conn.execute(f"DELETE FROM {table} WHERE user_id=$1", user)

    async def forget_keys(self, conn: Connection, user: UserId) -> None:
        """Remove a user's identity, prekeys, sessions and trusted peers: what a reinstalled
        app has lost (the sandbox's simulated users use this to get a new identity)."""
        self._sessions.forget(user)
        for table in ("signal_identity", "signal_signed_pre_key", "signal_pre_key",
                      "signal_session", "signal_peer_identity", "signal_sender_key"):
            await conn.execute(f"DELETE FROM {table} WHERE user_id=$1", user)


class MemorySignalStore:
    """Volatile state for tests and benchmarks without persistence; keeps live objects, so a
    failed operation must not be retried against it after partial mutation."""

    def __init__(self) -> None:
        self.identities: dict[UserId, tuple[LocalIdentity, KeyCounters]] = {}
        self.signed: dict[UserId, dict[int, SignedPreKey]] = {}
        self.pre: dict[UserId, dict[int, PreKey]] = {}
        self.sessions: dict[tuple[UserId, PeerId], SessionRecord] = {}
        self.peers: dict[tuple[UserId, PeerId], bytes] = {}
        self.sender_keys: dict[tuple[UserId, str, str], bytes] = {}

    async def load_identity(self, conn: object,
                            user: UserId) -> tuple[LocalIdentity, KeyCounters] | None:
        return self.identities.get(user)

    async def create_identity(self, conn: object, user: UserId, identity: LocalIdentity,
                              counters: KeyCounters) -> None:
        self.identities[user] = (identity, counters)

    async def save_counters(self, conn: object, user: UserId, counters: KeyCounters) -> None:
        self.identities[user] = (self.identities[user][0], counters)

    async def load_signed_pre_keys(self, conn: object, user: UserId) -> list[SignedPreKey]:
        return sorted(self.signed.get(user, {}).values(), key=lambda k: k.key_id)

    async def save_signed_pre_key(self, conn: object, user: UserId, key: SignedPreKey) -> None:
        self.signed.setdefault(user, {})[key.key_id] = key

    async def delete_signed_pre_key(self, conn: object, user: UserId, key_id: int) -> None:
        self.signed.get(user, {}).pop(key_id, None)

    async def load_pre_key(self, conn: object, user: UserId, key_id: int) -> PreKey | None:
        return self.pre.get(user, {}).get(key_id)

    async def load_pre_keys(self, conn: object, user: UserId) -> list[PreKey]:
        return sorted(self.pre.get(user, {}).values(), key=lambda k: k.key_id)

    async def save_pre_keys(self, conn: object, user: UserId, keys: list[PreKey]) -> None:
        for key in keys:
            self.pre.setdefault(user, {})[key.key_id] = key

    async def delete_pre_key(self, conn: object, user: UserId, key_id: int) -> None:
        self.pre.get(user, {}).pop(key_id, None)

    async def load_session(self, conn: object, user: UserId,
                           peer: PeerId) -> SessionRecord | None:
        return self.sessions.get((user, peer))

    async def save_session(self, conn: object, user: UserId, peer: PeerId,
                           record: SessionRecord) -> None:
        self.sessions[(user, peer)] = record

    async def load_peer_identity(self, conn: object, user: UserId, peer: PeerId) -> bytes | None:
        return self.peers.get((user, peer))

    async def save_peer_identity(self, conn: object, user: UserId, peer: PeerId,
                                 key: bytes) -> None:
        self.peers[(user, peer)] = key

    async def load_sender_key(self, conn: object, user: UserId, group: str,
                              sender: str) -> bytes | None:
        return self.sender_keys.get((user, group, sender))

    async def save_sender_key(self, conn: object, user: UserId, group: str, sender: str,
                              record: bytes) -> None:
        self.sender_keys[(user, group, sender)] = record
