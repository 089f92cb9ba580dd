"""What the mapping needs from the rest of the bridge, as small Protocols.

Everything that does I/O (the homeserver's media repository, the media
hosts, the message table) is injected through these, so the mapping itself
holds no state and opens no sockets. The core implements them; the tests
use in-memory versions.
"""

from __future__ import annotations

from typing import Protocol

import attrs
from mautrix.types import ContentURI, EventID, RoomID, UserID

from bridge.content.models import Address, ChatId, StanzaId


@attrs.frozen(kw_only=True)
class PortalInfo:
    """The portal a message belongs to, as far as the mapping needs it."""

    room_id: RoomID
    # The peer's internal id in a 1:1 chat, or the group id.
    chat_id: ChatId
    # The Matrix user this portal belongs to, and their identity on the gateway.
    user_id: UserID
    user_internal_id: Address
    # Used for emotes ("* Name waves"), which the gateway does not have.
    user_displayname: str = attrs.field(default="", repr=False)
    encrypted: bool = False
    is_group: bool = False


class MatrixMedia(Protocol):
    """The homeserver's media repository (authenticated media)."""

    @property
    def upload_limit(self) -> int | None:
        """The homeserver's ``m.upload.size`` in bytes, None when it has none."""

    async def upload(self, data: bytes, mime_type: str, filename: str | None) -> ContentURI:
        """Store `data` and return its ``mxc://`` URI."""

    async def download(self, uri: ContentURI) -> bytes:
        """Fetch the bytes behind an ``mxc://`` URI (``/_matrix/client/v1/media/download``)."""


class GatewayMedia(Protocol):
    """The gatekeeper's media host (incoming) and the bridge's own (outgoing)."""

    async def download(self, path: str, max_size: int) -> bytes:
        """Fetch an encrypted blob by its download path (``/v/t…``).

        May refuse (raise) a blob longer than `max_size` bytes without reading it all.
        """

    async def host(self, blob: bytes) -> str:
        """Keep an encrypted blob for the gatekeeper to fetch; return its download
        path, ``/interop/whatsapp/download/{integrator}/{storage_reference}/``."""


class MessageRecord(Protocol):
    """What the mapping reads of a message known on both sides (any row type with
    these attributes will do)."""

    @property
    def event_id(self) -> EventID: ...

    @property
    def stanza_id(self) -> StanzaId: ...

    @property
    def sender(self) -> Address:
        """The message's author on the gateway (the Matrix user's internal id for
        messages they sent from Matrix)."""


@attrs.frozen(kw_only=True)
class BridgedMessage:
    """A message known on both sides: the plain `MessageRecord`."""

    event_id: EventID
    stanza_id: StanzaId
    # The message's author on the gateway (the Matrix user's internal id for
    # messages they sent from Matrix).
    sender: Address


@attrs.frozen(kw_only=True)
class BridgedReaction:
    """A reaction known on both sides: one per sender and target on the gateway."""

    event_id: EventID
    target: MessageRecord
    sender: Address
    key: str = attrs.field(repr=False)


class MessageIds(Protocol):
    """Lookups between Matrix event ids and gateway stanza ids.

    The mapping only reads; the core records each message and reaction after
    it has been sent on either side.
    """

    async def message_by_event(self, event_id: EventID) -> MessageRecord | None: ...

    async def message_by_stanza(
        self, room_id: RoomID, sender: Address, stanza_id: StanzaId
    ) -> MessageRecord | None:
        """The message `stanza_id` from `sender` in the portal `room_id` (stanza ids
        are unique per sender only)."""

    async def reaction_by_event(self, event_id: EventID) -> BridgedReaction | None:
        """Any reaction recorded for this Matrix event, also one a later reaction of
        the same sender has superseded (a Matrix user may keep several reactions on
        a message; the gateway keeps one per person)."""

    async def reaction_by_sender(
        self, target: MessageRecord, sender: Address
    ) -> BridgedReaction | None:
        """The current (latest) reaction of `sender` to `target`, if any; a revoke
        removes it."""


class QuotedText(Protocol):
    """Optional: the plain text of a Matrix event, for a reply's quoted preview."""

    async def __call__(self, event_id: EventID) -> str | None: ...
