"""The consumer of every user's partner-event queue: one typed handler per event kind.

Events arrive here in the order the user's partner client published them
(:mod:`bridge.partner.event_queue`); what the chat flows then need from the client (the stored
message, marking it delivered, sending a receipt) are calls back down to it.
"""

from __future__ import annotations

import logging

from ..matrix.connection_notices import ConnectionNotices
from ..matrix.portals import Portals
from ..metrics import BridgeMetrics
from ..partner.client import PartnerClient
from ..partner.events import (
    AccountChange,
    AccountChanged,
    ClientEvent,
    ConnectionChanged,
    ContactNotified,
    IdentityChanged,
    MessageStored,
    ReceiptReceived,
    SendAcknowledged,
    TypingChanged,
)
from .contact_signals import ContactSignalsFlow
from .reporting import ReportEvidence
from .to_gateway import ToGatewayFlow
from .to_matrix import ToMatrixFlow

log = logging.getLogger("bridge.chats.remote_events")

#: What a portal says when its owner can no longer reach the contact through it.
READ_ONLY_REASONS = {
    AccountChange.OPTED_OUT: "You turned off third-party chats: this chat is read-only. Send "
                             "`opt-in` to the bridge bot to turn them on again.",
    AccountChange.UNENLISTED: "The gatekeeper removed your third-party chats account: this "
                              "chat is read-only. Send `opt-in` to the bridge bot to join "
                              "again.",
}


class PartnerEvents:
    def __init__(self, *, to_matrix: ToMatrixFlow, to_gateway: ToGatewayFlow,
                 signals: ContactSignalsFlow, evidence: ReportEvidence, portals: Portals,
                 connection_notices: ConnectionNotices, metrics: BridgeMetrics) -> None:
        self.to_matrix = to_matrix
        self.to_gateway = to_gateway
        self.signals = signals
        self.evidence = evidence
        self.portals = portals
        self.connection_notices = connection_notices
        self.metrics = metrics

    async def client_event(self, client: PartnerClient, event: ClientEvent) -> None:
        if isinstance(event, MessageStored):
            await self._message_stored(client, event)
        elif isinstance(event, SendAcknowledged):
            await self.to_gateway.report(client, event)
        elif isinstance(event, ReceiptReceived):
            await self.signals.receipt(client, event.receipt)
        elif isinstance(event, TypingChanged):
            await self.signals.chatstate(client, event.chatstate)
        elif isinstance(event, ContactNotified):
            await self.signals.notification(client, event.notification)
        elif isinstance(event, IdentityChanged):
            await self.signals.identity_changed(client, event)
        # opting out (leaving): the end of the connection is expected
        elif isinstance(event, ConnectionChanged) and not client.leaving:
            self.connection_notices.connection_changed(client.user_id, event.state, event.error,
                                                       at=event.at)

    async def _message_stored(self, client: PartnerClient, stored: MessageStored) -> None:
        message = await client.stored_message(stored)
        if message is None:
            return  # handed on already, or held until the user confirms a new identity
        with self.metrics.handling("gateway"):
            try:
                # Kept first, so that a held message request can be reported too.
                await self.evidence.record(client.user_id, message)
                done = await self.to_matrix.deliver(client, message)
            except Exception:
                client.log.exception("Delivering %s failed; it stays stored for the next start",
                                     message.stanza_id)
                return
        if done:
            await client.mark_delivered(message.stanza_id)
        # else held (a message request): stays stored until the user decides

    async def account_event(self, event: AccountChanged) -> None:
        user = event.user
        if event.change is AccountChange.CONNECTION_STOPPED:
            self.connection_notices.stopped(user, event.explanation, event.error,
                                            removed=event.removed)
            return
        if event.change is AccountChange.OPTED_IN:
            self.connection_notices.opted_in(user)
        elif event.change is AccountChange.OPTED_OUT:
            self.connection_notices.opted_out(user)
        reason = READ_ONLY_REASONS.get(event.change)
        if reason is not None:
            await self.portals.set_read_only_for_user(user, reason)
