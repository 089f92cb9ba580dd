"""One opted-in user's partner client: Signal party, durable message tables, gateway connection.

Incoming: a ``message`` stanza is decrypted and its plaintext sealed and stored in one transaction
(:class:`bridge.signal.durable.Inbox`); only then does the connection acknowledge it. The client
then posts :class:`~.events.MessageStored` on the user's event queue; its consumer reads the
stored row, hands it on to Matrix and marks it delivered.

Outgoing: the plaintext is stored, then encrypted with the session update and the ciphertext in
one transaction, then sent; after a reconnect every stored-but-unacknowledged ciphertext is sent
again with the same stanza id (the gateway de-duplicates).

Everything else the gateway delivers becomes a typed event on the same queue; the parts of the
client each do one job: :mod:`.sessions`, :mod:`.identities`, :mod:`.retries`, :mod:`.prekeys`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from mautrix.types import UserID
from mautrix.util import background_task

from ..gateway import received, stanzas
from ..gateway.client_api import GatewayRequests
from ..gateway.codec import Node
from ..gateway.connection import ConnectionState, GatewayConnection, Handlers
from ..gateway.errors import ErrorInfo
from ..gateway.ids import Address, InternalId, StanzaId
from ..gateway.stanzas import ServerAck
from ..signal.durable import InboundState, Inbox, Outbox
from ..signal.errors import IdentityChange, UntrustedIdentityError
from ..signal.party import SignalParty
from ..storage import Database, acquire, transaction
from .event_queue import UserEventQueues
from .events import (
    ClientEvent,
    ConnectionChanged,
    ContactNotified,
    InboundMessage,
    MessageStored,
    ReceiptReceived,
    SendAcknowledged,
    TypingChanged,
)
from .identities import ContactIdentities
from .identity_holds import IdentityHolds
from .prekeys import PrekeyPublisher
from .retries import RetryReceipts
from .sessions import BundleUnavailable, ContactSessions

__all__ = ["BundleUnavailable", "InboundMessage", "Observer", "PartnerClient"]

log = logging.getLogger("bridge.partner")

#: Told of things worth counting (decrypt failures, retries, resends), with how many.
Observer = Callable[[str, int], None]


class _OutboxView:
    """What the connection resends after a reconnect: committed ciphertexts not yet acked."""

    def __init__(self, outbox: Outbox, observe: Callable[[str, int], None]) -> None:
        self.outbox, self.observe = outbox, observe

    async def unacknowledged(self) -> Sequence[Node]:
        resend = [stanzas.message(StanzaId(m.local_id), m.recipient, m.message_type,
                                  m.ciphertext)
                  for m in await self.outbox.committed()]
        if resend:
            self.observe("outbox_resent", len(resend))
        return resend


class PartnerClient:
    def __init__(self, *, user_id: UserID, internal_id: InternalId, db: Database,
                 party: SignalParty, inbox: Inbox, outbox: Outbox, holds: IdentityHolds,
                 make_connection: Callable[[Handlers, _OutboxView], GatewayConnection],
                 events: UserEventQueues,
                 on_connection_stopped: Callable[[PartnerClient, ErrorInfo], Awaitable[None]],
                 observe: Observer) -> None:
        self.user_id = user_id
        self.db = db
        self.internal_id = internal_id
        self.party = party
        self.inbox = inbox
        self.outbox = outbox
        # Only a party that refuses changed identities (policy ``block``) ever holds a contact.
        self.holds = holds
        self._events = events
        self._on_connection_stopped = on_connection_stopped
        self._observe = observe
        self.log = log.getChild(internal_id)
        self.connection = make_connection(
            Handlers(on_message=self._on_message, on_server_ack=self._on_server_ack,
                     on_receipt=self._on_receipt, on_notification=self._on_notification,
                     on_info=self._on_info, on_stopped=self._on_stopped,
                     on_state=self._on_state),
            _OutboxView(outbox, observe),
        )
        self.requests = GatewayRequests(self.connection)
        self.sessions = ContactSessions(db, party, self.requests)
        self.prekeys = PrekeyPublisher(db, party, self.requests)
        self.identities = ContactIdentities(
            db=db, party=party, holds=holds, sessions=self.sessions, requests=self.requests,
            publish=self._publish, log=self.log)
        self.retries = RetryReceipts(
            db=db, party=party, outbox=outbox, holds=holds, sessions=self.sessions,
            identities=self.identities, connection=self.connection,
            observe=lambda what: observe(what, 1), log=self.log)
        self.stop_error: ErrorInfo | None = None
        #: Set while opting out: the gateway's "deleted" is then the expected end.
        self.leaving = False
        self._queued_sender: asyncio.Task[None] | None = None

    async def _publish(self, event: ClientEvent) -> None:
        await self._events.publish(self, event)

    # --- lifecycle ---------------------------------------------------------------------------

    def wake(self) -> None:
        self.connection.wake()

    async def close(self) -> None:
        if self._queued_sender is not None:
            # Cancelled, not awaited: it may be waiting for the gateway, and what it did not
            # finish stays queued for the next start.
            self._queued_sender.cancel()
            await asyncio.gather(self._queued_sender, return_exceptions=True)
        await self.connection.close()
        # The hand-on in progress finishes; the rest stays stored for the next start.
        await self._events.close(self.user_id)

    async def resume(self) -> None:
        """Hand on what an earlier run stored but did not, and send what it stored but did not
        encrypt (committed ciphertexts are resent by the connection itself)."""
        for stanza_id in await self.inbox.undelivered():
            self._events.post(self, MessageStored(StanzaId(stanza_id), None, None, None,
                                                  may_be_bridged=True))
        queued = await self.outbox.queued()
        if queued:
            # In the background: encrypting may need a bundle from the gateway.
            self._queued_sender = background_task.create(self._send_queued(queued))

    async def _send_queued(self, queued: Sequence[tuple[str, Address]]) -> None:
        for local_id, recipient in queued:
            try:
                await self._encrypt_and_send(local_id, recipient)
            except Exception:
                self.log.exception("Could not send stored message %s yet; it stays queued",
                                   local_id)

    # --- incoming ----------------------------------------------------------------------------

    async def _on_message(self, node: Node) -> None:
        message = received.parse_message(node)
        if isinstance(message, received.MalformedMessage):
            self.log.warning("Message %s from %s has no encrypted payload", message.stanza_id,
                             message.sender)
            return
        async with self.sessions.lock:
            result = await self.inbox.receive(message.stanza_id, message.sender,
                                              message.enc_type, message.ciphertext)
        if result.identity_change is not None and not result.redelivered:
            # Refused (policy block: kept undecrypted until confirmed) or accepted with a notice.
            await self.identities.changed(message.sender, result.identity_change,
                                          held=result.state is InboundState.FAILED)
        elif result.state == InboundState.FAILED and not result.redelivered:
            await self.retries.ask(message)
        # Stored (or recorded as undecryptable): returning lets the connection acknowledge it.
        # A redelivered message still in DECRYPTED state was stored by a connection that ended
        # before handing it on: hand it on now, or it would wait for the next start.
        if result.plaintext is not None and result.state is InboundState.DECRYPTED:
            self._events.post(self, MessageStored(
                message.stanza_id, message.sender, message.timestamp, message.username,
                may_be_bridged=result.redelivered))

    async def stored_message(self, stored: MessageStored) -> InboundMessage | None:
        """The message to hand on, or None when that is done already or must wait: the stored
        state decides (the same id may be posted twice, e.g. by a redelivery and a resume),
        and a contact whose new identity awaits confirmation is handed on after `trust`."""
        row = await self.inbox.get(stored.stanza_id)
        if row is None or row.state is not InboundState.DECRYPTED or row.plaintext is None:
            return None
        sender = stored.sender or await self.inbox.sender_of(stored.stanza_id)
        if sender is None or await self.holds.is_held(sender):
            return None
        return InboundMessage(stored.stanza_id, sender, row.plaintext, stored.timestamp,
                               stored.username, may_be_bridged=stored.may_be_bridged)

    async def mark_delivered(self, stanza_id: str) -> None:
        await self.inbox.mark_delivered(stanza_id)

    async def drop_undelivered_from(self, sender: Address) -> int:
        """Forget what is held from ``sender`` (a refused message request)."""
        dropped = 0
        for stanza_id in await self.inbox.undelivered():
            if await self.inbox.sender_of(stanza_id) == sender:
                await self.inbox.mark_delivered(stanza_id)
                dropped += 1
        return dropped

    # --- outgoing ----------------------------------------------------------------------------

    async def send(self, local_id: str, recipient: Address, plaintext: bytes) -> bool:
        """Store, encrypt (fetching the recipient's bundle if there is no session), send.

        False when the message is stored but held: the recipient's changed identity key waits
        for the user's confirmation (it is sent by :meth:`confirm_identity`)."""
        await self.outbox.submit(local_id, recipient, plaintext)
        return await self._encrypt_and_send(local_id, recipient)

    async def _encrypt_and_send(self, local_id: str, recipient: Address) -> bool:
        change: IdentityChange | None = None
        async with self.sessions.lock:
            if await self.holds.is_held(recipient):
                return False
            try:
                change = await self.sessions.ensure(recipient)
            except UntrustedIdentityError as e:
                refused = e.change
            else:
                refused = None
                message = await self.outbox.ciphertext(local_id)
        if refused is not None:
            await self.identities.changed(recipient, refused, held=True)
            return False
        if change is not None:
            await self.identities.changed(recipient, change, held=False)
        await self.connection.send(stanzas.message(StanzaId(local_id), recipient,
                                                   message.message_type, message.ciphertext))
        return True

    async def confirm_identity(self, peer: Address) -> bool:
        """The user confirmed ``peer``'s new key: trust exactly the key they were shown, then
        hand on what was held from the contact and send what was held for them, each in the
        order it came. False when nothing waited for confirmation."""
        changed_again: IdentityChange | None = None
        async with self.sessions.lock:
            new_key = await self.holds.held_key(peer)
            if new_key is None:
                return False
            async with acquire(self.db) as conn, transaction(conn):
                await self.party.accept_identity(conn, peer, new_key)
                await self.holds.release(conn, peer)
            for stanza_id in await self.inbox.failed_from(peer,
                                                          UntrustedIdentityError.__name__):
                result = await self.inbox.retry_failed(stanza_id)
                if result.identity_change is not None:
                    changed_again = result.identity_change
                    break
                if result.state is InboundState.FAILED:
                    self.log.warning("Held message %s from %s still does not decrypt (%s)",
                                     stanza_id, peer, result.error)
        self.log.info("Identity of %s confirmed; releasing what was held", peer)
        if changed_again is not None:
            # A newer key than the one confirmed: hold again, with a new notice.
            await self.identities.changed(peer, changed_again, held=True)
        for stanza_id in await self.inbox.undelivered():
            # Held until now, so not handed on by this run (a resume covers earlier runs).
            self._events.post(self, MessageStored(StanzaId(stanza_id), None, None, None,
                                                  may_be_bridged=False))
        for local_id, recipient in await self.outbox.queued():
            if recipient != peer:
                continue
            try:
                if not await self._encrypt_and_send(local_id, peer):
                    break  # held again
            except Exception:
                self.log.exception("Could not send held message %s yet; it stays queued",
                                   local_id)
        return True

    async def _on_server_ack(self, ack: ServerAck) -> None:
        if ack.stanza_class != "message":
            return  # only messages go through the outbox; our receipts need nothing
        # 429/503 never get here (the connection resends those); any other error is final.
        if ack.error is None:
            await self.outbox.mark_sent(ack.stanza_id)
        else:
            await self.outbox.mark_refused(ack.stanza_id)
        await self._publish(SendAcknowledged(ack.stanza_id, ack.error))

    # --- what contacts do besides messages ---------------------------------------------------

    async def send_receipt(self, stanza_id: str, to: Address, *, read: bool) -> None:
        await self.connection.send(stanzas.receipt(StanzaId(stanza_id), to,
                                                   "read" if read else "delivery"))

    async def _on_receipt(self, node: Node) -> None:
        receipt = received.parse_receipt(node)
        if isinstance(receipt, received.RetryReceipt):
            await self.retries.answer(receipt)
        else:
            await self._publish(ReceiptReceived(receipt))

    async def _on_notification(self, node: Node) -> None:
        notification = received.parse_notification(node)
        if isinstance(notification, received.PrekeysLow):
            await self.prekeys.refill()
            return
        if (isinstance(notification, received.IdentityChangeNotice)
                and await self.identities.check_notification(notification.sender)):
            return  # the notice (or the hold) came from the new key itself
        await self._publish(ContactNotified(notification))

    async def _on_info(self, node: Node) -> None:
        chatstate = received.parse_info(node)
        if chatstate is not None:
            await self._publish(TypingChanged(chatstate))

    def _on_state(self, state: ConnectionState, error: ErrorInfo | None) -> None:
        self._events.post(self, ConnectionChanged(state, error,
                                                  at=asyncio.get_running_loop().time()))

    async def _on_stopped(self, error: ErrorInfo) -> None:
        self.stop_error = error
        self.log.warning("Gateway connection stopped: %s %s", error.code, error.text)
        await self._on_connection_stopped(self, error)
