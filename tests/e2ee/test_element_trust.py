"""The bridge as today's Element sees it (both engines): matrix-js-sdk with its Rust crypto, the
person's own account cross-signed, insecure devices excluded (MSC4153,
``OnlySignedDevicesIsolationMode``).

- The person opts in through the management room: the bot's notices decrypt without a shield,
  and what the person sends reaches the bot (their client shares room keys with the bot's
  device only because it is cross-signed).
- Every message type from a contact decrypts without a shield; each Megolm session comes from a
  device of that ghost, signed by the ghost's self-signing key, signed by its master key.
- Every message type from the person reaches the contact.
- After a restart: the same devices, no new identity, still no shield.
"""

from __future__ import annotations

import aiohttp
import pytest
from mautrix.crypto.attachments import encrypt_attachment

from bridge.content import (
    Audio,
    Document,
    Edit,
    Image,
    Location,
    MessageKey,
    Reaction,
    ReplyTo,
    Revoke,
    Text,
    Video,
)
from bridge.content.models import MediaKind
from tests.e2e import samples
from tests.e2e.helpers import (
    BOT,
    gatekeeper_inbox,
    gatekeeper_media,
    send_as_gatekeeper,
    simulated_user,
)
from tests.element.client import ElementClient, ReceivedEvent, register_user
from tests.support.stack import Stack, running_stack

from .keys import cross_signing_chain, devices_of, query_keys

pytestmark = pytest.mark.synapse


async def element_person(stack: Stack, directory, localpart: str) -> ElementClient:
    password = f"{localpart}-password"
    user_id, token, device_id = await register_user(stack.synapse.address, localpart, password)
    person = await ElementClient.start(
        stack.synapse.address, user_id=user_id, access_token=token, device_id=device_id,
        password=password, exclude_insecure_devices=True,
        log_path=directory / f"{localpart}-element.log")
    await person.bootstrap_cross_signing()
    person.access_token = token  # type: ignore[attr-defined]
    return person


def assert_no_shield(event: ReceivedEvent) -> None:
    assert event.encrypted, f"{event.type} from {event.sender} was sent in the clear"
    assert event.decrypted, (event.decryption_error, event.decryption_error_message)
    assert (event.shield_colour, event.shield_reason) == ("NONE", None), \
        f"{event.type} from {event.sender}: {event.shield_colour} {event.shield_reason}"


async def opt_in(person: ElementClient) -> str:
    room = await person.create_room(invite=[BOT], encrypted=True, is_direct=True)
    assert_no_shield(await person.wait_event(room, sender=BOT, body_contains="management room",
                                             timeout=60))
    await person.send_text(room, "opt-in")
    assert_no_shield(await person.wait_event(room, sender=BOT, body_contains="Before you turn on",
                                             timeout=60))
    await person.send_text(room, "opt-in confirm")
    assert_no_shield(await person.wait_event(room, sender=BOT,
                                             body_contains="third-party chats are on",
                                             timeout=60))
    return room


async def upload_encrypted(homeserver: str, token: str, data: bytes) -> dict:
    ciphertext, file = encrypt_attachment(data)
    async with aiohttp.ClientSession() as http, http.post(
            f"{homeserver}/_matrix/media/v3/upload", data=ciphertext,
            headers={"Authorization": f"Bearer {token}",
                     "Content-Type": "application/octet-stream"}) as response:
        assert response.status == 200, await response.text()
        file.url = (await response.json())["content_uri"]
    return file.serialize()


async def test_every_message_type_both_ways_without_a_shield(db_url, tmp_path):
    async with running_stack(db_url, tmp_path) as stack:
        alice = await element_person(stack, tmp_path, "alice")
        try:
            management = await opt_in(alice)
            alice_id = (await stack.bridge.running.partners.accounts.get(
                                                                         alice.user_id)).internal_id
            await simulated_user(stack, "gina")

            async def gina_sends(stanza_id: str, content) -> None:
                await send_as_gatekeeper(stack, "gina", alice_id, content, stanza_id=stanza_id)

            # -- from the contact: every type, each checked for its shield and its device --
            await gina_sends("G1", Text(text="*hello* alice"))
            room = await alice.wait_invite(timeout=60)
            await alice.join(room)
            first = await alice.wait_event(room, type="m.room.message", timeout=60)
            ghost = first.sender
            from_ghost = [first]

            async def ghost_event(**match) -> ReceivedEvent:
                event = await alice.wait_event(room, sender=ghost, timeout=60, **match)
                from_ghost.append(event)
                return event

            image = await gatekeeper_media(stack, MediaKind.IMAGE, samples.png(), "image/png")
            await gina_sends("G2", Image(media=image, caption="red", width=16, height=12))
            await ghost_event(body_contains="red")
            video = await gatekeeper_media(stack, MediaKind.VIDEO, samples.mp4(), "video/mp4")
            await gina_sends("G3", Video(media=video, width=32, height=24, duration_seconds=1))
            await ghost_event(type="m.room.message")
            voice = await gatekeeper_media(stack, MediaKind.AUDIO, samples.ogg_opus(),
                                           "audio/ogg; codecs=opus")
            await gina_sends("G4", Audio(media=voice, duration_seconds=2, voice_note=True))
            await ghost_event(type="m.room.message")
            document = await gatekeeper_media(stack, MediaKind.DOCUMENT, samples.document(),
                                              "text/plain")
            await gina_sends("G5", Document(media=document, file_name="minutes.txt"))
            await ghost_event(body_contains="minutes.txt")
            await gina_sends("G6", Location(latitude=52.5163, longitude=13.3777, name="Tor"))
            await ghost_event(body_contains="Tor")
            await gina_sends("G7", Text(text="a reply", reply_to=ReplyTo(stanza_id="G1")))
            await ghost_event(body_contains="a reply")
            own = MessageKey(chat_id=alice_id, id="G1", from_me=True)
            await gina_sends("G8", Edit(target=own, new_content=Text(text="hello, edited")))
            edit = await ghost_event(body_contains="hello, edited")
            assert edit.content["m.relates_to"]["rel_type"] == "m.replace"
            await gina_sends("G9", Reaction(target=own, text="👍"))
            reaction = await ghost_event(type="m.reaction")
            assert reaction.content["m.relates_to"]["key"] == "👍"
            await gina_sends("G10", Revoke(target=MessageKey(chat_id=alice_id, id="G3",
                                                             from_me=True)))
            await alice.wait_event(room, sender=ghost, type="m.room.redaction", timeout=60)

            keys = await query_keys(stack.synapse.address, alice.access_token, ghost)
            devices = await alice.device_info(ghost)
            ghost_devices = {event.sender_device_id for event in from_ghost}
            assert len(ghost_devices) == 1, ghost_devices
            [ghost_device] = ghost_devices
            for event in from_ghost:
                assert_no_shield(event)
                assert event.sender_device_cross_signed, event
            assert devices[ghost_device]["cross_signed_by_owner"], devices
            ghost_master = cross_signing_chain(keys, ghost, ghost_device)

            # -- from the person: every type reaches the contact --
            homeserver = stack.synapse.address
            sent = 0

            async def alice_sends(content: dict, event_type: str = "m.room.message"):
                nonlocal sent
                event_id = await alice.send(room, content, event_type=event_type)
                sent += 1
                entries = await gatekeeper_inbox(stack, "gina", sent, timeout=60)
                return event_id, entries[sent - 1][1]

            async def media(data: bytes, msgtype: str, body: str, info: dict, **extra):
                file = await upload_encrypted(homeserver, alice.access_token, data)
                return await alice_sends({"msgtype": msgtype, "body": body, "file": file,
                                          "info": {"size": len(data), **info}, **extra})

            text_id, text = await alice_sends({"msgtype": "m.text", "body": "hi gina"})
            assert isinstance(text, Text) and text.text == "hi gina"
            image_id, image_model = await media(samples.png(), "m.image", "red.png",
                                                {"mimetype": "image/png", "w": 16, "h": 12})
            assert isinstance(image_model, Image)
            _, video_model = await media(samples.mp4(), "m.video", "clip.mp4",
                                         {"mimetype": "video/mp4", "duration": 1000})
            assert isinstance(video_model, Video)
            _, voice_model = await media(
                samples.ogg_opus(), "m.audio", "Voice message",
                {"mimetype": "audio/ogg", "duration": 2000},
                **{"org.matrix.msc1767.audio": {"duration": 2000},
                   "org.matrix.msc3245.voice": {}})
            assert isinstance(voice_model, Audio) and voice_model.voice_note
            _, document_model = await media(samples.document(), "m.file", "minutes.txt",
                                            {"mimetype": "text/plain"})
            assert isinstance(document_model, Document)
            _, location = await alice_sends({"msgtype": "m.location", "body": "Tor",
                                             "geo_uri": "geo:52.5163,13.3777"})
            assert isinstance(location, Location)
            _, reply = await alice_sends({"msgtype": "m.text", "body": "replying",
                                          "m.relates_to": {"m.in_reply_to": {
                                              "event_id": first.event_id}}})
            assert isinstance(reply, Text) and reply.reply_to is not None
            _, edit_model = await alice_sends({
                "msgtype": "m.text", "body": "* hi gina!",
                "m.new_content": {"msgtype": "m.text", "body": "hi gina!"},
                "m.relates_to": {"rel_type": "m.replace", "event_id": text_id}})
            assert isinstance(edit_model, Edit)
            # js-sdk sends reactions and redactions in the clear, as Element does.
            reaction_id = await alice.send_reaction(room, first.event_id, "🎉")
            sent += 1
            _, reaction_model = (await gatekeeper_inbox(stack, "gina", sent, timeout=60))[-1]
            assert isinstance(reaction_model, Reaction) and reaction_model.text == "🎉"
            await alice.redact(room, image_id)
            sent += 1
            _, revoke = (await gatekeeper_inbox(stack, "gina", sent, timeout=60))[-1]
            assert isinstance(revoke, Revoke)
            assert reaction_id

            # -- the bot's notices in the portal too (here: a type that cannot be bridged) --
            await alice.send(room, {"msgtype": "org.example.hologram", "body": "hologram"})
            refusal = await alice.wait_event(room, sender=BOT, body_contains="not delivered",
                                             timeout=60)
            assert_no_shield(refusal)

            # -- a restart: same devices and identities, still no shield --
            as_token = stack.bridge.config["appservice.as_token"]
            bot_devices = await devices_of(homeserver, as_token, BOT)
            await stack.restart_bridge()
            await gina_sends("G11", Text(text="after the restart"))
            after = await alice.wait_event(room, sender=ghost, body_contains="after the restart",
                                           timeout=60)
            assert_no_shield(after)
            assert after.sender_device_id == ghost_device
            await alice.send_text(management, "status")
            assert_no_shield(await alice.wait_event(management, sender=BOT,
                                                    body_contains="cross-signed", timeout=60))
            keys = await query_keys(homeserver, alice.access_token, ghost)
            assert cross_signing_chain(keys, ghost, ghost_device) == ghost_master
            assert await devices_of(homeserver, as_token, BOT) == bot_devices
            assert await devices_of(homeserver, as_token, ghost) == [ghost_device]
            assert len(await gatekeeper_inbox(stack, "gina", sent)) == sent
        finally:
            await alice.stop()
