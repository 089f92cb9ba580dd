"""Every message type from the Matrix user's E2EE client (matrix-nio) through an encrypted portal
to the gatekeeper user, whose own Signal client decrypts it: formatting and a pill, media that the
gatekeeper side fetches through the gateway's media proxy and decrypts to the very bytes the
Matrix client uploaded, replies, edits, reactions and their removal, deletions, send statuses,
and a message type that cannot be mapped (failed status and a notice). Both engines."""

from __future__ import annotations

import os

import pytest
from mautrix.types import MessageStatusReason
from nio import RoomMessageNotice, RoomMessageText

from bridge.chats.to_gateway import stanza_id_for
from bridge.content import (
    Audio,
    Document,
    Edit,
    Image,
    Location,
    Reaction,
    Revoke,
    Text,
    Video,
)
from bridge.content.models import MediaKind
from tests.support.stack import running_stack

from . import samples
from .helpers import (
    fetch_as_gatekeeper,
    gatekeeper_inbox,
    join_invited_room,
    opted_in_person,
    record_everything,
    redact,
    relates_to,
    send_as_gatekeeper,
    send_event,
    send_status,
    simulated_user,
    upload_encrypted,
    upload_plain,
    wait_event,
)

pytestmark = pytest.mark.synapse


async def test_every_message_type_from_matrix(db_url, tmp_path):
    async with running_stack(db_url, tmp_path) as stack:
        alice, _, alice_id = await opted_in_person(stack, "alice", tmp_path / "alice")
        record_everything(alice)
        try:
            gina = await simulated_user(stack, "gina")
            await send_as_gatekeeper(stack, "gina", alice_id, Text(text="hi alice"),
                                     stanza_id="G1")
            room = await join_invited_room(alice)
            greeting = await wait_event(alice, room, lambda e: isinstance(e, RoomMessageText))
            ghost = greeting.sender
            portal = await stack.bridge.running.portals.by_room(room)
            received = 0

            async def alice_sends(content: dict, event_type: str = "m.room.message"):
                """Send, wait for gina's client to decrypt it, and for the SUCCESS status."""
                nonlocal received
                event_id = await send_event(alice, room, event_type, content)
                received += 1
                entries = await gatekeeper_inbox(stack, "gina", received)
                entry, model = entries[received - 1]
                assert entry["from"] == alice_id
                status = await send_status(alice, room, event_id)
                assert status["status"] == "SUCCESS", status
                return event_id, entry, model

            async def media(data: bytes, msgtype: str, body: str, info: dict, **extra):
                file = await upload_encrypted(alice, data)
                return await alice_sends({"msgtype": msgtype, "body": body, "file": file,
                                          "info": {"size": len(data), **info}, **extra})

            # -- formatted text with a pill of the contact's ghost --
            text_id, entry, text = await alice_sends({
                "msgtype": "m.text", "body": "hi gina, how are you",
                "format": "org.matrix.custom.html",
                "formatted_body": f'<b>hi</b> <a href="https://matrix.to/#/{ghost}">gina</a>, '
                                  "<i>how</i> are <del>you</del>",
            })
            assert isinstance(text, Text)
            assert text.text == f"*hi* @{portal.ghost.username}, _how_ are ~you~"
            assert text.mentions == (gina,)
            assert entry["id"] == stanza_id_for(text_id)

            # -- image: uploaded encrypted; gina's app fetches the hosted blob via the proxy --
            thumbnail = await upload_encrypted(alice, samples.jpeg_thumbnail())
            image_id, _, image = await media(
                samples.png(), "m.image", "a red picture", {
                    "mimetype": "image/png", "w": 16, "h": 12, "thumbnail_file": thumbnail,
                    "thumbnail_info": {"mimetype": "image/jpeg",
                                       "size": len(samples.jpeg_thumbnail())}},
                filename="red.png")
            assert isinstance(image, Image)
            assert (image.caption, image.width, image.height) == ("a red picture", 16, 12)
            assert image.media.mime_type == "image/png"
            assert image.media.thumbnail == samples.jpeg_thumbnail()
            assert await fetch_as_gatekeeper(stack, MediaKind.IMAGE, image.media) \
                == samples.png()

            # -- video --
            _, _, video = await media(samples.mp4(), "m.video", "clip.mp4", {
                "mimetype": "video/mp4", "w": 32, "h": 24, "duration": 1000})
            assert isinstance(video, Video)
            assert (video.width, video.height, video.duration_seconds) == (32, 24, 1)
            assert await fetch_as_gatekeeper(stack, MediaKind.VIDEO, video.media) \
                == samples.mp4()

            # -- MSC3245 voice message → voice note --
            _, _, voice = await media(
                samples.ogg_opus(), "m.audio", "Voice message",
                {"mimetype": "audio/ogg", "duration": 2000},
                **{"org.matrix.msc1767.audio": {"duration": 2000,
                                                "waveform": [0, 512, 1024] * 10},
                   "org.matrix.msc3245.voice": {}})
            assert isinstance(voice, Audio) and voice.voice_note
            assert voice.duration_seconds == 2 and voice.waveform
            assert voice.media.mime_type.startswith("audio/ogg")
            assert await fetch_as_gatekeeper(stack, MediaKind.AUDIO, voice.media) \
                == samples.ogg_opus()

            # -- other audio --
            _, _, audio = await media(samples.mp3(), "m.audio", "tone.mp3",
                                      {"mimetype": "audio/mpeg", "duration": 2000})
            assert isinstance(audio, Audio) and not audio.voice_note
            assert audio.media.mime_type == "audio/mpeg"
            assert await fetch_as_gatekeeper(stack, MediaKind.AUDIO, audio.media) \
                == samples.mp3()

            # -- a voice message that is not Ogg/Opus is converted into a voice note --
            _, _, converted = await media(
                samples.mp3(), "m.audio", "Voice message", {"mimetype": "audio/mpeg"},
                **{"org.matrix.msc3245.voice": {}})
            assert isinstance(converted, Audio) and converted.voice_note
            assert converted.media.mime_type.startswith("audio/ogg")
            assert converted.duration_seconds == 2 and converted.waveform
            voice_bytes = await fetch_as_gatekeeper(stack, MediaKind.AUDIO, converted.media)
            assert voice_bytes.startswith(b"OggS") and b"OpusHead" in voice_bytes[:128]

            # -- an image without dimensions (measured) and as a plain `url` upload --
            url = await upload_plain(alice, samples.png(), "image/png")
            _, _, measured = await alice_sends({"msgtype": "m.image", "body": "red.png",
                                                "url": url, "info": {"mimetype": "image/png"}})
            assert isinstance(measured, Image)
            assert (measured.width, measured.height, measured.caption) == (16, 12, "")
            assert await fetch_as_gatekeeper(stack, MediaKind.IMAGE, measured.media) \
                == samples.png()

            # -- file with its name --
            _, _, document = await media(samples.document(), "m.file", "minutes.txt",
                                         {"mimetype": "text/plain"}, filename="minutes.txt")
            assert isinstance(document, Document) and document.file_name == "minutes.txt"
            assert await fetch_as_gatekeeper(stack, MediaKind.DOCUMENT, document.media) \
                == samples.document()

            # -- a file of several MiB --
            big = os.urandom(3 * 1024 * 1024 + 7)
            _, _, big_document = await media(big, "m.file", "big.bin",
                                             {"mimetype": "application/octet-stream"})
            assert isinstance(big_document, Document) and big_document.file_name == "big.bin"
            assert await fetch_as_gatekeeper(stack, MediaKind.DOCUMENT, big_document.media) \
                == big

            # -- location --
            _, _, location = await alice_sends({"msgtype": "m.location",
                                                "body": "Brandenburger Tor",
                                                "geo_uri": "geo:52.5163,13.3777"})
            assert isinstance(location, Location)
            assert (location.latitude, location.longitude) == (52.5163, 13.3777)
            assert location.name == "Brandenburger Tor"

            # -- reply to gina's first message --
            _, _, reply = await alice_sends({
                "msgtype": "m.text", "body": "replying to you",
                "m.relates_to": {"m.in_reply_to": {"event_id": greeting.event_id}}})
            assert isinstance(reply, Text) and reply.text == "replying to you"
            assert reply.reply_to is not None and reply.reply_to.stanza_id == "G1"

            # -- a reply with the rich-reply fallback older clients add: the quote is dropped --
            _, _, fallback = await alice_sends({
                "msgtype": "m.text", "body": f"> <{ghost}> hi alice\n\nwith fallback",
                "format": "org.matrix.custom.html",
                "formatted_body": f'<mx-reply><blockquote><a href="https://matrix.to/#/{room}/'
                                  f'{greeting.event_id}">In reply to</a> <a href="https://'
                                  f'matrix.to/#/{ghost}">{ghost}</a><br>hi alice</blockquote>'
                                  "</mx-reply>with <b>fallback</b>",
                "m.relates_to": {"m.in_reply_to": {"event_id": greeting.event_id}}})
            assert isinstance(fallback, Text) and fallback.text == "with *fallback*"
            assert fallback.reply_to is not None and fallback.reply_to.stanza_id == "G1"

            # -- edit of the first text --
            _, _, edit = await alice_sends({
                "msgtype": "m.text", "body": "* hi gina, edited",
                "m.new_content": {"msgtype": "m.text", "body": "hi gina, edited"},
                "m.relates_to": {"rel_type": "m.replace", "event_id": text_id}})
            assert isinstance(edit, Edit)
            assert edit.target.id == stanza_id_for(text_id) and edit.target.from_me
            assert isinstance(edit.new_content, Text)
            assert edit.new_content.text == "hi gina, edited"

            # -- reaction (sent in the clear, as Element does), then its removal --
            reaction_id, _, reaction = await alice_sends({"m.relates_to": {
                "rel_type": "m.annotation", "event_id": greeting.event_id, "key": "👍"}},
                event_type="m.reaction")
            assert isinstance(reaction, Reaction) and reaction.text == "👍"
            assert reaction.target.id == "G1" and not reaction.target.from_me
            reaction_removal = await redact(alice, room, reaction_id)
            assert (await send_status(alice, room, reaction_removal))["status"] == "SUCCESS"
            received += 1
            _, removal = (await gatekeeper_inbox(stack, "gina", received))[received - 1]
            assert isinstance(removal, Reaction) and removal.is_revoke
            assert removal.target.id == "G1"

            # -- delete for everyone: redaction → revoke --
            deletion = await redact(alice, room, image_id)
            assert (await send_status(alice, room, deletion))["status"] == "SUCCESS"
            received += 1
            _, revoke = (await gatekeeper_inbox(stack, "gina", received))[received - 1]
            assert isinstance(revoke, Revoke) and revoke.target.id == stanza_id_for(image_id)

            # -- a message type that cannot be mapped: failed status and a visible notice --
            odd_id = await send_event(alice, room, "m.room.message",
                                      {"msgtype": "org.example.hologram", "body": "hologram"})
            status = await send_status(alice, room, odd_id)
            assert status["status"] == "FAIL_PERMANENT", status
            assert status["reason"] == MessageStatusReason.UNSUPPORTED.value
            assert "cannot be sent" in status["message"]
            notice = await wait_event(alice, room, lambda e: isinstance(e, RoomMessageNotice)
                                      and relates_to(e).get("m.in_reply_to", {})
                                      .get("event_id") == odd_id, what="failure notice")
            assert "not delivered" in notice.body
            # Nothing reached gina for it.
            assert len(await gatekeeper_inbox(stack, "gina", received)) == received
        finally:
            await alice.close()
