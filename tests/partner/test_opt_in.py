"""Opting in and out through the management room, against Synapse, the sandbox gateway and a
real E2EE client; the state survives a restart of the bridge (both engines)."""

from __future__ import annotations

import pytest
from nio import RoomMessageNotice

from tests.support.matrix_client import PersonClient
from tests.support.stack import running_stack

pytestmark = pytest.mark.synapse

BOT = "@interopbot:localhost"


def notice(text: str):
    return lambda e: isinstance(e, RoomMessageNotice) and text in e.body


async def count_rows(db, table: str, user: str) -> int:
    return await db.fetchval(f"SELECT COUNT(*) FROM {table} WHERE user_id=$1", user)


async def test_opt_in_status_restart_and_opt_out(db_url, tmp_path):
    async with running_stack(db_url, tmp_path) as stack:
        alice = await PersonClient.create(stack.synapse, "alice", tmp_path / "alice")
        try:
            room = await alice.create_dm(BOT)
            await alice.wait_for_member(room, BOT)

            await alice.send_text(room, "status")
            await alice.wait_for(room, notice("Third-party chats: not opted in"))

            # Confirmation without the disclosure first is refused.
            await alice.send_text(room, "opt-in confirm")
            await alice.wait_for(room, notice("Send `opt-in` first"))

            await alice.send_text(room, "opt-in")
            disclosure = await alice.wait_for(room, notice("Before you turn on third-party chats"))
            assert "alice" in disclosure.body and "IP address" in disclosure.body
            _, partners = await stack.admin.call("GET", "/partners")
            assert partners["partners"] == []  # nothing happens before confirmation

            await alice.send_text(room, "opt-in confirm")
            await alice.wait_for(room, notice("third-party chats are on"))
            _, partners = await stack.admin.call("GET", "/partners")
            [enlisted] = partners["partners"]
            assert enlisted["visible_id"] == "alice"
            assert enlisted["one_time_prekeys"] >= 50  # uploaded over the Noise channel

            await stack.restart_bridge()
            await alice.send_text(room, "status")
            status = await alice.wait_for(room, notice("Third-party chats: opted in"))
            assert enlisted["internal_id"] in status.body
            assert "One-time prekeys left at the gateway: 50" in status.body

            await alice.send_text(room, "opt-out")
            await alice.wait_for(room, notice("Send `opt-out confirm`"))
            await alice.send_text(room, "opt-out confirm")
            await alice.wait_for(room, notice("Third-party chats are off"))
            status, gone = await stack.admin.call("GET", f"/partners/{enlisted['internal_id']}")
            assert status == 404 and "deleted" in str(gone)
            db = stack.bridge.running.db
            for table in ("signal_identity", "signal_pre_key", "trust_user_key"):
                assert await count_rows(db, table, "@alice:localhost") == 0, table
            account = await stack.bridge.running.partners.accounts.get("@alice:localhost")
            assert account.state.value == "opted_out" and account.internal_id is None
        finally:
            await alice.close()


async def test_unenlisted_by_the_gateway_is_explained_in_the_management_room(db_url, tmp_path):
    async with running_stack(db_url, tmp_path) as stack:
        alice = await PersonClient.create(stack.synapse, "alice", tmp_path / "alice")
        try:
            room = await alice.create_dm(BOT)
            await alice.wait_for_member(room, BOT)
            await alice.send_text(room, "opt-in")
            await alice.wait_for(room, notice("Before you turn on"))
            await alice.send_text(room, "opt-in confirm")
            await alice.wait_for(room, notice("third-party chats are on"))
            account = await stack.bridge.running.partners.accounts.get("@alice:localhost")
            client = stack.bridge.running.partners.client("@alice:localhost")
            client.wake()
            await client.connection.wait_open(10)

            status, _ = await stack.admin.call("POST",
                                               f"/partners/{account.internal_id}/unenlist")
            assert status == 200
            await alice.wait_for(room, notice("The gatekeeper removed your third-party chats"))
            await alice.send_text(room, "status")
            await alice.wait_for(room, notice("removed by the gateway"))
            assert await count_rows(stack.bridge.running.db, "trust_user_key",
                                    "@alice:localhost") == 0
        finally:
            await alice.close()
