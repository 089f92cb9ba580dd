"""Every event the bridge sends is encrypted by a device of its sender, cross-signed by that
sender: the bot's notices by the bot's device, a ghost's messages by the ghost's own device. The
devices are made without /login and survive restarts without a new identity (both engines).

Signatures are checked here with libolm over what ``/keys/query`` returns to a person's client,
not with the bridge's code."""

from __future__ import annotations

import pytest
from nio import RoomMessageNotice, RoomMessageText

from bridge.content import Text
from tests.e2e.helpers import (
    BOT,
    join_invited_room,
    notice,
    opted_in_person,
    send_as_gatekeeper,
    simulated_user,
)
from tests.support.stack import running_stack

from .keys import cross_signing_chain, device_with_curve_key, devices_of, query_keys

pytestmark = pytest.mark.synapse


def text(body: str):
    return lambda e: isinstance(e, RoomMessageText) and e.body == body


async def test_each_sender_encrypts_with_its_own_cross_signed_device(db_url, tmp_path):
    async with running_stack(db_url, tmp_path) as stack:
        alice, management, alice_id = await opted_in_person(stack, "alice", tmp_path / "alice")
        homeserver = stack.synapse.address
        as_token = stack.bridge.config["appservice.as_token"]
        try:
            await simulated_user(stack, "gina")
            await send_as_gatekeeper(stack, "gina", alice_id, Text(text="before restart"))
            portal = await join_invited_room(alice)
            first = await alice.wait_for(portal, text("before restart"))
            ghost = first.sender
            assert first.decrypted and ghost.startswith("@interop_")

            bot_notice = await alice.wait_for(management, notice("third-party chats are on"))
            assert isinstance(bot_notice, RoomMessageNotice) and bot_notice.decrypted

            keys = await query_keys(homeserver, alice.client.access_token, ghost, BOT)
            ghost_device = device_with_curve_key(keys, ghost, first.sender_key)
            assert ghost_device, "the ghost's message was not encrypted by a device of the ghost"
            bot_device = device_with_curve_key(keys, BOT, bot_notice.sender_key)
            assert bot_device, "the bot's notice was not encrypted by a device of the bot"
            assert bot_device == stack.bridge.running.encryption.device_id
            ghost_master = cross_signing_chain(keys, ghost, ghost_device)
            bot_master = cross_signing_chain(keys, BOT, bot_device)
            assert ghost_master != bot_master
            # One device each: no /login leftovers, nothing made twice.
            assert await devices_of(homeserver, as_token, BOT) == [bot_device]
            assert await devices_of(homeserver, as_token, ghost) == [ghost_device]

            status = await stack.bridge.running.encryption.status()
            assert status.master_key == bot_master and status.device_signed

            await stack.restart_bridge()
            await send_as_gatekeeper(stack, "gina", alice_id, Text(text="after restart"))
            second = await alice.wait_for(portal, text("after restart"))
            assert second.decrypted
            await alice.send_text(management, "status")
            await alice.wait_for(management, notice("cross-signed"))

            keys = await query_keys(homeserver, alice.client.access_token, ghost, BOT)
            assert device_with_curve_key(keys, ghost, second.sender_key) == ghost_device
            assert cross_signing_chain(keys, ghost, ghost_device) == ghost_master
            assert cross_signing_chain(keys, BOT, bot_device) == bot_master
            assert await devices_of(homeserver, as_token, BOT) == [bot_device]
            assert await devices_of(homeserver, as_token, ghost) == [ghost_device]
        finally:
            await alice.close()


async def test_a_ghost_that_never_speaks_has_no_device(db_url, tmp_path):
    async with running_stack(db_url, tmp_path) as stack:
        alice, management, _ = await opted_in_person(stack, "alice", tmp_path / "alice")
        try:
            await simulated_user(stack, "hugo")
            await alice.send_text(management, "start-chat hugo")
            portal = await join_invited_room(alice)
            portal_record = await stack.bridge.running.portals.by_room(portal)
            ghost = portal_record.ghost.mxid
            # The bot's notices in the portal come from the bot's device; the ghost only joined.
            assert await stack.bridge.running.encryption.records.get(ghost) is None
            assert await devices_of(stack.synapse.address,
                                    stack.bridge.config["appservice.as_token"], ghost) == []
        finally:
            await alice.close()
