"""Gateway → Matrix: a contact's decrypted message becomes events in the user's portal.

Handed every stored plaintext from the user's partner events (also again after a restart for
anything not yet marked delivered), so it must be idempotent: a stanza already in the message map
is not bridged twice.
"""

from __future__ import annotations

import hashlib
import logging

from mautrix.types import EventType

from ..content import ChatId, ContentError, decode_payload, preview
from ..formatting import MatrixMention, RemoteToMatrixResolver
from ..gateway.ids import Address, StanzaId
from ..mapping import GatewayToMatrix, Notice, PortalInfo, Redact, SendEvent, unreadable_notice
from ..matrix.portals import BRIDGED_FROM, SendAs
from ..metrics import BridgeMetrics
from ..partner.accounts import PartnerAccounts
from ..partner.events import InboundMessage
from .media import HostedMedia
from .message_ids import MessageIds
from .ports import (
    ChatRoom,
    GhostDirectory,
    MatrixMediaRepository,
    PortalDirectory,
    UserClient,
    UserNotifier,
)
from .requests import MessageRequests, RequestState

log = logging.getLogger("bridge.chats.to_matrix")


def portal_info(portal: ChatRoom, client: UserClient) -> PortalInfo:
    return PortalInfo(room_id=portal.room_id, chat_id=ChatId(portal.contact_id),
                      user_id=portal.user_id, user_internal_id=client.internal_id,
                      encrypted=portal.record.encrypted)


def matrix_txn_id(sender: Address, stanza_id: StanzaId, index: int) -> str:
    """The Matrix transaction id of the ``index``-th event bridged from one stanza: the same on
    every attempt. The homeserver scopes transaction ids to the appservice and the room."""
    digest = hashlib.sha256(f"{sender}\n{stanza_id}\n{index}".encode()).hexdigest()
    return f"interop.in.{digest[:32]}"


def request_notice(username: str, plaintext: bytes) -> str:
    try:
        first = preview(decode_payload(plaintext).content)
    except ContentError:
        first = "a message the bridge could not read"
    return (f"**{username}** wants to chat with you (message request). Their first message: "
            f"“{first}”\n\nSend `accept {username}` to open the chat, or `block {username}` "
            "to block them. Nothing else from them is shown until you decide.")


class ToMatrixFlow:
    def __init__(self, *, portals: PortalDirectory, puppets: GhostDirectory,
                 message_ids: MessageIds, matrix_media: MatrixMediaRepository,
                 hosted_media: HostedMedia, requests: MessageRequests | None,
                 notices: UserNotifier, metrics: BridgeMetrics) -> None:
        self.portals = portals
        self.puppets = puppets
        self.message_ids = message_ids
        self.matrix_media = matrix_media
        self.hosted_media = hosted_media
        # With message requests on: the store of requests, and how to tell the user about one.
        self.requests = requests
        self.notices = notices
        self.metrics = metrics

    async def deliver(self, client: UserClient, message: InboundMessage) -> bool:
        """Bridge one message; False when it is held as (part of) a message request."""
        sender = message.sender
        if self.requests is not None and await self.portals.get(client.user_id, sender) is None:
            verdict = await self._request_verdict(client, message)
            if verdict is not None:
                return verdict
        username = message.username
        if username is None:
            # Handed on from storage (after a restart, or released from a hold): the gateway's
            # name for the sender is not stored with the message, so keep the one we know.
            known = await self.portals.get(client.user_id, sender)
            username = known.ghost.username if known is not None else sender
        portal = await self.portals.get_or_create(client.user_id, sender, username)
        stanza_id = StanzaId(message.stanza_id)
        if await self.message_ids.message_by_stanza(portal.room_id, sender, stanza_id):
            return True  # bridged before a restart; only the delivered mark was missing
        info = portal_info(portal, client)
        try:
            payload = decode_payload(message.plaintext)
        except ContentError:
            actions = [unreadable_notice()]
            kind = "unreadable"
        else:
            await self.matrix_media.refresh_upload_limit()
            mapper = GatewayToMatrix(
                matrix_media=self.matrix_media,
                gateway_media=self.hosted_media.for_user(client.user_id),
                message_ids=self.message_ids,
                resolve_mention=await self._mention_resolver(client, payload.content),
            )
            actions = await mapper.map_content(payload.content, sender, stanza_id, info)
            kind = type(payload.content).__name__.lower()
        # A crash after the homeserver took an event and before it was recorded hands the
        # message on again. The same transaction id then gets the same event back while the
        # homeserver remembers it (Synapse: in memory, 30 to 60 minutes); beyond that, the
        # events already in the room say which parts were sent.
        already_sent = (await portal.bridged_parts(sender, stanza_id)
                        if message.may_be_bridged else {})
        recorded = False
        for index, action in enumerate(actions):
            txn_id = matrix_txn_id(sender, stanza_id, index)
            if isinstance(action, SendEvent):
                content = {**action.content, BRIDGED_FROM: {"sender": sender,
                                                            "stanza_id": stanza_id,
                                                            "part": index}}
                event_id = already_sent.get(index) or await portal.send(
                    content, event_type=action.event_type, txn_id=txn_id)
                recorded = await self._record(portal, action, event_id, sender, stanza_id,
                                              message.timestamp, recorded)
            elif isinstance(action, Redact):
                # Redacting twice after a crash changes nothing anyone sees.
                await portal.ghost.intent.redact(portal.room_id, action.event_id,
                                                 reason=action.reason)
                await self.message_ids.forget_reaction(action.event_id)
            elif isinstance(action, Notice):
                await portal.send_notice(action.text, sender=SendAs.GHOST, txn_id=txn_id)
        # Stored and shown: the contact's app may now show the message as delivered.
        await client.send_receipt(stanza_id, message.sender, read=False)
        self.metrics.count_message("to_matrix", kind, "bridged")
        return True

    async def _request_verdict(self, client: UserClient, message: InboundMessage
                               ) -> bool | None:
        """None: bridge it. False: hold it (request pending). True: drop it (request blocked)."""
        request = await self.requests.get(client.user_id, message.sender)
        if request is not None:
            return {RequestState.ACCEPTED: None, RequestState.PENDING: False,
                    RequestState.BLOCKED: True}[request.state]
        username = message.username or message.sender
        if await self.requests.open(client.user_id, message.sender, username):
            await self.notices.notify(client.user_id, request_notice(username, message.plaintext))
        return False

    async def _record(self, portal: ChatRoom, action: SendEvent, event_id, sender: Address,
                      stanza_id: StanzaId, timestamp: int | None, recorded: bool) -> bool:
        if action.event_type == EventType.REACTION:
            relates = action.content.get("m.relates_to", {})
            target = await self.message_ids.message_by_event(relates.get("event_id"))
            if target is not None:
                await self.message_ids.record_reaction(
                    room_id=portal.room_id, target=target, sender=sender, event_id=event_id,
                    key=relates.get("key", ""))
            return recorded
        if recorded:
            return True
        await portal.record_message(event_id=event_id, stanza_id=stanza_id, sender=sender,
                                    from_matrix=False, timestamp=timestamp)
        return True

    async def _mention_resolver(self, client: UserClient, content) -> RemoteToMatrixResolver:
        """The mapping's resolver is synchronous (the markup parser calls it mid-parse), so the
        mentioned ids are looked up here first and the resolver only reads the answers."""
        known: dict[Address, MatrixMention | None] = {}
        for address in _mentioned_ids(content):
            known[address] = await self._mention(client, address)
        return lambda address: known.get(address)

    async def _mention(self, client: UserClient, address: Address
                       ) -> MatrixMention | None:
        if address == client.internal_id:
            # The contact wrote "@" + the id they know the Matrix user by: the user-visible id.
            account = await PartnerAccounts(self.message_ids.db).get(client.user_id)
            username = (account.user_visible_id if account else None) or client.user_id
            return MatrixMention(user_id=client.user_id, displayname=client.user_id,
                                 username=username)
        puppet = await self.puppets.get(address)
        if puppet is None:
            return None
        return MatrixMention(user_id=puppet.mxid, displayname=puppet.displayname or
                             puppet.username, username=puppet.username)


def _mentioned_ids(content) -> tuple[Address, ...]:
    """Everyone a text or caption mentions, also inside an edit's new content."""
    mentions = tuple(getattr(content, "mentions", ()))
    new_content = getattr(content, "new_content", None)
    if new_content is not None:
        mentions += tuple(getattr(new_content, "mentions", ()))
    return tuple(dict.fromkeys(mentions))
