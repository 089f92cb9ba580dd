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

from ..gateway.ids import Address
from ..storage import Connection, for_update
from ..trust import Purpose, UserScope, UserScopes, Vault
from .keys import KeyPair
from .prekeys import LocalIdentity, PreKey, SignedPreKey
from .session import SessionRecord
from .types import PreKeyId, RegistrationId, SignedPreKeyId, UserId

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
    """One user's Signal state: a store is made for one user and cannot name another."""

    @property
    def user(self) -> UserId: ...

    async def load_identity(self, conn: Any) -> tuple[LocalIdentity, KeyCounters] | None: ...
    async def create_identity(self, conn: Any, identity: LocalIdentity,
                              counters: KeyCounters) -> None: ...
    async def save_counters(self, conn: Any, counters: KeyCounters) -> None: ...
    async def load_signed_pre_keys(self, conn: Any) -> list[SignedPreKey]: ...
    async def save_signed_pre_key(self, conn: Any, key: SignedPreKey) -> None: ...
    async def delete_signed_pre_key(self, conn: Any, key_id: int) -> None: ...
    async def load_pre_key(self, conn: Any, key_id: int) -> PreKey | None: ...
    async def load_pre_keys(self, conn: Any) -> list[PreKey]: ...
    async def save_pre_keys(self, conn: Any, keys: list[PreKey]) -> None: ...
    async def delete_pre_key(self, conn: Any, key_id: int) -> None: ...
    async def load_session(self, conn: Any, peer: Address) -> SessionRecord | None: ...
    async def save_session(self, conn: Any, peer: Address, record: SessionRecord) -> None: ...
    async def load_peer_identity(self, conn: Any, peer: Address) -> bytes | None: ...
    async def save_peer_identity(self, conn: Any, peer: Address, key: bytes) -> None: ...
    async def load_sender_key(self, conn: Any, group: str, sender: str) -> bytes | None: ...
    async def save_sender_key(self, conn: Any, group: str, sender: str,
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
        self._users: OrderedDict[UserId, OrderedDict[Address, tuple[bytes, SessionRecord]]] = (
            OrderedDict())

    def __len__(self) -> int:
        return self._count

    def take(self, user: UserId, peer: Address, sealed: bytes) -> SessionRecord | None:
        """The record last kept for ``user`` and ``peer``, if it was kept as ``sealed``."""
        partition = self._users.get(user)
        entry = None if partition is None else partition.pop(peer, None)
        if partition is None or entry is None:
            return None
        self._count -= 1
        if not partition:
            del self._users[user]
        return entry[1] if entry[0] == sealed else None

    def keep(self, user: UserId, peer: Address, sealed: bytes, record: SessionRecord) -> None:
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

    def of(self, user: UserId) -> UserSessionMemo:
        return UserSessionMemo(self, user)


class UserSessionMemo:
    """One user's part of a :class:`SessionMemo`: it names no other user."""

    __slots__ = ("_memo", "_user")

    def __init__(self, memo: SessionMemo, user: UserId) -> None:
        self._memo = memo
        self._user = user

    def take(self, peer: Address, sealed: bytes) -> SessionRecord | None:
        return self._memo.take(self._user, peer, sealed)

    def keep(self, peer: Address, sealed: bytes, record: SessionRecord) -> None:
        self._memo.keep(self._user, peer, sealed, record)


class SqlSignalStores:
    """The durable stores of every user: the bridge database, each user's secrets sealed by
    their own boundary. Only the composition of a user's services holds this; per-user code
    gets the one :class:`SqlSignalStore` made :meth:`for_user`."""

    SESSION_CACHE_SIZE = 4096

    def __init__(self, vault: Vault) -> None:
        self._scopes = UserScopes(vault)
        self._sessions = SessionMemo(self.SESSION_CACHE_SIZE)

    def for_user(self, user: UserId) -> SqlSignalStore:
        return SqlSignalStore(self._scopes.of(user), self._sessions.of(user))

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


class SqlSignalStore:
    """One user's durable Signal state, sealed by that user's boundary.

    Loading a session always reads its row; what it saves is opening and decoding it when the
    row still holds the bytes this store last saw for it (:class:`SessionMemo`), as in a
    conversation's steady state.
    """

    __slots__ = ("_scope", "_sessions")

    def __init__(self, scope: UserScope, sessions: UserSessionMemo) -> None:
        self._scope = scope
        self._sessions = sessions

    @property
    def user(self) -> UserId:
        return self._scope.user

    async def load_identity(self, conn: Connection) -> tuple[LocalIdentity, KeyCounters] | None:
        row = await conn.fetchrow(
            "SELECT sealed, current_signed_pre_key_id, next_signed_pre_key_id, next_pre_key_id "
            "FROM signal_identity WHERE user_id=$1", self.user)
        if row is None:
            return None
        boundary = await self._scope.boundary(conn)
        identity = decode_identity(boundary.open(P_IDENTITY, "", row["sealed"]))
        return identity, KeyCounters(row["current_signed_pre_key_id"],
                                     row["next_signed_pre_key_id"], row["next_pre_key_id"])

    async def create_identity(self, conn: Connection, identity: LocalIdentity,
                              counters: KeyCounters) -> None:
        boundary = await self._scope.boundary(conn)
        await conn.execute(
            "INSERT INTO signal_identity (user_id, sealed, current_signed_pre_key_id, "
            "next_signed_pre_key_id, next_pre_key_id) VALUES ($1, $2, $3, $4, $5)",
            self.user, boundary.seal(P_IDENTITY, "", encode_identity(identity)),
            counters.current_signed_pre_key_id, counters.next_signed_pre_key_id,
            counters.next_pre_key_id)

    async def save_counters(self, conn: Connection, counters: KeyCounters) -> None:
        await conn.execute(
            "UPDATE signal_identity SET current_signed_pre_key_id=$2, next_signed_pre_key_id=$3, "
            "next_pre_key_id=$4 WHERE user_id=$1", self.user, counters.current_signed_pre_key_id,
            counters.next_signed_pre_key_id, counters.next_pre_key_id)

    async def load_signed_pre_keys(self, conn: Connection) -> list[SignedPreKey]:
        boundary = await self._scope.boundary(conn)
        rows = await conn.fetch("SELECT key_id, sealed, created_at FROM signal_signed_pre_key "
                                "WHERE user_id=$1 ORDER BY key_id", self.user)
        return [decode_signed_pre_key(r["key_id"], r["created_at"], boundary.open(
            P_SIGNED_PRE_KEY, str(r["key_id"]), r["sealed"])) for r in rows]

    async def save_signed_pre_key(self, conn: Connection,
                                  key: SignedPreKey) -> None:
        boundary = await self._scope.boundary(conn)
        await conn.execute(
            "INSERT INTO signal_signed_pre_key (user_id, key_id, sealed, created_at) "
            "VALUES ($1, $2, $3, $4)", self.user, key.key_id,
            boundary.seal(P_SIGNED_PRE_KEY, str(key.key_id), encode_signed_pre_key(key)),
            key.created_at)

    async def delete_signed_pre_key(self, conn: Connection, key_id: int) -> None:
        await conn.execute("DELETE FROM signal_signed_pre_key WHERE user_id=$1 AND key_id=$2",
                           self.user, key_id)

    async def load_pre_key(self, conn: Connection, key_id: int) -> PreKey | None:
        sealed = await conn.fetchval(
            "SELECT sealed FROM signal_pre_key WHERE user_id=$1 AND key_id=$2", self.user, key_id)
        if sealed is None:
            return None
        boundary = await self._scope.boundary(conn)
        return decode_pre_key(key_id, boundary.open(P_PRE_KEY, str(key_id), sealed))

    async def load_pre_keys(self, conn: Connection) -> list[PreKey]:
        boundary = await self._scope.boundary(conn)
        rows = await conn.fetch(
            "SELECT key_id, sealed FROM signal_pre_key WHERE user_id=$1 ORDER BY key_id",
            self.user)
        return [decode_pre_key(r["key_id"], boundary.open(P_PRE_KEY, str(r["key_id"]),
                                                          r["sealed"])) for r in rows]

    async def save_pre_keys(self, conn: Connection, keys: list[PreKey]) -> None:
        boundary = await self._scope.boundary(conn)
        for key in keys:
            # a wrapped-round id replaces a long-consumed key of the same id
            await conn.execute("DELETE FROM signal_pre_key WHERE user_id=$1 AND key_id=$2",
                               self.user, key.key_id)
            await conn.execute(
                "INSERT INTO signal_pre_key (user_id, key_id, sealed) VALUES ($1, $2, $3)",
                self.user, key.key_id,
                boundary.seal(P_PRE_KEY, str(key.key_id), encode_pre_key(key)))

    async def delete_pre_key(self, conn: Connection, key_id: int) -> None:
        await conn.execute("DELETE FROM signal_pre_key WHERE user_id=$1 AND key_id=$2",
                           self.user, key_id)

    async def load_session(self, conn: Connection,
                           peer: Address) -> SessionRecord | None:
        # On PostgreSQL the row stays locked until the caller's transaction ends, so two
        # concurrent operations on one session queue up.
        sealed: bytes | None = await conn.fetchval(
            "SELECT sealed FROM signal_session WHERE user_id=$1 AND peer=$2" + for_update(conn),
            self.user, peer)
        if sealed is None:
            return None
        record = self._sessions.take(peer, sealed)
        if record is None:
            boundary = await self._scope.boundary(conn)
            record = SessionRecord.deserialize(boundary.open(P_SESSION, peer, sealed))
        return record

    async def save_session(self, conn: Connection, peer: Address,
                           record: SessionRecord) -> None:
        boundary = await self._scope.boundary(conn)
        sealed = boundary.seal(P_SESSION, peer, record.serialize())
        await conn.execute(
            "INSERT INTO signal_session (user_id, peer, sealed, updated_at)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, peer) DO UPDATE SET"
            " sealed=excluded.sealed, updated_at=excluded.updated_at",
            self.user, peer, sealed, int(time.time()))
        self._sessions.keep(peer, sealed, record)

    async def load_peer_identity(self, conn: Connection,
                                 peer: Address) -> bytes | None:
        sealed = await conn.fetchval(
            "SELECT sealed FROM signal_peer_identity WHERE user_id=$1 AND peer=$2",
            self.user, peer)
        if sealed is None:
            return None
        return (await self._scope.boundary(conn)).open(P_PEER_IDENTITY, peer, sealed)

    async def save_peer_identity(self, conn: Connection, peer: Address,
                                 key: bytes) -> None:
        boundary = await self._scope.boundary(conn)
        await conn.execute(
            "INSERT INTO signal_peer_identity (user_id, peer, sealed, updated_at) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, peer) DO UPDATE SET "
            "sealed=excluded.sealed, updated_at=excluded.updated_at",
            self.user, peer, boundary.seal(P_PEER_IDENTITY, peer, key), int(time.time()))

    async def load_sender_key(self, conn: Connection, group: str,
                              sender: str) -> bytes | None:
        sealed = await conn.fetchval(
            "SELECT sealed FROM signal_sender_key WHERE user_id=$1 AND group_id=$2 AND sender=$3",
            self.user, group, sender)
        if sealed is None:
            return None
        return (await self._scope.boundary(conn)).open(P_SENDER_KEY, f"{group}\n{sender}", sealed)

    async def save_sender_key(self, conn: Connection, group: str, sender: str,
                              record: bytes) -> None:
        boundary = await self._scope.boundary(conn)
        await conn.execute(
            "INSERT INTO signal_sender_key (user_id, group_id, sender, sealed, updated_at) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, group_id, sender) DO UPDATE SET "
            "sealed=excluded.sealed, updated_at=excluded.updated_at", self.user, group, sender,
            boundary.seal(P_SENDER_KEY, f"{group}\n{sender}", record), int(time.time()))


class MemorySignalStore:
    """One user's volatile state, for tests and benchmarks without persistence; keeps live
    objects, so a failed operation must not be retried against it after partial mutation."""

    def __init__(self, user: UserId) -> None:
        self.user = user
        self.identity: tuple[LocalIdentity, KeyCounters] | None = None
        self.signed: dict[int, SignedPreKey] = {}
        self.pre: dict[int, PreKey] = {}
        self.sessions: dict[Address, SessionRecord] = {}
        self.peers: dict[Address, bytes] = {}
        self.sender_keys: dict[tuple[str, str], bytes] = {}

    async def load_identity(self, conn: object) -> tuple[LocalIdentity, KeyCounters] | None:
        return self.identity

    async def create_identity(self, conn: object, identity: LocalIdentity,
                              counters: KeyCounters) -> None:
        self.identity = (identity, counters)

    async def save_counters(self, conn: object, counters: KeyCounters) -> None:
        assert self.identity is not None
        self.identity = (self.identity[0], counters)

    async def load_signed_pre_keys(self, conn: object) -> list[SignedPreKey]:
        return sorted(self.signed.values(), key=lambda k: k.key_id)

    async def save_signed_pre_key(self, conn: object, key: SignedPreKey) -> None:
        self.signed[key.key_id] = key

    async def delete_signed_pre_key(self, conn: object, key_id: int) -> None:
        self.signed.pop(key_id, None)

    async def load_pre_key(self, conn: object, key_id: int) -> PreKey | None:
        return self.pre.get(key_id)

    async def load_pre_keys(self, conn: object) -> list[PreKey]:
        return sorted(self.pre.values(), key=lambda k: k.key_id)

    async def save_pre_keys(self, conn: object, keys: list[PreKey]) -> None:
        for key in keys:
            self.pre[key.key_id] = key

    async def delete_pre_key(self, conn: object, key_id: int) -> None:
        self.pre.pop(key_id, None)

    async def load_session(self, conn: object, peer: Address) -> SessionRecord | None:
        return self.sessions.get(peer)

    async def save_session(self, conn: object, peer: Address, record: SessionRecord) -> None:
        self.sessions[peer] = record

    async def load_peer_identity(self, conn: object, peer: Address) -> bytes | None:
        return self.peers.get(peer)

    async def save_peer_identity(self, conn: object, peer: Address, key: bytes) -> None:
        self.peers[peer] = key

    async def load_sender_key(self, conn: object, group: str, sender: str) -> bytes | None:
        return self.sender_keys.get((group, sender))

    async def save_sender_key(self, conn: object, group: str, sender: str,
                              record: bytes) -> None:
        self.sender_keys[(group, sender)] = record
