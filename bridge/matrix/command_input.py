"""What the router hands to the bot's commands, without knowing which commands there are.

The commands (:mod:`bridge.commands`) sit above the Matrix side; the router reaches them only
through :class:`CommandRunner`, which the composition root fills with the command registry.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

import attrs
from mautrix.types import EventID, RoomID, UserID

from .permissions import Level


@attrs.frozen(kw_only=True)
class Invocation:
    """One message addressed to the bot: who sent it, where, and how to answer."""

    sender: UserID
    room_id: RoomID
    level: Level
    is_management_room: bool
    reply: Callable[[str], Awaitable[None]]
    #: the event the command message replies to, if it is a reply
    reply_to: EventID | None


class CommandRunner(Protocol):
    def parse(self, body: str, *, is_management_room: bool) -> list[str] | None:
        """The words of a command, or None when the message is not addressed to the bot."""
        ...

    async def run(self, words: list[str], invocation: Invocation) -> None:
        """Run the command ``words`` name (answering through ``invocation.reply``)."""
        ...
