"""Durable inbound and outbound Signal messages: nothing lost, nothing decrypted twice.

Inbound: a redelivered gateway message id is recognised before any decrypt attempt; decrypting,
the session update and the sealed plaintext commit in one transaction, and only then may the
caller acknowledge the message to the gateway.

Outbound: the plaintext is stored first; encrypting writes the session update and the ciphertext
in one transaction before the ciphertext leaves, so after a crash the same ciphertext is sent again
(never a second encryption of the same message, which the peer would see as a different message).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from enum import Enum

from ..gateway.ids import Address
from ..storage import Connection, Database, acquire, transaction
from ..trust import Purpose
from ..trust.scope import UserScope
from .errors import IdentityChange, SignalError, UntrustedIdentityError
from .party import SignalParty, logger_name
from .types import UserId

log = logging.getLogger("bridge.signal.durable")

P_INBOUND = Purpose.SIGNAL_INBOUND
P_OUTBOUND = Purpose.SIGNAL_OUTBOUND


_last_stamp = 0


def arrival_stamp() -> int:
    """Microseconds since the epoch, strictly increasing within the process: rows stored in the
    same second (or microsecond) keep the order they were stored in, which is the order they
    are handed on and resent in."""
    global _last_stamp
    _last_stamp = max(time.time_ns() // 1000, _last_stamp + 1)
    return _last_stamp


class InboundState(str, Enum):
    DECRYPTED = "decrypted"   # plaintext stored, not yet handed on
    DELIVERED = "delivered"   # handed on (e.g. bridged to Matrix); plaintext may be dropped
    FAILED = "failed"         # could not be decrypted; ciphertext kept for a retry receipt


class OutboundState(str, Enum):
    QUEUED = "queued"         # plaintext stored, not encrypted yet
    ENCRYPTED = "encrypted"   # ciphertext committed; (re)send exactly this
    SENT = "sent"             # the gateway acknowledged it
    REFUSED = "refused"       # the gateway answered with a final error: never resent


@dataclass(frozen=True, slots=True)
class InboundResult:
    gateway_message_id: str
    state: InboundState
    plaintext: bytes | None
    #: True when this id had been received before: nothing was decrypted this time
    redelivered: bool
    error: str | None = None
    #: the sender's identity changed: accepted (DECRYPTED) or refused until confirmed (FAILED)
    identity_change: IdentityChange | None = None


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    local_id: str
    recipient: Address
    message_type: str
    ciphertext: bytes
    state: OutboundState


class Inbox:
    def __init__(self, db: Database, scope: UserScope, party: SignalParty) -> None:
        if scope.user != party.user_id:
            raise ValueError(f"{scope!r} does not hold the records of {party.user_id!r}")
        self.db, self.scope, self.party = db, scope, party
        self.user_id: UserId = party.user_id
        self.log = log.getChild("inbox").getChild(logger_name(self.user_id))

    async def _checkpoint(self, step: str) -> None:
        """A named point between steps; tests override it to simulate a crash there."""

    async def receive(self, gateway_message_id: str, sender: Address, kind: str,
                      body: bytes) -> InboundResult:
        """Decrypt and store one message; safe to call again with the same id at any time."""
        await self._checkpoint("before-lookup")
        try:
            result = await self._decrypt_and_store(gateway_message_id, sender, kind, body)
        except SignalError as e:
            # The transaction rolled back, so the session is untouched. Record the failure on
            # its own so the message is acknowledged once and can be answered by a retry receipt
            # (or, for a changed identity, decrypted once the user confirmed it).
            failed = await self._record_failure(gateway_message_id, sender, kind, body,
                                                type(e).__name__)
            if isinstance(e, UntrustedIdentityError):
                return InboundResult(gateway_message_id, failed.state, None, redelivered=False,
                                     error=failed.error, identity_change=e.change)
            return failed
        if not result.redelivered:
            await self._checkpoint("after-commit")
        return result

    async def _decrypt_and_store(self, gateway_message_id: str, sender: Address, kind: str,
                                 body: bytes) -> InboundResult:
        async with acquire(self.db) as conn, transaction(conn):
            known = await self._load(conn, gateway_message_id)
            if known is not None:
                return known
            await self._checkpoint("before-decrypt")
            result = await self.party.decrypt(conn, sender, kind, body)
            await self._checkpoint("after-decrypt")
            boundary = await self.scope.boundary(conn)
            await conn.execute(
                "INSERT INTO signal_inbound (user_id, gateway_message_id, sender,"
                " message_type, ciphertext, sealed_plaintext, state, received_at)"
                " VALUES ($1, $2, $3, $4, NULL, $5, $6, $7)",
                self.user_id, gateway_message_id, sender, kind,
                boundary.seal(P_INBOUND, gateway_message_id, result.plaintext),
                InboundState.DECRYPTED.value, arrival_stamp())
            await self._checkpoint("before-commit")
        return InboundResult(gateway_message_id, InboundState.DECRYPTED, result.plaintext,
                             redelivered=False, identity_change=result.identity_change)

    async def _record_failure(self, gateway_message_id: str, sender: Address, kind: str,
                              body: bytes, error: str) -> InboundResult:
        self.log.warning("Could not decrypt %s from %s for %s: %s", gateway_message_id, sender,
                         self.user_id, error)
        async with acquire(self.db) as conn, transaction(conn):
            await conn.execute(
                "INSERT INTO signal_inbound (user_id, gateway_message_id, sender, message_type,"
                " ciphertext, sealed_plaintext, state, error, received_at)"
                " VALUES ($1, $2, $3, $4, $5, NULL, $6, $7, $8)"
                " ON CONFLICT (user_id, gateway_message_id) DO NOTHING",
                self.user_id, gateway_message_id, sender, kind, body,
                InboundState.FAILED.value, error, arrival_stamp())
        return InboundResult(gateway_message_id, InboundState.FAILED, None, redelivered=False,
                             error=error)

    async def retry_failed(self, gateway_message_id: str) -> InboundResult:
        """Try a FAILED message again from its stored ciphertext, e.g. once a changed identity
        was accepted. On success the row becomes DECRYPTED and loses its ciphertext."""
        try:
            return await self._retry_failed(gateway_message_id)
        except SignalError as e:
            change = e.change if isinstance(e, UntrustedIdentityError) else None
            return InboundResult(gateway_message_id, InboundState.FAILED, None,
                                 redelivered=True, error=type(e).__name__,
                                 identity_change=change)

    async def _retry_failed(self, gateway_message_id: str) -> InboundResult:
        async with acquire(self.db) as conn, transaction(conn):
            row = await conn.fetchrow(
                "SELECT sender, message_type, ciphertext, state FROM signal_inbound"
                " WHERE user_id=$1 AND gateway_message_id=$2", self.user_id, gateway_message_id)
            if row is None:
                raise KeyError(gateway_message_id)
            if row["state"] != InboundState.FAILED.value:
                known = await self._load(conn, gateway_message_id)
                assert known is not None
                return known
            result = await self.party.decrypt(conn, Address(row["sender"]), row["message_type"],
                                              row["ciphertext"])
            boundary = await self.scope.boundary(conn)
            await conn.execute(
                "UPDATE signal_inbound SET state=$3, sealed_plaintext=$4, ciphertext=NULL,"
                " error=NULL WHERE user_id=$1 AND gateway_message_id=$2",
                self.user_id, gateway_message_id, InboundState.DECRYPTED.value,
                boundary.seal(P_INBOUND, gateway_message_id, result.plaintext))
        return InboundResult(gateway_message_id, InboundState.DECRYPTED, result.plaintext,
                             redelivered=False, identity_change=result.identity_change)

    async def _load(self, conn: Connection, gateway_message_id: str) -> InboundResult | None:
        row = await conn.fetchrow(
            "SELECT state, sealed_plaintext, error FROM signal_inbound"
            " WHERE user_id=$1 AND gateway_message_id=$2", self.user_id, gateway_message_id)
        if row is None:
            return None
        plaintext = None
        if row["sealed_plaintext"] is not None:
            boundary = await self.scope.boundary(conn)
            plaintext = boundary.open(P_INBOUND, gateway_message_id, row["sealed_plaintext"])
        return InboundResult(gateway_message_id, InboundState(row["state"]), plaintext,
                             redelivered=True, error=row["error"])

    async def get(self, gateway_message_id: str) -> InboundResult | None:
        async with acquire(self.db) as conn:
            return await self._load(conn, gateway_message_id)

    async def undelivered(self) -> list[str]:
        """Ids decrypted but not yet handed on, oldest first (resume these after a restart)."""
        rows = await self.db.fetch(
            "SELECT gateway_message_id FROM signal_inbound WHERE user_id=$1 AND state=$2"
            " ORDER BY received_at, gateway_message_id", self.user_id,
            InboundState.DECRYPTED.value)
        return [r["gateway_message_id"] for r in rows]

    async def failed_from(self, sender: Address, error: str) -> list[str]:
        """Ids of messages from ``sender`` that failed with ``error``, oldest first."""
        rows = await self.db.fetch(
            "SELECT gateway_message_id FROM signal_inbound WHERE user_id=$1 AND state=$2"
            " AND sender=$3 AND error=$4 ORDER BY received_at, gateway_message_id",
            self.user_id, InboundState.FAILED.value, sender, error)
        return [r["gateway_message_id"] for r in rows]

    async def sender_of(self, gateway_message_id: str) -> Address | None:
        sender: str | None = await self.db.fetchval(
            "SELECT sender FROM signal_inbound WHERE user_id=$1 AND gateway_message_id=$2",
            self.user_id, gateway_message_id)
        return None if sender is None else Address(sender)

    async def mark_delivered(self, gateway_message_id: str, *,
                             drop_plaintext: bool = True) -> None:
        await self.db.execute(
            "UPDATE signal_inbound SET state=$3"
            + (", sealed_plaintext=NULL" if drop_plaintext else "")
            + " WHERE user_id=$1 AND gateway_message_id=$2",
            self.user_id, gateway_message_id, InboundState.DELIVERED.value)


class Outbox:
    def __init__(self, db: Database, scope: UserScope, party: SignalParty) -> None:
        if scope.user != party.user_id:
            raise ValueError(f"{scope!r} does not hold the records of {party.user_id!r}")
        self.db, self.scope, self.party = db, scope, party
        self.user_id: UserId = party.user_id
        self.log = log.getChild("outbox").getChild(logger_name(self.user_id))

    async def _checkpoint(self, step: str) -> None:
        """A named point between steps; tests override it to simulate a crash there."""

    async def submit(self, local_id: str, recipient: Address, plaintext: bytes) -> None:
        """Store the plaintext durably (idempotent per ``local_id``)."""
        async with acquire(self.db) as conn, transaction(conn):
            boundary = await self.scope.boundary(conn)
            await conn.execute(
                "INSERT INTO signal_outbound (user_id, local_id, recipient,"
                " sealed_plaintext, state, created_at) VALUES ($1, $2, $3, $4, $5, $6)"
                " ON CONFLICT (user_id, local_id) DO NOTHING",
                self.user_id, local_id, recipient, boundary.seal(P_OUTBOUND, local_id, plaintext),
                OutboundState.QUEUED.value, arrival_stamp())

    async def ciphertext(self, local_id: str) -> OutboundMessage:
        """The ciphertext to send: encrypted and committed now, or the one committed earlier."""
        message, fresh = await self._encrypt_stored(local_id)
        if fresh:
            await self._checkpoint("after-commit")
        return message

    async def _encrypt_stored(self, local_id: str) -> tuple[OutboundMessage, bool]:
        async with acquire(self.db) as conn, transaction(conn):
            row = await conn.fetchrow(
                "SELECT recipient, sealed_plaintext, message_type, ciphertext, state"
                " FROM signal_outbound WHERE user_id=$1 AND local_id=$2", self.user_id, local_id)
            if row is None:
                raise KeyError(local_id)
            if row["ciphertext"] is not None:
                return OutboundMessage(local_id, Address(row["recipient"]), row["message_type"],
                                       row["ciphertext"], OutboundState(row["state"])), False
            boundary = await self.scope.boundary(conn)
            plaintext = boundary.open(P_OUTBOUND, local_id, row["sealed_plaintext"])
            await self._checkpoint("before-encrypt")
            kind, body = await self.party.encrypt(conn, Address(row["recipient"]), plaintext)
            await self._checkpoint("after-encrypt")
            await conn.execute(
                "UPDATE signal_outbound SET message_type=$3, ciphertext=$4, state=$5"
                " WHERE user_id=$1 AND local_id=$2", self.user_id, local_id, kind, body,
                OutboundState.ENCRYPTED.value)
            await self._checkpoint("before-commit")
        return OutboundMessage(local_id, Address(row["recipient"]), kind, body,
                               OutboundState.ENCRYPTED), True

    async def mark_sent(self, local_id: str) -> None:
        await self.db.execute(
            "UPDATE signal_outbound SET state=$3 WHERE user_id=$1 AND local_id=$2",
            self.user_id, local_id, OutboundState.SENT.value)

    async def mark_refused(self, local_id: str) -> None:
        """A final error from the gateway (protocol §9 rule 5): out of the resend set for good."""
        await self.db.execute(
            "UPDATE signal_outbound SET state=$3 WHERE user_id=$1 AND local_id=$2",
            self.user_id, local_id, OutboundState.REFUSED.value)

    async def unsent(self) -> list[str]:
        """Local ids queued or encrypted but not acknowledged, oldest first."""
        rows = await self.db.fetch(
            "SELECT local_id FROM signal_outbound WHERE user_id=$1 AND state IN ($2, $3)"
            " ORDER BY created_at, local_id", self.user_id, OutboundState.QUEUED.value,
            OutboundState.ENCRYPTED.value)
        return [r["local_id"] for r in rows]

    async def queued(self) -> list[tuple[str, Address]]:
        """(local id, recipient) of messages stored but not encrypted yet, oldest first: what
        an interrupted ``submit`` → encrypt left behind."""
        rows = await self.db.fetch(
            "SELECT local_id, recipient FROM signal_outbound WHERE user_id=$1 AND state=$2"
            " ORDER BY created_at, local_id", self.user_id, OutboundState.QUEUED.value)
        return [(r["local_id"], Address(r["recipient"])) for r in rows]

    async def committed(self) -> list[OutboundMessage]:
        """Ciphertexts committed but not acknowledged, oldest first: exactly what to resend."""
        rows = await self.db.fetch(
            "SELECT local_id, recipient, message_type, ciphertext FROM signal_outbound"
            " WHERE user_id=$1 AND state=$2 ORDER BY created_at, local_id", self.user_id,
            OutboundState.ENCRYPTED.value)
        return [OutboundMessage(r["local_id"], Address(r["recipient"]), r["message_type"],
                                r["ciphertext"], OutboundState.ENCRYPTED) for r in rows]

    async def reencrypt(self, local_id: str) -> OutboundMessage:
        """Encrypt a stored message again (the peer could not decrypt it and sent a retry
        receipt); the new ciphertext replaces the old one in the same transaction."""
        return await self._reencrypt(local_id)

    async def _reencrypt(self, local_id: str) -> OutboundMessage:
        async with acquire(self.db) as conn, transaction(conn):
            row = await conn.fetchrow(
                "SELECT recipient, sealed_plaintext FROM signal_outbound"
                " WHERE user_id=$1 AND local_id=$2", self.user_id, local_id)
            if row is None:
                raise KeyError(local_id)
            boundary = await self.scope.boundary(conn)
            plaintext = boundary.open(P_OUTBOUND, local_id, row["sealed_plaintext"])
            kind, body = await self.party.encrypt(conn, Address(row["recipient"]), plaintext)
            await conn.execute(
                "UPDATE signal_outbound SET message_type=$3, ciphertext=$4, state=$5"
                " WHERE user_id=$1 AND local_id=$2", self.user_id, local_id, kind, body,
                OutboundState.ENCRYPTED.value)
        return OutboundMessage(local_id, Address(row["recipient"]), kind, body,
                               OutboundState.ENCRYPTED)
