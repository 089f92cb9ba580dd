"""Admin commands, and their refusals for people without the admin level (both engines)."""

from __future__ import annotations

import pytest

from tests.support.matrix_client import PersonClient
from tests.support.stack import running_stack

from .helpers import BOT, notice, opted_in_person

pytestmark = pytest.mark.synapse


async def test_admin_commands_and_refusals(db_url, tmp_path):
    async with running_stack(db_url, tmp_path) as stack:
        alice, alice_room, alice_id = await opted_in_person(stack, "alice", tmp_path / "alice")
        admin = await PersonClient.create(stack.synapse, "admin", tmp_path / "admin")
        try:
            room = await admin.create_dm(BOT)
            await admin.wait_for_member(room, BOT)

            await alice.send_text(alice_room, "users")
            await alice.wait_for(alice_room, notice("`users` is for bridge admins only"))
            await alice.send_text(alice_room, "help")
            help_text = await alice.wait_for(alice_room, notice("Commands you can use"))
            assert "`opt-out" in help_text.body and "`users`" not in help_text.body

            await admin.send_text(room, "help")
            assert "`force-opt-out" in (await admin.wait_for(
                room, notice("Commands you can use"))).body

            await admin.send_text(room, "users")
            listing = await admin.wait_for(room, notice("@alice:localhost"))
            assert "active" in listing.body and "alice" in listing.body

            await admin.send_text(room, "stats")
            stats = await admin.wait_for(room, notice("Bridge statistics"))
            assert "1 active" in stats.body

            await admin.send_text(room, "broadcast maintenance tonight at 22:00")
            await admin.wait_for(room, notice("Sent to 1 opted-in user"))
            await alice.wait_for(alice_room, notice("maintenance tonight at 22:00"))

            await admin.send_text(room, "reconnect alice")
            await admin.wait_for(room, notice("Give one Matrix user ID"))
            await admin.send_text(room, "reconnect @alice:localhost")
            await admin.wait_for(room, notice("Reconnecting @alice:localhost"))

            await admin.send_text(room, "force-opt-out @nobody:localhost")
            await admin.wait_for(room, notice("@nobody:localhost: You are not opted in"))
            await admin.send_text(room, "force-opt-out @alice:localhost")
            await admin.wait_for(room, notice("@alice:localhost is opted out"))
            account = await stack.bridge.running.partners.accounts.get("@alice:localhost")
            assert account.state.value == "opted_out" and alice_id
        finally:
            await alice.close()
            await admin.close()
