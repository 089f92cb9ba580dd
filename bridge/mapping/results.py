"""What the mapping hands back: instructions for the core, no I/O done.

Matrix → gateway gives one `GatewayMessage`; gateway → Matrix gives a list
of `MatrixAction`s (usually one) that the core performs in order as the
remote sender's ghost.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import attrs
from mautrix.types import EventID, EventType

from bridge.content.models import (
    Audio,
    Contact,
    Document,
    Edit,
    Image,
    Location,
    Reaction,
    Revoke,
    Sticker,
    Text,
    Video,
)


@attrs.frozen(kw_only=True)
class GatewayMessage:
    """A Matrix event mapped for the gateway.

    `warnings` are sentences for the Matrix sender about what did not survive
    the trip although the message was sent (a spoiler shown in clear, a reply
    sent without its quote); the core shows them as a notice.
    `hosted_paths` lists the download paths of blobs hosted for this message,
    so that the core can withdraw them if sending fails.
    """

    content: (
        Text | Image | Video | Audio | Document | Location | Contact | Sticker
        | Reaction | Edit | Revoke
    )
    warnings: tuple[str, ...] = ()
    hosted_paths: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class SendEvent:
    """Send `content` (a serialised event content) as the remote sender's ghost."""

    event_type: EventType
    content: dict[str, Any] = attrs.field(repr=False)


@attrs.frozen(kw_only=True)
class Redact:
    """Redact `event_id` as the remote sender's ghost."""

    event_id: EventID
    reason: str | None = None


@attrs.frozen(kw_only=True)
class Notice:
    """Send an ``m.notice`` with `text` as the remote sender's ghost.

    The text names a problem, never message content.
    """

    text: str


MatrixAction: TypeAlias = "SendEvent | Redact | Notice"
