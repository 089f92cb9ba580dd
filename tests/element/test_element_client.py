"""The Element test client (matrix-js-sdk 43, Rust crypto) against a real Synapse: it decrypts
what cross-signed devices send, and in "exclude insecure devices" mode (MSC4153,
OnlySignedDevicesIsolationMode) it refuses both to decrypt from and to share keys with a device
its owner has not cross-signed, as Element Web does by default."""

from __future__ import annotations

import asyncio

import pytest

from .client import ElementClient, ElementClientError


async def dm(creator: ElementClient, other: ElementClient) -> str:
    """An encrypted DM from ``creator`` to ``other``, both joined (and each seeing the other)."""
    room_id = await creator.create_room(invite=[other.user_id])
    assert await other.wait_invite() == room_id
    await other.join(room_id)
    await creator.wait_membership(room_id, other.user_id)
    return room_id


@pytest.mark.synapse
@pytest.mark.timeout(180)
async def test_cross_signed_devices_decrypt_without_shield(make_client):
    alice = await make_client("alice")
    bob = await make_client("bob")
    for client in (alice, bob):
        status = await client.own_status()
        assert status["exclude_insecure_devices"] is True
        assert status["cross_signing_ready"] and status["device_cross_signed"], status

    room_id = await dm(alice, bob)
    event_id = await alice.send_text(room_id, "hello from a cross-signed device")
    event = await bob.wait_event(room_id, sender=alice.user_id)

    assert event.event_id == event_id
    assert event.encrypted and event.wire_type == "m.room.encrypted"
    assert event.decrypted, event
    assert event.decryption_error is None
    assert event.type == "m.room.message"
    assert event.content == {"msgtype": "m.text", "body": "hello from a cross-signed device"}
    # A cross-signed device of a user bob has not verified: no shield at all.
    assert (event.shield_colour, event.shield_reason) == ("NONE", None)
    assert event.sender_device_id == alice.device_id
    assert event.sender_device_cross_signed is True
    assert event.sender_device_verified is False  # bob never verified alice
    assert event.session_id

    devices = await bob.device_info(alice.user_id)
    assert set(devices) == {alice.device_id}
    assert devices[alice.device_id]["cross_signed_by_owner"] is True
    assert devices[alice.device_id]["verified"] is False
    identity = await bob.user_cross_signing(alice.user_id)
    assert identity["has_master_key"] is True
    assert identity["master_key"] == alice.info["cross_signing"]["master_key_id"]
    assert identity["verified"] is False

    assert event_id in [e.event_id for e in await bob.events(room_id)]


@pytest.mark.synapse
@pytest.mark.timeout(180)
async def test_messages_from_an_unsigned_device_are_not_decrypted(make_client):
    bob = await make_client("bob")  # cross-signed, excluding insecure devices
    # carol never sets up cross-signing, like a legacy client. She must run without exclusion
    # herself: in exclusion mode js-sdk refuses to send from an account without cross-signing
    # (see the next test).
    carol = await make_client("carol", cross_sign=False, exclude_insecure_devices=False)
    room_id = await dm(carol, bob)

    devices = await bob.device_info(carol.user_id)
    assert devices[carol.device_id]["cross_signed_by_owner"] is False
    assert (await bob.user_cross_signing(carol.user_id))["has_master_key"] is False

    first_id = await carol.send_text(room_id, "first, to an excluding bob")
    first = await bob.wait_event(room_id, sender=carol.user_id)
    assert first.event_id == first_id
    assert first.encrypted and not first.decrypted, first
    assert first.decryption_error == "UNSIGNED_SENDER_DEVICE"
    assert first.decryption_error_message == "The sender identity is not cross-signed."
    assert first.content == {}
    assert first.shield_colour is None
    assert first.sender_device_id == carol.device_id
    assert first.sender_device_cross_signed is False

    # The key was there all along: the same event decrypts once bob stops excluding, and then
    # carries the red "device not verified by its owner" shield.
    await bob.set_exclude_insecure_devices(False)
    retried = await bob.retry_decryption(room_id, first_id)
    assert retried.decrypted, retried
    assert retried.body == "first, to an excluding bob"
    assert (retried.shield_colour, retried.shield_reason) == ("RED", "UNSIGNED_DEVICE")

    await carol.send_text(room_id, "second, to a bob who lets it in")
    second = await bob.wait_event(room_id, sender=carol.user_id)
    assert second.decrypted, second
    assert second.body == "second, to a bob who lets it in"
    assert (second.shield_colour, second.shield_reason) == ("RED", "UNSIGNED_DEVICE")
    assert second.sender_device_id == carol.device_id
    assert second.sender_device_cross_signed is False


@pytest.mark.synapse
@pytest.mark.timeout(180)
async def test_no_room_keys_for_an_unsigned_device(make_client):
    bob = await make_client("bob")
    carol = await make_client("carol", cross_sign=False, exclude_insecure_devices=False)
    room_id = await dm(bob, carol)

    await bob.send_text(room_id, "not for unsigned devices")
    withheld = await carol.wait_event(room_id, sender=bob.user_id)
    assert withheld.encrypted and not withheld.decrypted, withheld
    # bob's device sent carol's an m.room_key.withheld (m.unverified) instead of the key
    assert withheld.decryption_error == "MEGOLM_KEY_WITHHELD_FOR_UNVERIFIED_DEVICE"
    assert withheld.sender_device_id == bob.device_id

    await bob.set_exclude_insecure_devices(False)
    await bob.send_text(room_id, "now shared with every device")
    shared = await carol.wait_event(room_id, sender=bob.user_id)
    assert shared.decrypted, shared
    assert shared.body == "now shared with every device"
    assert (shared.shield_colour, shared.shield_reason) == ("NONE", None)

    # An account without cross-signing cannot send at all in exclusion mode.
    await carol.set_exclude_insecure_devices(True)
    with pytest.raises(ElementClientError, match="cross-signing is not set up"):
        await carol.send_text(room_id, "refused")


@pytest.mark.synapse
@pytest.mark.timeout(120)
async def test_replacing_cross_signing_keys_authenticates_with_the_password(make_client):
    alice = await make_client("alice")
    bob = await make_client("bob")
    first = alice.info["cross_signing"]
    assert first["used_uia"] is False  # Synapse takes first-time keys without UIA (MSC3967)
    room_id = await dm(alice, bob)  # js-sdk tracks the identities of users it shares rooms with
    identity = await bob.user_cross_signing(alice.user_id)
    assert identity["master_key"] == first["master_key_id"]
    assert identity["needs_user_approval"] is False

    second = await alice.bootstrap_cross_signing(reset=True)
    assert second["used_uia"] is True
    assert second["master_key_id"] != first["master_key_id"]
    assert second["device_cross_signed"] is True

    # bob learns of the new identity through the device-list change; it is not the one he
    # pinned, so Element would ask him to acknowledge it, but messages still decrypt unshielded
    async with asyncio.timeout(30):
        while (identity := await bob.user_cross_signing(alice.user_id))["master_key"] \
                != second["master_key_id"]:
            await asyncio.sleep(0.2)
    assert identity["needs_user_approval"] is True
    await alice.send_text(room_id, "after the reset")
    event = await bob.wait_event(room_id, sender=alice.user_id)
    assert event.decrypted and event.body == "after the reset", event
    assert (event.shield_colour, event.shield_reason) == ("NONE", None)
    assert event.sender_device_cross_signed is True


@pytest.mark.synapse
@pytest.mark.timeout(180)
async def test_reactions_redactions_receipts_typing(make_client):
    alice = await make_client("alice")
    bob = await make_client("bob")
    room_id = await dm(alice, bob)

    message_id = await alice.send_text(room_id, "react to me")
    message = await bob.wait_event(room_id, sender=alice.user_id)
    assert message.event_id == message_id and message.decrypted
    await bob.send_receipt(room_id, message_id)
    await bob.typing(room_id, True)

    reaction_id = await bob.send_reaction(room_id, message_id, "👍")
    reaction = await alice.wait_event(room_id, sender=bob.user_id)
    assert reaction.event_id == reaction_id
    # js-sdk sends reactions in the clear even in encrypted rooms (as Element does)
    assert reaction.type == "m.reaction" and not reaction.encrypted
    assert reaction.content["m.relates_to"] == {
        "rel_type": "m.annotation", "event_id": message_id, "key": "👍"}

    redaction_id = await bob.redact(room_id, reaction_id)
    redaction = await alice.wait_event(room_id, sender=bob.user_id, type="m.room.redaction")
    assert redaction.event_id == redaction_id
    assert redaction.content.get("redacts") == reaction_id
    # events() lists what a client received (not what it sent), redactions applied
    seen_by_alice = {e.event_id: e for e in await alice.events(room_id)}
    assert seen_by_alice[reaction_id].redacted and seen_by_alice[reaction_id].content == {}
    assert message_id not in seen_by_alice
    seen_by_bob = {e.event_id: e for e in await bob.events(room_id)}
    assert not seen_by_bob[message_id].redacted and reaction_id not in seen_by_bob


@pytest.mark.timeout(60)
async def test_protocol_refuses_bad_requests(element_node_modules):
    client = await ElementClient.spawn()
    try:
        reply = await client.call("frobnicate", {"x": 1})
        assert reply["id"] == 1 and reply["ok"] is False
        assert 'unknown command "frobnicate"' in reply["error"]

        reply = await client.call("send", {"room_id": "!r:localhost", "content": {}})
        assert reply["ok"] is False and "send `start` first" in reply["error"]

        reply = await client.call("start", {"homeserver": "http://127.0.0.1:9"})
        assert reply["ok"] is False and reply["error"] == "missing field 'user_id'"

        await client.send_raw_line(b"{not json")
        await client.send_raw_line(b"[1, 2]")
        # requests are answered in order here, so this reply comes after the two above
        assert (await client.call("ping"))["ok"] is True
        assert [(r["id"], r["ok"]) for r in client.unmatched_replies] == [(None, False)] * 2
        assert client.unmatched_replies[0]["error"].startswith("invalid JSON")
        assert client.unmatched_replies[1]["error"] == "a request must be a JSON object"
    finally:
        await client.stop()
    assert client.process.returncode == 0
