"""Notices to a Matrix user, in their management room."""

from __future__ import annotations

from mautrix.types import UserID

from .sending import MatrixSender
from .users import MatrixUsers


class UserNotices:
    def __init__(self, users: MatrixUsers, sender: MatrixSender) -> None:
        self.users = users
        self.sender = sender

    async def notify(self, user: UserID, text: str) -> None:
        """Post ``text`` as a notice in ``user``'s management room; nothing when they have none
        (they have not talked to the bot yet, so there is nowhere to tell them)."""
        record = await self.users.get(user)
        if record is None or record.management_room is None:
            return
        await self.sender.send_notice(record.management_room, text)
