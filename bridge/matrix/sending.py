"""Sending events into rooms as the bot or a ghost, encrypted where the room is.

The router (notices in management rooms) and portals (messages from contacts, notices, statuses)
both send through :class:`MatrixSender`, so there is one place that decides whether an event is
Megolm-encrypted before it leaves.
"""

from __future__ import annotations

from mautrix.appservice import AppService
from mautrix.types import (
    EventID,
    EventType,
    Format,
    InReplyTo,
    MessageType,
    RelatesTo,
    RoomID,
    TextMessageEventContent,
    UserID,
)
from mautrix.util import markdown

from .e2ee import MatrixEncryption


def notice_content(text: str, *, reply_to: EventID | None = None) -> TextMessageEventContent:
    """An ``m.notice`` from Markdown text, optionally a reply to ``reply_to``."""
    content = TextMessageEventContent(msgtype=MessageType.NOTICE, body=text, format=Format.HTML,
                                      formatted_body=markdown.render(text))
    if reply_to:
        content.relates_to = RelatesTo(in_reply_to=InReplyTo(event_id=reply_to))
    return content


class MatrixSender:
    def __init__(self, appservice: AppService, encryption: MatrixEncryption | None) -> None:
        self.appservice = appservice
        self.encryption = encryption

    async def send(self, room_id: RoomID, event_type: EventType, content, *,
                   sender: UserID | None = None, encrypt: bool = True,
                   txn_id: str | None = None) -> EventID:
        """Send as the bot (``sender=None``) or as ``sender`` (a ghost of this appservice).

        ``encrypt=False`` sends in the clear even in encrypted rooms; only for events that carry
        no content of a person's (send statuses), which the homeserver's side may need to read.

        ``txn_id`` makes the send idempotent: the homeserver answers a repeated transaction id
        with the event it already created, however the content (a new Megolm ciphertext)
        differs. Without it each call gets a fresh one.
        """
        bot = self.appservice.intent
        intent = bot if sender is None or sender == bot.mxid else bot.user(sender)
        if (encrypt and self.encryption
                and await self.appservice.state_store.is_encrypted(room_id)):
            # Encrypted by the sender's own device: Element refuses a session made by a device
            # of another user than the sender.
            event_type, content = await self.encryption.encrypt(room_id, event_type, content,
                                                                sender=intent.mxid)
        return await intent.send_message_event(room_id, event_type, content, txn_id=txn_id)

    async def send_notice(self, room_id: RoomID, text: str, *, sender: UserID | None = None,
                          reply_to: EventID | None = None, txn_id: str | None = None
                          ) -> EventID:
        return await self.send(room_id, EventType.ROOM_MESSAGE,
                               notice_content(text, reply_to=reply_to), sender=sender,
                               txn_id=txn_id)
