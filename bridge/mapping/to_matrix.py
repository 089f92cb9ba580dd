"""Gateway → Matrix: decoded content from one remote sender → what its ghost does.

Returns a list of `SendEvent` / `Redact` / `Notice` instructions and does no
I/O besides the injected media services; the core performs them in order
and records the resulting event ids. Bodies are mapped by
`gateway_bodies.GatewayBodyMapper`; this module adds replies, reactions,
edits and revokes.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence
from typing import Any

import attrs
from mautrix.types import EventID, EventType

from bridge.content.models import (
    Address,
    ContentModel,
    Edit,
    MessageKey,
    Reaction,
    ReplyTo,
    Revoke,
    SenderKeyDistribution,
    StanzaId,
    Text,
    Unsupported,
)
from bridge.formatting import HTML_FORMAT, RemoteToMatrixResolver
from bridge.media import MediaLimits

from .gateway_bodies import GatewayBody, GatewayBodyMapper, MatrixBody
from .interfaces import GatewayMedia, MatrixMedia, MessageIds, MessageRecord, PortalInfo
from .results import MatrixAction, Notice, Redact, SendEvent

log = logging.getLogger("bridge.mapping.to_matrix")

UNREADABLE_NOTICE = "A message could not be read."


def unsupported_notice(reason: str) -> Notice:
    return Notice(text=f"A message could not be shown here ({reason}).")


def unreadable_notice() -> Notice:
    """For content that failed to decode (`BadPadding`, `MalformedContent`)."""
    return Notice(text=UNREADABLE_NOTICE)


@attrs.define(kw_only=True)
class GatewayToMatrix:
    """Maps gateway content of one bridge to Matrix; keeps no state between calls."""

    matrix_media: MatrixMedia
    gateway_media: GatewayMedia
    message_ids: MessageIds
    resolve_mention: RemoteToMatrixResolver
    limits: MediaLimits = attrs.field(factory=MediaLimits)

    @property
    def _bodies(self) -> GatewayBodyMapper:
        return GatewayBodyMapper(
            matrix_media=self.matrix_media,
            gateway_media=self.gateway_media,
            resolve_mention=self.resolve_mention,
            limits=self.limits,
        )

    async def map_content(
        self, content: ContentModel, sender: Address, stanza_id: StanzaId, portal: PortalInfo
    ) -> list[MatrixAction]:
        """What the ghost of `sender` does for the message `stanza_id`.

        An empty list means there is nothing to show (a sender key, or a
        reaction that is already there).
        """
        match content:
            case Reaction():
                return await self._reaction(content, sender, portal)
            case Edit():
                return await self._edit(content, sender, portal)
            case Revoke():
                return await self._revoke(content, sender, portal)
            case Unsupported():
                return [unsupported_notice(content.reason)]
            case SenderKeyDistribution():
                return []  # consumed by the Signal layer
        mapped = await self._bodies.map_body(content, portal)
        if mapped.notice is not None:
            return [mapped.notice]
        assert mapped.content is not None
        body = mapped.content
        reply_to = getattr(content, "reply_to", None)
        if reply_to is not None:
            await self._add_reply(body, reply_to, sender, portal, isinstance(content, Text))
        return [SendEvent(event_type=mapped.event_type, content=body)]

    # --- lookups -------------------------------------------------------------------

    async def _find(
        self, authors: Sequence[Address | None], stanza_id: StanzaId, portal: PortalInfo
    ) -> MessageRecord | None:
        for author in dict.fromkeys(a for a in authors if a):
            found = await self.message_ids.message_by_stanza(portal.room_id, author, stanza_id)
            if found is not None:
                return found
        return None

    async def _target(
        self, key: MessageKey, sender: Address, portal: PortalInfo
    ) -> MessageRecord | None:
        """The message a reaction/edit/revoke from `sender` points at.

        `from_me` is relative to the sender; in a 1:1 chat the other author is
        the portal's Matrix user. (`key.chat_id` is the sender's view of the
        chat, so the lookup is by the portal's room.)
        """
        if key.participant:
            author = key.participant
        elif key.from_me:
            author = sender
        elif not portal.is_group:
            author = portal.user_internal_id
        else:
            return None
        return await self._find([author], key.id, portal)

    # --- replies -------------------------------------------------------------------

    async def _add_reply(
        self, body: dict[str, Any], reply_to: ReplyTo, sender: Address, portal: PortalInfo,
        is_text: bool,
    ) -> None:
        authors = [reply_to.participant] if reply_to.participant else [
            sender, portal.user_internal_id
        ]
        quoted = await self._find(authors, reply_to.stanza_id, portal)
        if quoted is None:
            if is_text and reply_to.quoted_preview:
                _prepend_quote(body, reply_to.quoted_preview)
            return
        body["m.relates_to"] = {"m.in_reply_to": {"event_id": quoted.event_id}}
        # Replying to someone mentions them, as Matrix clients do.
        mentioned = body.setdefault("m.mentions", {})
        if quoted.sender == portal.user_internal_id:
            user_ids = mentioned.setdefault("user_ids", [])
            if portal.user_id not in user_ids:
                user_ids.append(portal.user_id)

    # --- reactions, edits, revokes -------------------------------------------------

    async def _reaction(
        self, reaction: Reaction, sender: Address, portal: PortalInfo
    ) -> list[MatrixAction]:
        target = await self._target(reaction.target, sender, portal)
        if target is None:
            return [Notice(text="A reaction to a message that is not in this room "
                                "could not be shown.")]
        earlier = await self.message_ids.reaction_by_sender(target, sender)
        if reaction.is_revoke:
            return [Redact(event_id=earlier.event_id)] if earlier is not None else []
        if earlier is not None and earlier.key == reaction.text:
            return []
        actions: list[MatrixAction] = []
        if earlier is not None:
            # The gateway keeps one reaction per person and message: a new one replaces it.
            actions.append(Redact(event_id=earlier.event_id))
        actions.append(SendEvent(event_type=EventType.REACTION, content={
            "m.relates_to": {
                "rel_type": "m.annotation", "event_id": target.event_id, "key": reaction.text,
            }
        }))
        return actions

    async def _edit(
        self, edit: Edit, sender: Address, portal: PortalInfo
    ) -> list[MatrixAction]:
        # Only the author edits a message, so the target is the sender's own.
        target = await self._find([edit.target.participant or sender], edit.target.id, portal)
        if target is None or target.sender != sender:
            return [Notice(text="An edit of a message that is not in this room could not be "
                                "shown.")]
        mapped: MatrixBody = await self._bodies.map_body(edit.new_content, portal)
        if mapped.notice is not None:
            return [mapped.notice]
        assert mapped.content is not None
        return [SendEvent(event_type=EventType.ROOM_MESSAGE,
                          content=_replacement(mapped.content, target.event_id))]

    async def _revoke(
        self, revoke: Revoke, sender: Address, portal: PortalInfo
    ) -> list[MatrixAction]:
        target = await self._target(revoke.target, sender, portal)
        # In a 1:1 chat only a message's author can delete it for everyone.
        if target is None or (not portal.is_group and target.sender != sender):
            return [Notice(text="A deletion of a message that is not in this room could not "
                                "be shown.")]
        reason = "Deleted by the sender" if target.sender == sender else "Deleted by a group admin"
        return [Redact(event_id=target.event_id, reason=reason)]


def _replacement(new_content: dict[str, Any], target: EventID) -> dict[str, Any]:
    """An ``m.replace`` edit: a fallback body marked with "* ", the new content inside."""
    outer = {key: value for key, value in new_content.items() if key != "m.mentions"}
    outer["body"] = f"* {new_content.get('body', '')}"
    if "formatted_body" in new_content:
        outer["formatted_body"] = f"* {new_content['formatted_body']}"
    # Mentions live in the new content; the edit itself does not notify anyone again.
    outer["m.mentions"] = {}
    outer["m.new_content"] = new_content
    outer["m.relates_to"] = {"rel_type": "m.replace", "event_id": target}
    return outer


def _prepend_quote(body: dict[str, Any], quoted_preview: str) -> None:
    """Show the quoted text above a reply whose original is not in the room."""
    quote_lines = quoted_preview.splitlines() or [""]
    original_html = body.get("formatted_body") or html.escape(body["body"]).replace("\n", "<br/>")
    body["body"] = "\n".join(f"> {line}" for line in quote_lines) + "\n\n" + body["body"]
    body["format"] = HTML_FORMAT
    body["formatted_body"] = (
        f"<blockquote>{html.escape(quoted_preview).replace(chr(10), '<br/>')}</blockquote>"
        + original_html
    )


__all__ = ["GatewayBody", "GatewayToMatrix", "unreadable_notice", "unsupported_notice"]
