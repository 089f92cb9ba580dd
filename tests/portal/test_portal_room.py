"""A new portal as the Matrix user sees it through a real E2EE client (both engines)."""

from __future__ import annotations

import pytest
from mautrix.types import MessageType, TextMessageEventContent
from nio import RoomMessageText

from tests.portal.helpers import (
    BOT,
    CONTACT,
    CONTACT_NAME,
    GHOST,
    join,
    restartable_stack,
    room_state,
)
from tests.support.matrix_client import PersonClient

pytestmark = pytest.mark.synapse


async def test_new_portal_is_an_encrypted_dm_with_the_ghost(db_url, tmp_path):
    async with restartable_stack(db_url, tmp_path) as stack:
        bridge = stack.bridge
        alice = await PersonClient.create(stack.synapse, "alice", tmp_path / "alice")
        try:
            portal = await bridge.running.portals.get_or_create("@alice:localhost", CONTACT,
                                                                CONTACT_NAME)
            assert portal.ghost.mxid == GHOST
            await join(alice, portal.room_id)
            state = await room_state(alice, portal.room_id)

            create = state[("m.room.create", "")]
            assert create["sender"] == GHOST
            assert "@alice:localhost" not in create["content"].get("additional_creators", [])
            assert state[("m.room.encryption", "")]["content"]["algorithm"] == \
                "m.megolm.v1.aes-sha2"
            for kind in ("m.bridge", "uk.half-shot.bridge"):
                (info,) = [e for (t, _), e in state.items() if t == kind]
                assert info["content"]["protocol"]["id"] == "interop"
                assert info["content"]["channel"] == {"id": CONTACT, "displayname": CONTACT_NAME}
                assert info["content"]["bridgebot"] == BOT
            topic = state[("m.room.topic", "")]["content"]["topic"]
            assert CONTACT_NAME in topic and "another messaging service" in topic
            assert ("m.room.name", "") not in state
            assert state[("io.element.functional_members", "")]["content"] == {
                "service_members": [BOT]}

            members = {key: e for (t, key), e in state.items() if t == "m.room.member"}
            assert members[BOT]["content"]["membership"] == "join"
            assert members[GHOST]["content"]["membership"] == "join"
            assert members[GHOST]["content"]["displayname"] == CONTACT_NAME
            invite_then_join = members["@alice:localhost"]
            assert invite_then_join["content"]["membership"] == "join"
            # nio joined on its own; the invite before it was a DM invite from the ghost
            assert invite_then_join["unsigned"]["prev_content"]["is_direct"] is True
            assert invite_then_join["unsigned"]["prev_sender"] == GHOST
            levels = state[("m.room.power_levels", "")]["content"]
            assert levels["users"].get(BOT) == 100
            assert levels["users"].get("@alice:localhost", levels["users_default"]) == 0
            assert levels["events_default"] == 0

            profile = await alice.client.get_displayname(GHOST)
            assert profile.displayname == CONTACT_NAME
            assert await bridge.running.portals.by_room(portal.room_id) is portal
            assert await bridge.running.portals.for_user("@alice:localhost") == [portal]
            assert await bridge.running.portals.for_user("@carol:localhost") == []

            # The contact writes: the ghost sends, the bot's device encrypts, nio decrypts.
            event_id = await portal.send(TextMessageEventContent(msgtype=MessageType.TEXT,
                                                                 body="Hello from Bob"))
            message = await alice.wait_for(
                portal.room_id,
                lambda e: isinstance(e, RoomMessageText) and e.body == "Hello from Bob")
            assert message.decrypted and message.sender == GHOST
            assert message.event_id == event_id
        finally:
            await alice.close()
