"""Sending, read-only mode, send statuses and receipts in a portal, seen by a real E2EE client
(both engines)."""

from __future__ import annotations

import asyncio

import pytest
from mautrix.types import Membership
from nio import ReceiptEvent, RoomMessageNotice, RoomSendError, RoomSendResponse, UnknownEvent

from bridge.matrix.portals import SendAs
from bridge.matrix.send_status import SendFailure
from tests.portal.helpers import BOT, CONTACT, CONTACT_NAME, GHOST, join, restartable_stack
from tests.support.matrix_client import PersonClient

pytestmark = pytest.mark.synapse

ALICE = "@alice:localhost"
ALICE_INTERNAL = "1-555@interop"


def notice_containing(text: str):
    return lambda e: isinstance(e, RoomMessageNotice) and text in e.body


def status_of(event_id: str, status: str, reason: str | None = None):
    # The bridge's own chat flow also reports on messages in these portals (their owner is not
    # opted in here), so a status is matched by its reason where the test posts one itself.
    return lambda e: (isinstance(e, UnknownEvent) and e.type == "com.beeper.message_send_status"
                      and e.source["content"]["m.relates_to"]["event_id"] == event_id
                      and e.source["content"]["status"] == status
                      and (reason is None or e.source["content"].get("reason") == reason))


async def open_portal(stack, tmp_path):
    alice = await PersonClient.create(stack.synapse, "alice", tmp_path / "alice")
    # Status events have a type nio does not know; record them too.
    alice.client.add_event_callback(alice._record, UnknownEvent)
    portal = await stack.bridge.running.portals.get_or_create(ALICE, CONTACT, CONTACT_NAME)
    await join(alice, portal.room_id)
    return alice, portal


async def send_as_alice(alice: PersonClient, room_id: str, body: str):
    await alice.sync()
    return await alice.client.room_send(room_id, "m.room.message",
                                        {"msgtype": "m.text", "body": body},
                                        ignore_unverified_devices=True)


async def test_read_only_portal_refuses_the_users_messages(db_url, tmp_path):
    async with restartable_stack(db_url, tmp_path) as stack:
        alice, portal = await open_portal(stack, tmp_path)
        try:
            allowed = await send_as_alice(alice, portal.room_id, "still allowed")
            assert isinstance(allowed, RoomSendResponse), allowed

            portals = stack.bridge.running.portals
            assert await portals.set_read_only_for_user(
                ALICE, "you turned off third-party chats.") == [portal]
            assert await portals.set_read_only_for_user(ALICE, "again") == []  # already so
            notice = await alice.wait_for(portal.room_id, lambda e: notice_containing(
                "third-party chats")(e) and "read-only" in e.body)
            assert notice.decrypted and notice.sender == BOT
            refused = await send_as_alice(alice, portal.room_id, "should not go through")
            assert isinstance(refused, RoomSendError), refused
            assert refused.status_code == "M_FORBIDDEN"
            assert portal.read_only
            assert (await stack.bridge.running.portals.by_room(portal.room_id)).read_only
            # The contact and the bot can still write into the room.
            await portal.send_notice("The contact's history stays here.", sender=SendAs.GHOST)
            await alice.wait_for(portal.room_id, notice_containing("history stays"))

            await portal.set_writable()
            again = await send_as_alice(alice, portal.room_id, "allowed again")
            assert isinstance(again, RoomSendResponse), again
        finally:
            await alice.close()


async def test_send_status_failure_notice_and_receipts(db_url, tmp_path):
    async with restartable_stack(db_url, tmp_path) as stack:
        alice, portal = await open_portal(stack, tmp_path)
        try:
            delivered = (await send_as_alice(alice, portal.room_id, "hello bob")).event_id
            refused = (await send_as_alice(alice, portal.room_id, "hello again")).event_id

            await portal.status.pending(delivered)
            await alice.wait_for(portal.room_id, status_of(delivered, "PENDING"))
            await portal.status.success(delivered)
            await alice.wait_for(portal.room_id, status_of(delivered, "SUCCESS"))

            notice_id = await portal.status.failure(refused, SendFailure.BLOCKED)
            status = (await alice.wait_for(portal.room_id, lambda e: status_of(
                refused, "FAIL_PERMANENT", "m.no_permission")(e)
                and "blocked" in e.source["content"].get("message", ""))).source
            assert status["sender"] == BOT
            assert status["content"]["network"] == "interop"
            assert status["content"]["m.relates_to"]["rel_type"] == "m.reference"
            assert status["content"]["reason"] == "m.no_permission"
            assert "blocked" in status["content"]["message"]
            notice = await alice.wait_for(portal.room_id, lambda e: notice_containing(
                "not delivered")(e) and "blocked" in e.body)
            assert notice.decrypted and notice.event_id == notice_id
            assert CONTACT_NAME in notice.body and "blocked" in notice.body
            relates = notice.source["content"]["m.relates_to"]
            assert relates["m.in_reply_to"]["event_id"] == refused

            await portal.status.failure(refused, SendFailure.GATEWAY_UNREACHABLE)
            retrying = (await alice.wait_for(portal.room_id,
                                             status_of(refused, "FAIL_RETRIABLE"))).source
            assert retrying["content"]["reason"] == "m.foreign_network_error"
            await alice.wait_for(portal.room_id, notice_containing("keeps trying"))

            # Receipts from the contact: mapped through the message map to the ghost's marker.
            await portal.record_message(event_id=delivered, stanza_id="S-1",
                                        sender=ALICE_INTERNAL, from_matrix=True, timestamp=1)
            await portal.record_message(event_id=refused, stanza_id="S-2",
                                        sender=ALICE_INTERNAL, from_matrix=True, timestamp=2)
            covered = await portal.handle_contact_receipt(["S-1", "unknown"], read=False)
            assert covered == [delivered]
            success = (await alice.wait_for(
                portal.room_id,
                lambda e: status_of(delivered, "SUCCESS")(e)
                and "delivered_to_users" in e.source["content"])).source
            assert success["content"]["delivered_to_users"] == [GHOST]

            receipts: list = []
            alice.client.add_ephemeral_callback(
                lambda room, event: receipts.extend(event.receipts), ReceiptEvent)
            assert await portal.handle_contact_receipt(["S-1", "S-2"], read=True) == [
                delivered, refused]
            for _ in range(50):
                if any(r.user_id == GHOST and r.event_id == refused for r in receipts):
                    break
                await alice.sync()
            assert any(r.user_id == GHOST and r.event_id == refused
                       and r.receipt_type == "m.read" for r in receipts), receipts
        finally:
            await alice.close()


async def test_a_user_who_left_is_invited_again(db_url, tmp_path):
    async with restartable_stack(db_url, tmp_path) as stack:
        alice, portal = await open_portal(stack, tmp_path)
        try:
            assert await portal.ensure_user_invited() is False  # joined: nothing to do
            # A lost membership cache is refilled from the homeserver, not guessed.
            state_store = stack.bridge.running.appservice.state_store
            await stack.bridge.running.db.execute(
                "DELETE FROM mx_user_profile WHERE room_id=$1 AND user_id=$2",
                portal.room_id, ALICE)
            assert await state_store.get_membership(portal.room_id, ALICE) == Membership.LEAVE
            assert await portal.ensure_user_invited() is False
            assert await state_store.get_membership(portal.room_id, ALICE) == Membership.JOIN
            await alice.client.room_leave(portal.room_id)
            assert portal.room_id not in (await alice.client.joined_rooms()).rooms
            # The leave reaches the bridge in a later homeserver transaction.
            for _ in range(100):
                if await state_store.get_membership(portal.room_id, ALICE) == Membership.LEAVE:
                    break
                await asyncio.sleep(0.1)
            assert await state_store.get_membership(portal.room_id, ALICE) == Membership.LEAVE
            again = await stack.bridge.running.portals.get_or_create(ALICE, CONTACT, CONTACT_NAME)
            assert again is portal
            await alice.sync()
            assert portal.room_id in alice.client.invited_rooms
            assert await portal.ensure_user_invited() is False  # invited: nothing to do
        finally:
            await alice.close()
