"""Inbox choice: third-party chats in their own space, or with the rest; switching moves them."""

from __future__ import annotations

import asyncio
import time

import pytest
from nio import RoomGetStateEventResponse

from bridge.content import Text
from tests.support.stack import running_stack

from .helpers import notice, opted_in_person, send_as_gatekeeper, simulated_user

pytestmark = pytest.mark.synapse


async def space_child(person, space: str, room: str) -> dict:
    response = await person.client.room_get_state_event(space, "m.space.child", room)
    return response.content if isinstance(response, RoomGetStateEventResponse) else {}


async def test_portals_live_in_a_space_until_the_user_chooses_main(db_url, tmp_path):
    async with running_stack(db_url, tmp_path) as stack:
        alice, management, alice_id = await opted_in_person(stack, "alice", tmp_path / "alice")
        try:
            await simulated_user(stack, "gina")
            await send_as_gatekeeper(stack, "gina", alice_id, Text(text="hello"))
            deadline = time.monotonic() + 30
            while not (portals := await stack.bridge.running.portals.for_user(alice.user_id)):
                assert time.monotonic() < deadline
                await asyncio.sleep(0.2)
            portal_room = portals[0].room_id
            # The default inbox is a separate space, filed right after the portal is created.
            while not (user := await stack.bridge.running.spaces.users.get(
                                                                           alice.user_id)).space_room:
                assert time.monotonic() < deadline, "no space was created"
                await asyncio.sleep(0.2)
            await alice.sync()
            assert user.space_room in alice.client.invited_rooms
            await alice.client.join(user.space_room)
            assert (await space_child(alice, user.space_room, portal_room))["via"] == ["localhost"]

            await alice.send_text(management, "inbox sideways")
            await alice.wait_for(management, notice("Usage: `inbox separate`"))
            await alice.send_text(management, "inbox main")
            await alice.wait_for(management, notice("with your other chats (1 chat(s) moved)"))
            assert await space_child(alice, user.space_room, portal_room) == {}
            await alice.send_text(management, "status")
            await alice.wait_for(management, notice("Inbox: with your other chats"))

            await alice.send_text(management, "inbox separate")
            await alice.wait_for(management, notice("in the space"))
            assert (await space_child(alice, user.space_room, portal_room))["via"] == ["localhost"]
        finally:
            await alice.close()
