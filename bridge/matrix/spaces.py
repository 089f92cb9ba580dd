"""Inbox choice: third-party chats in a personal space ("separate") or among the rest ("main").

The space belongs to the bridge bot and holds one ``m.space.child`` per portal of its user; the
user is invited to it. Switching to "main" empties the space (the rooms themselves stay);
switching back fills it again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from mautrix.appservice import AppService, IntentAPI
from mautrix.types import EventType, RoomCreatePreset, RoomID, UserID

from .users import MatrixUsers

log = logging.getLogger("bridge.matrix.spaces")

SPACE_NAME = "Third-party chats"
SPACE_TOPIC = ("Your chats with people on other messaging services, bridged by this server's "
               "interop bridge.")
SEPARATE, MAIN = "separate", "main"


class InboxSpaces:
    def __init__(self, *, appservice: AppService, users: MatrixUsers, domain: str,
                 default_inbox: str) -> None:
        self.appservice = appservice
        self.users = users
        self.domain = domain
        self.default_inbox = default_inbox

    @property
    def bot(self) -> IntentAPI:
        # the appservice's intent exists once it has started, after the services are built
        return self.appservice.intent

    async def inbox_of(self, mxid: UserID) -> str:
        user = await self.users.get(mxid)
        return (user.inbox if user and user.inbox else self.default_inbox)

    async def portal_created(self, user: UserID, room_id: RoomID) -> None:
        if await self.inbox_of(user) == SEPARATE:
            space = await self._space_for(user)
            await self._set_child(space, room_id, present=True)

    async def choose(self, mxid: UserID, inbox: str, portal_rooms: Sequence[RoomID]) -> int:
        """Set the user's inbox and move their existing portals; returns how many moved."""
        await self.users.set_inbox(mxid, inbox)
        user = await self.users.get(mxid)
        if inbox == SEPARATE:
            space = await self._space_for(mxid)
        elif user.space_room is None:
            return 0
        else:
            space = user.space_room
        for room_id in portal_rooms:
            await self._set_child(space, room_id, present=inbox == SEPARATE)
        return len(portal_rooms)

    async def _space_for(self, mxid: UserID) -> RoomID:
        user = await self.users.get_or_create(mxid)
        if user.space_room:
            return user.space_room
        room_id = await self.bot.create_room(
            name=SPACE_NAME, topic=SPACE_TOPIC, preset=RoomCreatePreset.PRIVATE,
            invitees=[mxid], creation_content={"type": "m.space"},
            # Only the bot (its creator) files rooms in it; the user just reads it.
            power_level_override={"events_default": 100},
        )
        await self.users.set_space(mxid, room_id)
        log.info("Created the third-party chats space %s for %s", room_id, mxid)
        return room_id

    async def _set_child(self, space: RoomID, room_id: RoomID, *, present: bool) -> None:
        content = {"via": [self.domain]} if present else {}
        await self.bot.send_state_event(space, EventType.SPACE_CHILD, content, state_key=room_id)
