"""Retry receipts (docs/gateway-protocol.md §7.3), both ways: asking a contact to encrypt a
message again when we could not decrypt it, and re-encrypting ours when they could not."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import cast

from ..gateway import stanzas
from ..gateway.connection import GatewayConnection
from ..gateway.received import DeliveredMessage, RetryReceipt
from ..signal.durable import Outbox
from ..signal.errors import UntrustedIdentityError
from ..signal.party import SignalParty
from ..storage import Database, acquire
from .identities import ContactIdentities
from .identity_holds import IdentityHolds
from .sessions import ContactSessions


class RetryReceipts:
    def __init__(self, *, db: Database, party: SignalParty, outbox: Outbox,
                 holds: IdentityHolds, sessions: ContactSessions,
                 identities: ContactIdentities, connection: GatewayConnection,
                 observe: Callable[[str], None], log: logging.Logger) -> None:
        self.db, self.party, self.outbox, self.holds = db, party, outbox, holds
        self.sessions, self.identities, self.connection = sessions, identities, connection
        self.observe = observe
        self.log = log

    async def ask(self, message: DeliveredMessage) -> None:
        """We could not decrypt ``message``: ask the sender to encrypt it again."""
        self.log.info("Asking %s to resend %s", message.sender, message.stanza_id)
        self.observe("signal_decrypt_failed")
        self.observe("retry_receipt_sent")
        async with acquire(self.db) as conn:
            bundle = await self.party.bundle(conn)
        await self.connection.send(stanzas.retry_receipt(
            message.stanza_id, message.sender, 1, message.timestamp or 0,
            bundle.registration_id, int(time.time())))

    async def answer(self, retry: RetryReceipt) -> None:
        """The contact could not decrypt one of ours: re-encrypt it (from count 2 on, over a
        fresh session) and send it again under the same id."""
        sender, local_id = retry.sender, retry.stanza_id
        try:
            async with self.sessions.lock:
                if await self.holds.is_held(sender):
                    self.log.info("Not resending %s: %s's new identity is not confirmed",
                                  local_id, sender)
                    return
                change = await self.sessions.renew(sender) if retry.count >= 2 else None
                message = await self.outbox.reencrypt(local_id)
        except KeyError:
            self.log.info("Retry receipt from %s for unknown message %s", sender, local_id)
            return
        except UntrustedIdentityError as e:
            # They reinstalled without the gateway telling us: hold them like any other change.
            await self.identities.changed(sender, e.change, held=True)
            return
        if change is not None:
            await self.identities.changed(sender, change, held=False)
        if message.recipient != sender:
            return
        self.log.info("Resending %s to %s (retry %d)", local_id, sender, retry.count)
        self.observe("resent_for_retry_receipt")
        # the outbox stores the type the session produced: always one of the stanza's types
        enc_type = cast(stanzas.EncType, message.message_type)
        await self.connection.send(stanzas.message(local_id, sender, enc_type,
                                                   message.ciphertext, retry_count=retry.count))
