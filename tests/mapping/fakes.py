"""In-memory stand-ins for the storage and transport behind the mapping's Protocols.

Only storage and transport are faked: crypto, ffmpeg, protobuf and the
formatting module are the real ones.
"""

from __future__ import annotations

import secrets

import attrs
from mautrix.types import ContentURI, EventID, RoomID, UserID

from bridge.content.models import Address, ChatId, StanzaId
from bridge.mapping import BridgedMessage, BridgedReaction, PortalInfo

USER_MXID = UserID("@alice:example.org")
USER_ID = Address("1-500@interop")  # the Matrix user's identity on the gateway
PEER_ID = Address("1-100@interop")  # the contact; "alice" in tests/formatting/resolvers.py
PEER_MXID = UserID("@wa_1-100:example.org")
INTEGRATOR = "1"


def portal(encrypted: bool = False, **changes) -> PortalInfo:
    """The portal of USER with PEER; `changes` override any field."""
    return attrs.evolve(PortalInfo(
        room_id=RoomID("!portal:example.org"),
        chat_id=ChatId(PEER_ID),
        user_id=USER_MXID,
        user_internal_id=USER_ID,
        user_displayname="Alice M",
        encrypted=encrypted,
    ), **changes)


@attrs.define
class InMemoryMatrixMedia:
    """A homeserver media repository: mxc URI → (bytes, mime type, file name)."""

    upload_limit: int | None = None
    files: dict[str, tuple[bytes, str, str | None]] = attrs.field(factory=dict)
    fail_downloads: bool = False

    async def upload(self, data: bytes, mime_type: str, filename: str | None) -> ContentURI:
        if self.upload_limit is not None and len(data) > self.upload_limit:
            raise RuntimeError("M_TOO_LARGE")
        uri = ContentURI(f"mxc://example.org/{secrets.token_hex(8)}")
        self.files[uri] = (bytes(data), mime_type, filename)
        return uri

    async def download(self, uri: ContentURI) -> bytes:
        if self.fail_downloads or uri not in self.files:
            raise RuntimeError("M_NOT_FOUND")
        return self.files[uri][0]

    def put(self, data: bytes, mime_type: str = "application/octet-stream") -> ContentURI:
        uri = ContentURI(f"mxc://example.org/{secrets.token_hex(8)}")
        self.files[uri] = (data, mime_type, None)
        return uri


@attrs.define
class InMemoryGatewayMedia:
    """The bridge's hosted blobs and the gatekeeper's media host, as one dict."""

    blobs: dict[str, bytes] = attrs.field(factory=dict)
    downloaded: list[str] = attrs.field(factory=list)

    async def download(self, path: str, max_size: int) -> bytes:
        self.downloaded.append(path)
        blob = self.blobs.get(path)
        if blob is None:
            raise RuntimeError("404")
        if len(blob) > max_size:
            raise RuntimeError("blob longer than announced")
        return blob

    async def host(self, blob: bytes) -> str:
        path = f"/interop/whatsapp/download/{INTEGRATOR}/{secrets.token_urlsafe(12)}/"
        self.blobs[path] = blob
        return path


@attrs.define
class InMemoryMessageIds:
    messages: list[BridgedMessage] = attrs.field(factory=list)
    reactions: list[BridgedReaction] = attrs.field(factory=list)

    def add_message(self, event_id: str, stanza_id: str, sender: Address) -> BridgedMessage:
        message = BridgedMessage(
            event_id=EventID(event_id), stanza_id=StanzaId(stanza_id), sender=sender
        )
        self.messages.append(message)
        return message

    def add_reaction(
        self, event_id: str, target: BridgedMessage, sender: Address, key: str
    ) -> BridgedReaction:
        reaction = BridgedReaction(
            event_id=EventID(event_id), target=target, sender=sender, key=key
        )
        self.reactions.append(reaction)
        return reaction

    async def message_by_event(self, event_id: EventID) -> BridgedMessage | None:
        return next((m for m in self.messages if m.event_id == event_id), None)

    async def message_by_stanza(
        self, room_id: RoomID, sender: Address, stanza_id: StanzaId
    ) -> BridgedMessage | None:
        return next(
            (m for m in self.messages if m.sender == sender and m.stanza_id == stanza_id), None
        )

    async def reaction_by_event(self, event_id: EventID) -> BridgedReaction | None:
        return next((r for r in self.reactions if r.event_id == event_id), None)

    async def reaction_by_sender(
        self, target: BridgedMessage, sender: Address
    ) -> BridgedReaction | None:
        # The latest reaction is the current one.
        return next(
            (r for r in reversed(self.reactions) if r.target == target and r.sender == sender),
            None,
        )
