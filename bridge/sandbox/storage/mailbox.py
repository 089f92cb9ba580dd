"""The offline mailbox: every stanza for a recipient stays here until the recipient acks it.

Entries are keyed by (recipient, ack class, stanza id, peer) — exactly what the recipient's ``ack``
names — so a repeated store is a no-op and an ack removes precisely one entry. Stanzas are kept in a
codec-neutral JSON form so that swapping the wire codec does not strand stored messages.
"""

from __future__ import annotations

from dataclasses import dataclass

from mautrix.util.async_db import Database


@dataclass(frozen=True)
class MailboxEntry:
    seq: int
    recipient: str
    ack_class: str
    stanza_id: str
    peer: str
    stanza: str
    stored_at: int


class MailboxStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def put(self, recipient: str, ack_class: str, stanza_id: str, peer: str, stanza: str,
                  now_ms: int) -> bool:
        """Store; False if an entry with the same key is already waiting (not stored twice)."""
        existing = await self.db.fetchval(
            """SELECT seq FROM mailbox
               WHERE recipient=$1 AND ack_class=$2 AND stanza_id=$3 AND peer=$4""",
            recipient, ack_class, stanza_id, peer,
        )
        if existing is not None:
            return False
        await self.db.execute(
            """INSERT INTO mailbox (recipient, ack_class, stanza_id, peer, stanza, stored_at)
               VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING""",
            recipient, ack_class, stanza_id, peer, stanza, now_ms,
        )
        return True

    async def pending(self, recipient: str, not_before_ms: int, limit: int = 1000
                      ) -> list[MailboxEntry]:
        rows = await self.db.fetch(
            """SELECT * FROM mailbox WHERE recipient=$1 AND stored_at >= $2
               ORDER BY seq LIMIT $3""",
            recipient, not_before_ms, limit,
        )
        return [MailboxEntry(**dict(r)) for r in rows]

    async def count(self, recipient: str, not_before_ms: int) -> int:
        return await self.db.fetchval(
            "SELECT COUNT(*) FROM mailbox WHERE recipient=$1 AND stored_at >= $2",
            recipient, not_before_ms,
        )

    async def ack(self, recipient: str, ack_class: str, stanza_id: str, peer: str | None) -> int:
        """Remove what the recipient acknowledged; ``peer=None`` matches any peer. Returns count."""
        if peer is None:
            rows = await self.db.fetch(
                """DELETE FROM mailbox WHERE recipient=$1 AND ack_class=$2 AND stanza_id=$3
                   RETURNING seq""",
                recipient, ack_class, stanza_id,
            )
        else:
            rows = await self.db.fetch(
                """DELETE FROM mailbox WHERE recipient=$1 AND ack_class=$2 AND stanza_id=$3
                   AND peer=$4 RETURNING seq""",
                recipient, ack_class, stanza_id, peer,
            )
        return len(rows)

    async def expire(self, cutoff_ms: int) -> int:
        rows = await self.db.fetch("DELETE FROM mailbox WHERE stored_at < $1 RETURNING seq",
                                   cutoff_ms)
        return len(rows)

    async def drop_recipient(self, recipient: str) -> None:
        await self.db.execute("DELETE FROM mailbox WHERE recipient=$1", recipient)


class SendLedger:
    """Client sends already accepted, for dedupe by (sender, message id)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def first_time(self, sender: str, message_id: str, now_ms: int) -> bool:
        """Record the send; False if this (sender, message id) was already accepted."""
        rows = await self.db.fetch(
            """INSERT INTO client_send (sender, message_id, received_at) VALUES ($1, $2, $3)
               ON CONFLICT (sender, message_id) DO NOTHING RETURNING sender""",
            sender, message_id, now_ms,
        )
        return bool(rows)

    async def forget_before(self, cutoff_ms: int) -> None:
        await self.db.execute("DELETE FROM client_send WHERE received_at < $1", cutoff_ms)
