"""Matrix → gateway: a (decrypted) Matrix event → a content model for the gateway.

Handles the event kinds and the relations between messages (replies,
reactions, edits, redactions); message bodies are mapped by
`matrix_bodies.BodyMapper`. Anything that cannot be mapped raises
`Unmappable(reason)` for the core to show as a notice.
"""

from __future__ import annotations

import logging
from typing import Any

import attrs
from mautrix.types import (
    EncryptedEvent,
    EventID,
    EventType,
    MediaMessageEventContent,
    MessageEvent,
    ReactionEvent,
    RedactionEvent,
    RelatesTo,
    RelationType,
)

from bridge.content import preview
from bridge.content.models import (
    Document,
    Image,
    MessageKey,
    Reaction,
    ReplyTo,
    Revoke,
    Text,
    Video,
)
from bridge.content.models import Edit as EditModel
from bridge.formatting import MatrixToRemoteResolver
from bridge.media import MediaLimits

from .errors import Unmappable
from .interfaces import (
    GatewayMedia,
    MatrixMedia,
    MessageIds,
    MessageRecord,
    PortalInfo,
    QuotedText,
)
from .matrix_bodies import BodyMapper, MappedBody
from .results import GatewayMessage

log = logging.getLogger("bridge.mapping.to_gateway")

OTHER_SENDER_REASON = "messages from other Matrix users in this room are not bridged"
REPLY_NOT_FOUND_WARNING = (
    "The message this replies to is not on the other side; it was sent without the quote."
)
MAX_REACTION_LENGTH = 32  # code points; emoji sequences are short, sentences are not
# What the gateway lets an edit replace: a text, or the caption of an image, video or file.
_EDITABLE_MSGTYPES = frozenset({"m.text", "m.notice", "m.emote", "m.image", "m.video", "m.file"})


def _is_poll(event_type: str) -> bool:
    return ".poll." in f".{event_type}"


def _is_live_location(event_type: str) -> bool:
    return event_type.split(".")[-1] in ("beacon", "beacon_info")


@attrs.define(kw_only=True)
class MatrixToGateway:
    """Maps Matrix events of one bridge for the gateway; keeps no state between calls."""

    matrix_media: MatrixMedia
    gateway_media: GatewayMedia
    message_ids: MessageIds
    resolve_mention: MatrixToRemoteResolver
    limits: MediaLimits = attrs.field(factory=MediaLimits)
    quoted_text: QuotedText | None = None

    @property
    def _bodies(self) -> BodyMapper:
        return BodyMapper(
            matrix_media=self.matrix_media,
            gateway_media=self.gateway_media,
            resolve_mention=self.resolve_mention,
            limits=self.limits,
        )

    async def map_event(self, event: Any, portal: PortalInfo) -> GatewayMessage | None:
        """The gateway content for `event`, or `Unmappable` with a reason for people.

        None means the gateway already shows what the event asks for: only the
        redaction of a reaction that a later one has superseded there.
        """
        event_type = str(getattr(event, "type", ""))
        # Everything sent from this portal goes out as its owner: anyone else in the
        # room (or a room admin redacting the owner's message) must not act for them.
        if getattr(event, "sender", None) != portal.user_id:
            raise Unmappable(OTHER_SENDER_REASON)
        if isinstance(event, EncryptedEvent) or event_type == str(EventType.ROOM_ENCRYPTED):
            raise Unmappable("the bridge could not decrypt the message")
        if isinstance(event, ReactionEvent):
            return await self._reaction(event, portal)
        if isinstance(event, RedactionEvent) or event_type == str(EventType.ROOM_REDACTION):
            return await self._redaction(event, portal)
        if isinstance(event, MessageEvent) and event.type == EventType.STICKER:
            if not isinstance(event.content, MediaMessageEventContent):
                raise Unmappable("the sticker has no image")
            mapped = await self._bodies.map_sticker(event.content)
            return await self._with_reply(event, mapped, portal)
        if isinstance(event, MessageEvent) and event.type == EventType.ROOM_MESSAGE:
            relates_to = getattr(event.content, "relates_to", None)
            if relates_to is not None and relates_to.rel_type == RelationType.REPLACE:
                return await self._edit(event, portal)
            mapped = await self._bodies.map_message(event.content, portal)
            return await self._with_reply(event, mapped, portal)
        if _is_poll(event_type):
            raise Unmappable("polls are not supported")
        if _is_live_location(event_type):
            raise Unmappable("live location is not supported")
        raise Unmappable("this kind of message is not supported")

    # --- relations -----------------------------------------------------------------

    def _key(self, target: MessageRecord, portal: PortalInfo) -> MessageKey:
        return MessageKey(
            chat_id=portal.chat_id,
            id=target.stanza_id,
            from_me=target.sender == portal.user_internal_id,
            participant=target.sender if portal.is_group else None,
        )

    async def _with_reply(
        self, event: MessageEvent, mapped: MappedBody, portal: PortalInfo
    ) -> GatewayMessage:
        body, warnings = mapped.body, mapped.warnings
        quoted_id = _quoted_event(event)
        if quoted_id is not None:
            quoted = await self.message_ids.message_by_event(quoted_id)
            if quoted is None:
                warnings += (REPLY_NOT_FOUND_WARNING,)
            else:
                body = attrs.evolve(body, reply_to=ReplyTo(
                    stanza_id=quoted.stanza_id,
                    participant=quoted.sender,
                    quoted_preview=await self._preview(quoted_id),
                ))
        return GatewayMessage(content=body, warnings=warnings, hosted_paths=mapped.hosted_paths)

    async def _preview(self, event_id: EventID) -> str:
        if self.quoted_text is None:
            return ""
        try:
            text = await self.quoted_text(event_id)
        except Exception as error:  # noqa: BLE001 - a missing preview must not stop the reply
            log.debug("no quoted text for a reply: %s", type(error).__name__)
            return ""
        return preview(Text(text=text)) if text else ""

    async def _reaction(self, event: ReactionEvent, portal: PortalInfo) -> GatewayMessage:
        relates_to = event.content.relates_to
        if relates_to.rel_type != RelationType.ANNOTATION or not relates_to.event_id:
            raise Unmappable("this kind of reaction is not supported")
        key = relates_to.key if isinstance(relates_to.key, str) else ""
        if not key.strip():
            raise Unmappable("an empty reaction cannot be sent")
        if len(key) > MAX_REACTION_LENGTH:
            raise Unmappable("reactions must be a single emoji")
        target = await self.message_ids.message_by_event(relates_to.event_id)
        if target is None:
            raise Unmappable("the message you reacted to is not on the other side")
        return GatewayMessage(content=Reaction(
            target=self._key(target, portal), text=key, timestamp_ms=event.timestamp
        ))

    async def _redaction(self, event: Any, portal: PortalInfo) -> GatewayMessage | None:
        redacts = getattr(event, "redacts", None) or _content_field(event, "redacts")
        if not redacts:
            raise Unmappable("the deletion does not say what it deletes")
        reaction = await self.message_ids.reaction_by_event(EventID(redacts))
        if reaction is not None:
            if reaction.sender != portal.user_internal_id:
                raise Unmappable("only your own reactions can be removed")
            current = await self.message_ids.reaction_by_sender(
                reaction.target, portal.user_internal_id
            )
            if current is None or current.event_id != reaction.event_id:
                # The gateway keeps one reaction per person: this one was replaced
                # (or already removed) there, and revoking now would remove the newer one.
                return None
            # An empty reaction text is the gateway's reaction revoke.
            return GatewayMessage(content=Reaction(
                target=self._key(reaction.target, portal), text="",
                timestamp_ms=getattr(event, "timestamp", 0) or 0,
            ))
        message = await self.message_ids.message_by_event(EventID(redacts))
        if message is None:
            raise Unmappable("the deleted message was never delivered to the other side")
        if message.sender != portal.user_internal_id:
            raise Unmappable("only your own messages can be deleted")
        return GatewayMessage(content=Revoke(target=self._key(message, portal)))

    async def _edit(self, event: MessageEvent, portal: PortalInfo) -> GatewayMessage:
        # mautrix has already replaced the content with `m.new_content`.
        target_id = event.content.relates_to.event_id
        target = await self.message_ids.message_by_event(target_id) if target_id else None
        if target is None:
            raise Unmappable("the edited message was never delivered to the other side")
        if target.sender != portal.user_internal_id:
            raise Unmappable("only your own messages can be edited")
        # Checked before mapping, so that no file is fetched for an edit that must fail.
        if str(getattr(event.content, "msgtype", "")) not in _EDITABLE_MSGTYPES:
            raise Unmappable("this message cannot be edited")
        mapped = await self._bodies.map_message(event.content, portal)
        if not isinstance(mapped.body, Text | Image | Video | Document):
            raise Unmappable("this message cannot be edited")
        return GatewayMessage(
            content=EditModel(
                target=self._key(target, portal),
                new_content=mapped.body,
                timestamp_ms=event.timestamp,
            ),
            warnings=mapped.warnings,
            hosted_paths=mapped.hosted_paths,
        )


def _quoted_event(event: MessageEvent) -> EventID | None:
    """The event a reply quotes; a thread message counts as a reply to what it follows."""
    relates_to: RelatesTo | None = getattr(event.content, "relates_to", None)
    if relates_to is None:
        return None
    if relates_to.in_reply_to is not None and relates_to.in_reply_to.event_id:
        return relates_to.in_reply_to.event_id
    if relates_to.rel_type == RelationType.THREAD and relates_to.event_id:
        return relates_to.event_id
    return None


def _content_field(event: Any, name: str) -> Any:
    content = getattr(event, "content", None)
    if content is None:
        return None
    if isinstance(content, dict):
        return content.get(name)
    try:
        return content.serialize().get(name)
    except AttributeError:
        return None
