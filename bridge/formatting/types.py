"""Values passed in and out of the formatting converters, and the resolver shapes.

The converters keep no state of their own: whoever calls them supplies a
resolver that maps between Matrix users and gateway users (normally backed
by the bridge's puppet and user tables).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias

import attrs
from mautrix.types import UserID

from bridge.content.models import Address

HTML_FORMAT = "org.matrix.custom.html"


@attrs.frozen
class MatrixMention:
    """How a mentioned gateway user appears on Matrix."""

    user_id: UserID
    displayname: str
    # The name written after "@" in the gateway text, e.g. "@alice".
    username: str


@attrs.frozen
class RemoteMention:
    """How a mentioned Matrix user (or ghost) appears on the gateway side."""

    address: Address
    username: str


RemoteToMatrixResolver: TypeAlias = Callable[[Address], MatrixMention | None]
"""Internal id from a content's mention list → its Matrix identity, or None if unknown."""

MatrixToRemoteResolver: TypeAlias = Callable[
    [UserID], "RemoteMention | Awaitable[RemoteMention | None] | None"
]
"""Mxid of a pill → the gateway user it stands for, or None when it has none.

It may be a coroutine function: the Matrix → gateway conversion awaits it.
"""


@attrs.frozen
class MatrixText:
    """A Matrix text body: plain `body`, optional HTML, and who it mentions."""

    # Message content: kept out of repr so that logging the value logs no content.
    body: str = attrs.field(repr=False)
    formatted_body: str | None = attrs.field(default=None, repr=False)
    mentioned_user_ids: tuple[UserID, ...] = ()

    def to_content(self, msgtype: str = "m.text") -> dict[str, Any]:
        """The event content (``m.room.message``), with intentional mentions."""
        content: dict[str, Any] = {"msgtype": msgtype, "body": self.body}
        if self.formatted_body is not None:
            content["format"] = HTML_FORMAT
            content["formatted_body"] = self.formatted_body
        content["m.mentions"] = (
            {"user_ids": list(self.mentioned_user_ids)} if self.mentioned_user_ids else {}
        )
        return content


@attrs.frozen
class RemoteText:
    """Gateway-side text: WhatsApp-style markup plus the mentioned internal ids."""

    text: str = attrs.field(repr=False)
    mentions: tuple[Address, ...] = ()
