"""Portals when the contact renames themselves, and unencrypted portals (both engines)."""

from __future__ import annotations

import asyncio

import pytest
from mautrix.types import MessageType, TextMessageEventContent
from nio import RoomMessageText

from tests.portal.helpers import CONTACT, CONTACT_NAME, GHOST, join, restartable_stack, room_state
from tests.support.matrix_client import PersonClient

pytestmark = pytest.mark.synapse


def bridge_channel(state) -> dict:
    (info,) = [e for (t, _), e in state.items() if t == "m.bridge"]
    return info["content"]["channel"]


async def test_a_renamed_contact_renames_the_ghost_and_every_portal(db_url, tmp_path):
    async with restartable_stack(db_url, tmp_path) as stack:
        portals = stack.bridge.running.portals
        alice = await PersonClient.create(stack.synapse, "alice", tmp_path / "alice")
        carol = await PersonClient.create(stack.synapse, "carol", tmp_path / "carol")
        try:
            with_alice = await portals.get_or_create(alice.user_id, CONTACT, CONTACT_NAME)
            with_carol = await portals.get_or_create(carol.user_id, CONTACT, CONTACT_NAME)
            assert with_alice.ghost is with_carol.ghost
            await join(alice, with_alice.room_id)
            await join(carol, with_carol.room_id)

            assert await portals.get_or_create(alice.user_id, CONTACT, "Robert") is with_alice
            # Carol's portal shows the old name until the contact next shows up there.
            assert (await alice.client.get_displayname(GHOST)).displayname == "Robert"
            assert bridge_channel(await room_state(carol, with_carol.room_id))[
                "displayname"] == CONTACT_NAME
            await portals.get_or_create(carol.user_id, CONTACT, "Robert")
            for person, portal in ((alice, with_alice), (carol, with_carol)):
                state = await room_state(person, portal.room_id)
                assert bridge_channel(state) == {"id": CONTACT, "displayname": "Robert"}
                assert "Robert" in state[("m.room.topic", "")]["content"]["topic"]
                # The homeserver rewrites the ghost's member events in a background task.
                for _ in range(100):
                    state = await room_state(person, portal.room_id)
                    if state[("m.room.member", GHOST)]["content"]["displayname"] == "Robert":
                        break
                    await asyncio.sleep(0.1)
                assert state[("m.room.member", GHOST)]["content"]["displayname"] == "Robert"
            assert with_carol.record.contact_name == "Robert"
            assert await with_alice.update_contact("Robert") is False
        finally:
            await alice.close()
            await carol.close()


async def test_unencrypted_portals_when_encryption_is_off_by_default(db_url, tmp_path):
    overrides = {"bridge.encryption.default": False}
    async with restartable_stack(db_url, tmp_path, overrides=overrides) as stack:
        alice = await PersonClient.create(stack.synapse, "alice", tmp_path / "alice")
        try:
            portal = await stack.bridge.running.portals.get_or_create(alice.user_id, CONTACT,
                                                              CONTACT_NAME)
            assert portal.record.encrypted is False
            await join(alice, portal.room_id)
            assert ("m.room.encryption", "") not in await room_state(alice, portal.room_id)
            await portal.send(TextMessageEventContent(msgtype=MessageType.TEXT, body="plain"))
            message = await alice.wait_for(
                portal.room_id, lambda e: isinstance(e, RoomMessageText) and e.body == "plain")
            assert not message.decrypted and message.sender == GHOST
        finally:
            await alice.close()
