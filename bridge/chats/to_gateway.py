"""Matrix → gateway: the portal owner's events become content for their contact.

Every event ends with a visible status: the message-send-status event (success, or failure with a
reason a person understands) and, for failures, a notice. The stanza id is derived from the Matrix
event id, so handling the same event again after a crash sends the same stanza (the gateway
de-duplicates) instead of a second message.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Mapping

from mautrix.types import EventID, ReactionEvent, RedactionEvent

from ..content import Reaction, encode_content
from ..formatting import RemoteMention
from ..gateway.errors import ErrorCode, ErrorInfo
from ..gateway.ids import StanzaId
from ..mapping import MatrixToGateway, TooLargeToSend, Unmappable
from ..matrix.permissions import Level, permission_level
from ..matrix.portals import DuplicateMessage
from ..matrix.send_status import SendFailure
from ..metrics import BridgeMetrics
from ..partner.client import BundleUnavailable
from ..partner.events import SendAcknowledged
from .contact_signals import held_message_notice
from .media import HostedMedia
from .message_ids import MessageIds
from .ports import ChatRoom, MatrixMediaRepository, PortalDirectory, UserClient, UserClients
from .to_matrix import portal_info

log = logging.getLogger("bridge.chats.to_gateway")

_GATEWAY_FAILURES = {
    ErrorCode.NOT_OPTED_IN: SendFailure.NOT_OPTED_IN,
    ErrorCode.BLOCKED: SendFailure.BLOCKED,
    ErrorCode.TOO_LARGE: SendFailure.TOO_LARGE,
    ErrorCode.UNKNOWN_USER: SendFailure.NOT_OPTED_IN,
}


def stanza_id_for(event_id: EventID) -> StanzaId:
    return StanzaId("M" + hashlib.sha256(event_id.encode()).hexdigest()[:24].upper())


class ToGatewayFlow:
    def __init__(self, *, partners: UserClients, message_ids: MessageIds,
                 matrix_media: MatrixMediaRepository, hosted_media: HostedMedia,
                 portals: PortalDirectory, permissions: Mapping[str, str],
                 metrics: BridgeMetrics, command_prefix: str = "!interop") -> None:
        self.partners = partners
        self.permissions = permissions
        self.message_ids = message_ids
        self.matrix_media = matrix_media
        self.hosted_media = hosted_media
        self.portals = portals
        self.metrics = metrics
        self.command_prefix = command_prefix
        self._pending_side_events: dict[tuple[str, str], tuple[ChatRoom, EventID]] = {}

    async def undecryptable(self, portal: ChatRoom, event) -> None:
        """The owner's message that the bridge could not decrypt: nothing is sent, and the
        owner sees why (never a silent drop)."""
        if event.sender == portal.user_id:
            await portal.status.failure(event.event_id, SendFailure.UNDECRYPTABLE)
            await self._count("undecryptable", event)

    async def handle(self, portal: ChatRoom, event) -> None:
        if event.sender != portal.user_id:
            return  # only the portal's owner speaks for this chat
        if permission_level(self.permissions, portal.user_id) < Level.USER:
            # Opted in earlier; the admins have since taken the permission away.
            await portal.status.failure(event.event_id, SendFailure.SENDER_NOT_ALLOWED)
            return
        client = self.partners.client(portal.user_id)
        if client is None:
            account = await self.partners.accounts.get(portal.user_id)
            failure = (SendFailure.GATEWAY_UNREACHABLE if account is not None
                       and account.is_active else SendFailure.SENDER_OPTED_OUT)
            await portal.status.failure(event.event_id, failure)
            return
        if portal.blocked:
            await portal.status.failure(event.event_id, SendFailure.BLOCKED)
            return
        stanza_id = stanza_id_for(event.event_id)
        mapper = MatrixToGateway(
            matrix_media=self.matrix_media,
            # Blobs hosted for this message are tied to its stanza id, to withdraw on failure.
            gateway_media=self.hosted_media.for_user(portal.user_id, stanza_id),
            message_ids=self.message_ids,
            resolve_mention=self._mention_resolver(portal, client),
        )
        info = portal_info(portal, client)
        try:
            mapped = await mapper.map_event(event, info)
        except Unmappable as e:
            # Something may have been hosted before the mapping gave up (a thumbnail, say).
            await self._withdraw_media(client, stanza_id)
            failure = (SendFailure.TOO_LARGE if isinstance(e, TooLargeToSend)
                       else SendFailure.UNSUPPORTED)
            await portal.status.failure(event.event_id, failure, detail=str(e))
            await self._count("unmappable", event)
            return
        if mapped is None:
            return
        await self._remember(portal, event, mapped.content, stanza_id, client)
        # Pending before sending: the gateway's ack may come back before the next line runs,
        # and the room must end with the final status, not this one.
        await portal.status.pending(event.event_id)
        try:
            sent = await client.send(stanza_id, portal.contact_id,
                                     encode_content(mapped.content))
        except BundleUnavailable as e:
            reason = _GATEWAY_FAILURES.get(getattr(e.error, "code", None),
                                          SendFailure.GATEWAY_UNREACHABLE)
            if not reason.retrying:
                # Final (not opted in, unknown): out of the outbox, and its media withdrawn.
                await client.outbox.mark_refused(stanza_id)
                await self._withdraw_media(client, stanza_id)
            await portal.status.failure(event.event_id, reason)
            return
        if not sent:
            # Stored, and sent once the user confirms the contact's new key (`trust`).
            await portal.status.waiting(
                event.event_id, held_message_notice(portal.ghost.username, self.command_prefix))
            await self._count("held", event)
            return
        for warning in mapped.warnings:
            await portal.send_notice(warning, reply_to=event.event_id)

    async def _remember(self, portal: ChatRoom, event, content, stanza_id: StanzaId,
                        client: UserClient) -> None:
        if isinstance(event, (ReactionEvent, RedactionEvent)) or isinstance(content, Reaction):
            if isinstance(event, ReactionEvent):
                target = await self.message_ids.message_by_event(
                    event.content.relates_to.event_id)
                if target is not None:
                    await self.message_ids.record_reaction(
                        room_id=portal.room_id, target=target, sender=client.internal_id,
                        event_id=event.event_id, key=event.content.relates_to.key)
            # Reactions and redactions are acknowledged through their own stanza id only.
            await self._track(portal, event.event_id, stanza_id, client)
            return
        # handled again after a crash: same stanza id, the gateway de-duplicates
        with contextlib.suppress(DuplicateMessage):
            await portal.record_message(event_id=event.event_id, stanza_id=stanza_id,
                                        sender=client.internal_id, from_matrix=True)

    async def _track(self, portal: ChatRoom, event_id: EventID, stanza_id: StanzaId,
                     client: UserClient) -> None:
        # Reactions and redactions have no row in the message map; their status needs the
        # event until the gateway's ack arrives (lost on restart: the status is then not shown).
        self._pending_side_events[(client.internal_id, stanza_id)] = (portal, event_id)

    async def report(self, client: UserClient, result: SendAcknowledged) -> None:
        """The gateway acknowledged (or refused) one of our stanzas: show it in the room."""
        found = await self.message_ids.own_message(client.internal_id,
                                                   result.stanza_id)
        if found is not None:
            portal = await self.portals.by_room(found.room_id)
            event_id = found.event_id
        else:
            portal, event_id = self._pending_side_events.pop(
                (client.internal_id, result.stanza_id), (None, None))
        if result.error is not None:
            # The gateway's errors in acks are final (transient ones are resent, never reported):
            # what was hosted for the message must not stay fetchable.
            await self._withdraw_media(client, result.stanza_id)
        if portal is None:
            return
        if result.error is None:
            await portal.status.success(event_id)
            await self._count("sent", None)
        else:
            failure = _GATEWAY_FAILURES.get(result.error.code, SendFailure.GATEWAY_UNREACHABLE)
            await portal.status.failure(event_id, failure, detail=_describe(result.error))
            await self._count("refused", None)

    async def _withdraw_media(self, client: UserClient, stanza_id: str) -> None:
        withdrawn = await self.hosted_media.withdraw(client.user_id, stanza_id)
        if withdrawn:
            log.info("Withdrew %d hosted blob(s) of failed message %s", withdrawn, stanza_id)

    async def _count(self, result: str, event: object | None) -> None:
        kind = type(event).__name__ if event is not None else "message"
        self.metrics.count_message("to_gateway", kind, result)

    def _mention_resolver(self, portal: ChatRoom, client: UserClient):
        async def resolve(mxid):
            if mxid == portal.user_id:
                account = await self.partners.accounts.get(mxid)
                return RemoteMention(internal_id=client.internal_id,
                                     username=account.user_visible_id if account else mxid)
            puppet = await self.portals.puppets.by_mxid(mxid)
            if puppet is None:
                return None
            return RemoteMention(address=puppet.contact_id, username=puppet.username)

        return resolve


def _describe(error: ErrorInfo) -> str:
    return error.text or str(error.code)

