"""`report`: the person picks messages (the last N, or by replying in the portal), the report
reaches the gateway with exactly those messages, blocks when asked, and every refusal is clear
(both engines)."""

from __future__ import annotations

import dataclasses
import logging

import pytest
from nio import RoomMessageText, RoomSendResponse

from bridge.content import Text
from tests.support.matrix_client import PersonClient
from tests.support.stack import running_stack

from .helpers import (
    BOT,
    join_invited_room,
    notice,
    opted_in_person,
    send_as_gatekeeper,
    simulated_user,
)

pytestmark = pytest.mark.synapse

SECRETS = ["first-offer-5521", "second-offer-5522", "third-offer-5523"]


async def reply_to(person: PersonClient, room_id: str, event_id: str, body: str) -> None:
    await person.sync()
    response = await person.client.room_send(room_id, "m.room.message", {
        "msgtype": "m.text", "body": body,
        "m.relates_to": {"m.in_reply_to": {"event_id": event_id}}},
        ignore_unverified_devices=True)
    assert isinstance(response, RoomSendResponse), response


async def test_report_with_picked_messages_block_and_refusals(db_url, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    overrides = {"bridge.permissions": {"localhost": "user", "@guest:localhost": "none"}}
    async with running_stack(db_url, tmp_path, overrides=overrides) as stack:
        alice, management, alice_id = await opted_in_person(stack, "alice", tmp_path / "alice")
        bob = await PersonClient.create(stack.synapse, "bob", tmp_path / "bob")
        guest = await PersonClient.create(stack.synapse, "guest", tmp_path / "guest")
        try:
            gina = await simulated_user(stack, "gina")
            await simulated_user(stack, "hugo")
            sent = [(await send_as_gatekeeper(stack, "gina", alice_id, Text(text=text)))["id"]
                    for text in SECRETS]
            portal = await join_invited_room(alice)
            await alice.wait_for(portal, lambda e: isinstance(e, RoomMessageText)
                                 and e.body == SECRETS[-1])

            await alice.send_text(management, "help")
            assert "`report <username> [--last N] [--block] [reason…]`" in (
                await alice.wait_for(management, notice("Commands you can use"))).body

            # Refusals: bad arguments, an unknown name, nobody to report, N out of range.
            for command, answer in [
                ("report", "Usage: `report <username>"),
                ("report gina --last 0", "`--last` needs a number"),
                ("report gina --last", "`--last` needs a number"),
                ("report gina --everything", "Unknown option `--everything`"),
                ("report nobody", "There is nobody called **nobody**"),
                ("report hugo", "You have no chat with **hugo**"),
                ("report gina --last 4", "Only 3 message(s) from **gina** can be included"),
                ("report gina --last 21", "`--last` must be a number from 1 to 20"),
            ]:
                await alice.send_text(management, command)
                await alice.wait_for(management, notice(answer))
            assert (await stack.admin.call("GET", "/reports"))[1] == {"reports": []}

            # Not opted in, and not allowed to use the bridge at all.
            bob_room = await bob.create_dm(BOT)
            await bob.wait_for_member(bob_room, BOT)
            await bob.send_text(bob_room, "report gina --last 1")
            await bob.wait_for(bob_room, notice("Third-party chats are off for you"))
            await alice.client.room_invite(management, guest.user_id)
            await guest.client.join(management)
            await guest.wait_for_member(management, guest.user_id)
            await alice.sync()
            await guest.send_text(management, "!interop report gina")
            await guest.wait_for(management, notice("You are not allowed to use this bridge"))

            # The last two messages, with a reason; no block.
            await alice.send_text(management, "report gina --last 2 sends spam offers")
            done = await alice.wait_for(management, notice("Reported **gina**"))
            assert "with 2 of their messages" in done.body and "`R1`" in done.body
            assert "blocked" not in done.body
            status, first = await stack.admin.call("GET", "/reports/R1")
            assert status == 200
            assert (first["reporter"], first["reported"]) == (alice_id, gina)
            assert first["reason"] == "sends spam offers" and not first["block_requested"]
            assert [m["id"] for m in first["messages"]] == sent[1:]
            assert [m["content"]["text"] for m in first["messages"]] == SECRETS[1:]
            assert all(m["t"] > 1_600_000_000 for m in first["messages"])
            assert gina not in (await stack.admin.call("GET", f"/blocks/{alice_id}"))[1][
                "blocked"]

            # Replying to one's own message picks nothing a contact wrote.
            own = await alice.send_text(portal, "my own words")
            await reply_to(alice, portal, own, "!interop report")
            await alice.wait_for(portal, notice("You replied to your own message"))

            # In the portal: a reply to her first message picks it; --block blocks her.
            first_event = next(e for e in alice.timeline[portal]
                               if isinstance(e, RoomMessageText) and e.body == SECRETS[0])
            await reply_to(alice, portal, first_event.event_id, "!interop report --block")
            done = await alice.wait_for(portal, notice("Reported **gina**"))
            assert "with 1 of their messages" in done.body and "**gina** is blocked" in done.body
            await alice.wait_for(portal, notice("blocked"))
            status, second = await stack.admin.call("GET", "/reports/R2")
            assert [m["id"] for m in second["messages"]] == sent[:1]
            assert second["block_requested"] and second["reason"] == ""
            assert gina in (await stack.admin.call("GET", f"/blocks/{alice_id}"))[1]["blocked"]
            assert (await stack.bridge.running.portals.by_room(portal)).blocked

            # The gateway cannot be reached: nothing is reported, and the person is told.
            client = stack.bridge.running.partners.client(alice.user_id)
            client.connection.settings = dataclasses.replace(client.connection.settings,
                                                             request_timeout=2.0)
            await stack.admin.call("PUT", "/faults", {"unavailable": True, "retry_after": 1})
            await stack.admin.call("POST", f"/partners/{alice_id}/disconnect")
            await alice.send_text(portal, "!interop report --last 1")
            await alice.wait_for(portal, notice("The gateway cannot be reached right now"))
            await stack.admin.call("PUT", "/faults", {"unavailable": False})
            assert len((await stack.admin.call("GET", "/reports"))[1]["reports"]) == 2
        finally:
            for person in (alice, bob, guest):
                await person.close()
    # What was disclosed went to the gateway only: no log line carries it.
    for secret in SECRETS:
        assert secret not in caplog.text


async def test_a_message_request_can_be_reported_and_blocked(db_url, tmp_path):
    async with running_stack(db_url, tmp_path,
                             overrides={"bridge.message_requests": True}) as stack:
        alice, management, alice_id = await opted_in_person(stack, "alice", tmp_path / "alice")
        try:
            mallory = await simulated_user(stack, "mallory")
            sent = await send_as_gatekeeper(stack, "mallory", alice_id,
                                            Text(text="claim your prize-8841"))
            await alice.wait_for(management, notice("**mallory** wants to chat"))
            await alice.send_text(management, "report mallory --last 1 --block scam")
            done = await alice.wait_for(management, notice("Reported **mallory**"))
            assert "with 1 of their messages" in done.body and "is blocked" in done.body
            _, report = await stack.admin.call("GET", "/reports/R1")
            assert [m["id"] for m in report["messages"]] == [sent["id"]]
            assert report["messages"][0]["content"]["text"] == "claim your prize-8841"
            assert mallory in (await stack.admin.call("GET", f"/blocks/{alice_id}"))[1][
                "blocked"]
            request = await stack.bridge.running.requests.get(alice.user_id, mallory)
            assert request.state.value == "blocked"
            held = await stack.bridge.running.db.fetchval(
                "SELECT COUNT(*) FROM signal_inbound WHERE user_id=$1 AND state='decrypted'",
                alice.user_id)
            assert held == 0  # what the request held was dropped, as with `block`
        finally:
            await alice.close()
