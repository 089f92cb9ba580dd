"""The management room with a real E2EE client: the bot joins an encrypted DM, reads commands
encrypted by the person's client, and answers encrypted (both engines)."""

from __future__ import annotations

import pytest
from nio import RoomMessageNotice

from bridge import __version__
from tests.support.matrix_client import PersonClient
from tests.support.stack import running_stack

pytestmark = pytest.mark.synapse

BOT = "@interopbot:localhost"


def notice_containing(text: str):
    return lambda e: isinstance(e, RoomMessageNotice) and text in e.body


async def test_encrypted_management_room_answers_commands(db_url, tmp_path):
    async with running_stack(db_url, tmp_path) as stack:
        synapse = stack.synapse
        alice = await PersonClient.create(synapse, "alice", tmp_path / "alice")
        try:
            room_id = await alice.create_dm(BOT, encrypted=True)
            await alice.wait_for_member(room_id, BOT)
            welcome = await alice.wait_for(room_id, notice_containing("management room"))
            # nio only hands over a decrypted event as RoomMessageNotice with .decrypted set.
            assert welcome.decrypted

            await alice.send_text(room_id, "help")
            answer = await alice.wait_for(room_id, notice_containing("Commands you can use"))
            assert answer.decrypted
            assert "`ping`" in answer.body and "`version`" in answer.body

            await alice.send_text(room_id, "version")
            assert (await alice.wait_for(room_id, notice_containing(__version__))).decrypted

            await alice.send_text(room_id, "frobnicate")
            await alice.wait_for(room_id, notice_containing("Unknown command `frobnicate`"))
        finally:
            await alice.close()


async def test_commands_elsewhere_need_the_prefix(db_url, tmp_path):
    async with running_stack(db_url, tmp_path) as stack:
        synapse = stack.synapse
        alice = await PersonClient.create(synapse, "alice", tmp_path / "alice")
        bob = await PersonClient.create(synapse, "bob", tmp_path / "bob")
        try:
            response = await alice.client.room_create(invite=[BOT, bob.user_id])
            room_id = response.room_id
            await alice.wait_for_member(room_id, BOT)
            await alice.send_text(room_id, "ping")
            await alice.send_text(room_id, "!interop ping")
            pong = await alice.wait_for(room_id, notice_containing("Pong"))
            pongs = [e for e in alice.timeline[room_id] if notice_containing("Pong")(e)]
            assert len(pongs) == 1 and not pong.decrypted  # unencrypted room, plain answer
        finally:
            await alice.close()
            await bob.close()
