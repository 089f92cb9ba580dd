"""Routing stored Matrix events to a handler per event kind.

Each inbox item is one event from a homeserver transaction; the inbox hands them over in order per
room. State is cached first, encrypted events are decrypted with the bot's device, and then each
kind goes to its own handler. Messages addressed to the bot go to a :class:`CommandRunner` and
events of portal rooms to :class:`RoomEvents`; both are implemented above this package (the bot
commands, the chat flows) and handed in by the composition root.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from mautrix.appservice import AppService, IntentAPI
from mautrix.errors import DecryptionError, MatrixError
from mautrix.types import (
    EncryptedEvent,
    Event,
    EventType,
    Membership,
    MemberStateEventContent,
    MessageEvent,
    MessageType,
    RoomEncryptionStateEventContent,
    RoomID,
    StateEvent,
    TextMessageEventContent,
)

from ..metrics import BridgeMetrics
from .command_input import CommandRunner, Invocation
from .e2ee import MatrixEncryption
from .inbox import InboxItem
from .permissions import Level, permission_level
from .sending import MatrixSender
from .users import MatrixUsers


class RoomEvents(Protocol):
    """Where the router hands events of portal rooms (implemented by bridge.chats)."""

    async def event(self, event: Event) -> bool:
        """True when the room is a portal and the event was handled there."""
        ...

    async def undecryptable(self, event: EncryptedEvent) -> bool:
        """An encrypted event that could not be decrypted; the same contract as ``event``."""
        ...

    async def ephemeral(self, edu: dict[str, object]) -> None:
        """An ``m.receipt`` or ``m.typing`` EDU, raw."""
        ...


class MatrixEventRouter:
    def __init__(self, *, appservice: AppService, permissions: dict[str, str],
                 users: MatrixUsers, commands: CommandRunner,
                 encryption: MatrixEncryption | None, is_ghost: Callable[[str], bool],
                 room_events: RoomEvents, sender: MatrixSender, metrics: BridgeMetrics,
                 log: logging.Logger | None = None) -> None:
        self.appservice = appservice
        self.permissions = permissions
        self.users = users
        self.commands = commands
        self.encryption = encryption
        self.is_ghost = is_ghost
        self.room_events = room_events
        self.sender = sender
        self.metrics = metrics
        self.log = log or logging.getLogger("bridge.matrix.router")

    @property
    def bot(self) -> IntentAPI:
        return self.appservice.intent

    async def handle(self, item: InboxItem) -> None:
        with self.metrics.handling("matrix"):
            await self._handle(item)

    async def _handle(self, item: InboxItem) -> None:
        if item.kind == "to_device":
            if self.encryption:
                await self.encryption.handle_to_device(item.event)
            return
        if item.kind == "edu":
            await self.room_events.ephemeral(item.event)
            return
        event = self._parse(item.event)
        if event.sender == self.appservice.bot_mxid or self.is_ghost(event.sender):
            if isinstance(event, StateEvent):
                await self.appservice.state_store.update_state(event)
            return
        if isinstance(event, StateEvent):
            await self._handle_state(event)
            return
        # m.room.encrypted is always deserialized as an EncryptedEvent
        if isinstance(event, EncryptedEvent):
            if not self.encryption:
                await self.send_notice(event.room_id,
                                       "This bridge is not set up for encrypted rooms.")
                return
            try:
                event = await self.encryption.decrypt(event)
            except DecryptionError as e:
                # Waited for the key and asked the sender's device for it: retrying later
                # would only hold up the room. The sender is told and can send it again.
                await self._undecryptable(event, e)
                return
        message = _room_message(event)
        if message is not None and self._addressed_to_bot(message):
            # Commands work in portals too (`!interop block`), and are never bridged.
            await self._handle_message(message)
            return
        if await self.room_events.event(event):
            return
        if message is not None:
            await self._handle_message(message)

    async def _undecryptable(self, event: EncryptedEvent, error: DecryptionError) -> None:
        self.log.warning("Could not decrypt %s from %s in %s: %s", event.event_id, event.sender,
                         event.room_id, type(error).__name__)
        if await self.room_events.undecryptable(event):
            return
        user = await self.users.by_management_room(event.room_id)
        if user is not None and user.user_id == event.sender:
            await self.send_notice(event.room_id, "⚠️ I could not decrypt your last message "
                                   "(your client may not have shared its keys with the bridge "
                                   "yet). Please send it again.")

    @staticmethod
    def _parse(raw: dict[str, Any]) -> Event:
        if raw.get("type") == "m.room.redaction" and "redacts" not in raw:
            # Room versions 11+ keep redacts only in the content; mautrix reads the top level.
            raw = {**raw, "redacts": (raw.get("content") or {}).get("redacts", "")}
        event = Event.deserialize(raw)
        cls = EventType.Class.STATE if "state_key" in raw else EventType.Class.MESSAGE
        event.type = event.type.with_class(cls)
        return event

    def _addressed_to_bot(self, event: MessageEvent) -> bool:
        content = _text_content(event)
        return (content is not None
                and isinstance(content.body, str)
                and self.commands.parse(command_text(content),
                                        is_management_room=False) is not None)

    # --- state -------------------------------------------------------------------------------

    async def _handle_state(self, event: StateEvent) -> None:
        await self.appservice.state_store.update_state(event)
        if event.type != EventType.ROOM_MEMBER:
            return
        if self.encryption:
            await self.encryption.handle_member(event)
        content = event.content
        if (event.state_key == self.appservice.bot_mxid
                and isinstance(content, MemberStateEventContent)
                and content.membership == Membership.INVITE):
            await self._handle_bot_invite(event, content)

    async def _handle_bot_invite(self, event: StateEvent,
                                 invite: MemberStateEventContent) -> None:
        if permission_level(self.permissions, event.sender) < Level.USER:
            self.log.info("Refusing invite from %s to %s: not allowed to use the bridge",
                          event.sender, event.room_id)
            await self.bot.leave_room(event.room_id,
                                      reason="You are not allowed to use this bridge.")
            return
        self.log.info("Invited by %s to %s; joining", event.sender, event.room_id)
        await self.bot.join_room(event.room_id)
        await self._load_room_state(event.room_id)
        if invite.is_direct:
            await self.users.set_management_room(event.sender, event.room_id)
            await self.send_notice(
                event.room_id,
                "Hello! This is your management room for third-party chats. "
                "Send `help` to see what you can do.",
            )

    async def _load_room_state(self, room_id: RoomID) -> None:
        """Learn the members and the encryption of a room the bot just joined."""
        await self.bot.get_joined_members(room_id)
        try:
            encryption = await self.bot.get_state_event(room_id, EventType.ROOM_ENCRYPTION)
        except MatrixError:
            return  # not encrypted
        # the content is deserialized by its event type, so this is always true
        if isinstance(encryption, RoomEncryptionStateEventContent):
            await self.appservice.state_store.set_encryption_info(room_id, encryption)

    # --- messages ----------------------------------------------------------------------------

    async def _handle_message(self, event: MessageEvent) -> None:
        content = _text_content(event)
        if content is None:
            return
        user = await self.users.by_management_room(event.room_id)
        is_management = user is not None and user.user_id == event.sender
        words = self.commands.parse(command_text(content), is_management_room=is_management)
        if not words:
            return

        async def reply(text: str) -> None:
            await self.send_notice(event.room_id, text)

        await self.commands.run(words, Invocation(
            sender=event.sender, room_id=event.room_id,
            level=permission_level(self.permissions, event.sender),
            is_management_room=is_management, reply=reply, reply_to=content.get_reply_to()))

    # --- sending -----------------------------------------------------------------------------

    async def send_notice(self, room_id: RoomID, text: str) -> None:
        await self.sender.send_notice(room_id, text)


def _room_message(event: Event) -> MessageEvent | None:
    """``event`` when it is an ``m.room.message`` (stickers are MessageEvents too)."""
    if event.type == EventType.ROOM_MESSAGE and isinstance(event, MessageEvent):
        return event
    return None


def _text_content(event: MessageEvent) -> TextMessageEventContent | None:
    """The content of an ``m.text`` message (commands are read from text messages only)."""
    content = event.content
    if isinstance(content, TextMessageEventContent) and content.msgtype == MessageType.TEXT:
        return content
    return None


def command_text(content: TextMessageEventContent) -> str:
    """The body a command is read from: without the quoted fallback some clients put at the top
    of a reply (`> <@someone> what they wrote`), so that a command can answer a message."""
    body = content.body
    if content.get_reply_to() is None or not body.startswith("> <") or "\n" not in body:
        return body
    lines = body.split("\n")
    while lines and lines[0].startswith(">"):
        lines.pop(0)
    return "\n".join(lines).strip()
