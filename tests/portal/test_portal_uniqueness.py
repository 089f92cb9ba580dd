"""One room per (Matrix user, contact): under concurrency, across bridge instances sharing a
database, and after a restart (both engines, real Synapse)."""

from __future__ import annotations

import asyncio

import pytest
from mautrix.errors import MatrixRequestError

from bridge.matrix.portals import Portals
from tests.portal.helpers import CONTACT, CONTACT_NAME, restartable_stack
from tests.support.matrix_client import PersonClient

pytestmark = pytest.mark.synapse

ALICE = "@alice:localhost"


async def rooms_the_bot_is_in(bridge) -> set[str]:
    return set(await bridge.running.appservice.intent.get_joined_rooms())


async def test_concurrent_calls_create_one_room(db_url, tmp_path):
    async with restartable_stack(db_url, tmp_path) as stack:
        bridge = stack.bridge
        alice = await PersonClient.create(stack.synapse, "alice", tmp_path / "alice")
        try:
            before = await rooms_the_bot_is_in(bridge)
            portals = await asyncio.gather(*(
                bridge.running.portals.get_or_create(ALICE, CONTACT,
                                                     CONTACT_NAME) for _ in range(20)
            ))
            assert len({p.room_id for p in portals}) == 1
            assert len({id(p) for p in portals}) == 1
            assert await rooms_the_bot_is_in(bridge) - before == {portals[0].room_id}
            assert await bridge.running.db.fetchval("SELECT COUNT(*) FROM portal") == 1
            await alice.sync()
            assert list(alice.client.invited_rooms) == [portals[0].room_id]

            # A different contact is a different portal.
            other = await bridge.running.portals.get_or_create(ALICE, "1-20000000000001@interop",
                                                               "Eve")
            assert other.room_id != portals[0].room_id
            assert [p.room_id for p in await bridge.running.portals.for_user(ALICE)] == [
                portals[0].room_id, other.room_id]
        finally:
            await alice.close()


async def test_two_bridge_instances_on_one_database_agree_on_the_room(db_url, tmp_path):
    """No shared lock between them: the table's key decides, and the loser leaves its room."""
    async with restartable_stack(db_url, tmp_path) as stack:
        bridge = stack.bridge
        await stack.synapse.register_user("alice", "alice-password")
        second = Portals(bridge.running.appservice, bridge.running.db,
                         puppets=bridge.running.puppets,
                         sender=bridge.running.sender, encrypt_new_rooms=True)
        first_portal, second_portal = await asyncio.gather(
            bridge.running.portals.get_or_create(ALICE, CONTACT, CONTACT_NAME),
            second.get_or_create(ALICE, CONTACT, CONTACT_NAME),
        )
        assert first_portal.room_id == second_portal.room_id
        assert await bridge.running.db.fetchval("SELECT COUNT(*) FROM portal") == 1
        # The bot is in the stored room only; a losing duplicate was left.
        assert await rooms_the_bot_is_in(bridge) == {first_portal.room_id}


async def test_restart_returns_the_same_room(db_url, tmp_path):
    async with restartable_stack(db_url, tmp_path) as stack:
        alice = await PersonClient.create(stack.synapse, "alice", tmp_path / "alice")
        try:
            created = await stack.bridge.running.portals.get_or_create(ALICE, CONTACT,
                                                                       CONTACT_NAME)
            await created.set_blocked(True)
            bridge = await stack.restart_bridge()
            again = await bridge.running.portals.get_or_create(ALICE, CONTACT, CONTACT_NAME)
            assert again.room_id == created.room_id
            assert again is not created  # a new process, read back from the database
            assert again.blocked
            assert (await bridge.running.portals.by_room(created.room_id)) is again
            assert again.ghost.mxid == created.ghost.mxid
            await alice.sync()
            assert list(alice.client.invited_rooms) == [created.room_id]
        finally:
            await alice.close()


async def test_a_failed_setup_leaves_no_room_behind(db_url, tmp_path):
    async with restartable_stack(db_url, tmp_path) as stack:
        bridge = stack.bridge
        # Nobody registered @ghostly: the homeserver refuses to invite them.
        with pytest.raises(MatrixRequestError):
            await bridge.running.portals.get_or_create("@ghostly:localhost", CONTACT, CONTACT_NAME)
        assert await bridge.running.db.fetchval("SELECT COUNT(*) FROM portal") == 0
        assert await rooms_the_bot_is_in(bridge) == set()
        ghost = await bridge.running.puppets.get(CONTACT)
        assert await ghost.intent.get_joined_rooms() == []

        await stack.synapse.register_user("ghostly", "ghostly-password")
        portal = await bridge.running.portals.get_or_create("@ghostly:localhost", CONTACT,
                                                            CONTACT_NAME)
        assert await rooms_the_bot_is_in(bridge) == {portal.room_id}
