"""Every message type from a gatekeeper user to the Matrix user's encrypted portal, as the
person's own E2EE client (matrix-nio) sees it: formatting and mentions, media that decrypts to
the very bytes the gatekeeper user sent, replies, edits, reactions and their removal, deletions,
and content the bridge cannot show (a visible notice, never a silent drop). Both engines."""

from __future__ import annotations

import os
from urllib.parse import unquote

import attrs
import pytest
from nio import (
    ReactionEvent,
    RedactionEvent,
    RoomEncryptedAudio,
    RoomEncryptedFile,
    RoomEncryptedImage,
    RoomEncryptedVideo,
    RoomMessageNotice,
    RoomMessageText,
)

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
from bridge.content.padding import pad
from bridge.mapping.to_matrix import UNREADABLE_NOTICE
from tests.support.stack import running_stack

from . import samples
from .helpers import (
    content_of,
    download_decrypted,
    gatekeeper_media,
    join_invited_room,
    opted_in_person,
    record_everything,
    relates_to,
    send_as_gatekeeper,
    send_raw_as_gatekeeper,
    simulated_user,
    wait_event,
)

pytestmark = pytest.mark.synapse

VOICE_KEY = "org.matrix.msc3245.voice"


async def test_every_message_type_from_the_gateway(db_url, tmp_path):
    async with running_stack(db_url, tmp_path) as stack:
        alice, _, alice_id = await opted_in_person(stack, "alice", tmp_path / "alice")
        record_everything(alice)
        try:
            await simulated_user(stack, "gina")

            async def gina_sends(stanza_id: str, content) -> None:
                await send_as_gatekeeper(stack, "gina", alice_id, content, stanza_id=stanza_id)

            # -- text with formatting and a mention of the Matrix user (by the id gina sees) --
            await gina_sends("G1", Text(text="*hello* _alice_ @alice, see ~this~",
                                        mentions=(alice_id,)))
            room = await join_invited_room(alice)
            text = await wait_event(alice, room, lambda e: isinstance(e, RoomMessageText))
            assert text.decrypted and text.sender.startswith("@interop_")
            assert "<strong>hello</strong>" in text.formatted_body
            assert "<em>alice</em>" in text.formatted_body
            assert "<del>this</del>" in text.formatted_body
            assert "https://matrix.to/#/@alice:localhost" in unquote(text.formatted_body), \
                "a mention of the Matrix user must become a pill"
            assert alice.user_id in content_of(text)["m.mentions"]["user_ids"]
            ghost = text.sender

            # -- image: gina's app encrypts and uploads, alice's client decrypts the same bytes --
            image_ref = await gatekeeper_media(stack, MediaKind.IMAGE, samples.png(), "image/png",
                                               thumbnail=samples.jpeg_thumbnail())
            await gina_sends("G2", Image(media=image_ref, caption="a *red* picture",
                                         width=16, height=12))
            image = await wait_event(alice, room, lambda e: isinstance(e, RoomEncryptedImage))
            image_content = content_of(image)
            assert "url" not in image_content, "encrypted rooms get encrypted attachments"
            assert await download_decrypted(alice, image_content["file"]) == samples.png()
            assert image_content["body"] == "a *red* picture"
            assert image_content["info"]["mimetype"] == "image/png"
            assert (image_content["info"]["w"], image_content["info"]["h"]) == (16, 12)
            # The inline JPEG preview becomes the event's (encrypted) thumbnail.
            assert await download_decrypted(alice, image_content["info"]["thumbnail_file"]) \
                == samples.jpeg_thumbnail()

            # -- video --
            video_ref = await gatekeeper_media(stack, MediaKind.VIDEO, samples.mp4(), "video/mp4")
            await gina_sends("G3", Video(media=video_ref, width=32, height=24,
                                         duration_seconds=1))
            video = await wait_event(alice, room, lambda e: isinstance(e, RoomEncryptedVideo))
            assert await download_decrypted(alice, content_of(video)["file"]) == samples.mp4()
            assert content_of(video)["info"]["duration"] == 1000

            # -- voice note (Ogg/Opus) → MSC3245 voice message --
            voice_ref = await gatekeeper_media(stack, MediaKind.AUDIO, samples.ogg_opus(),
                                               "audio/ogg; codecs=opus")
            await gina_sends("G4", Audio(media=voice_ref, duration_seconds=2, voice_note=True,
                                         waveform=bytes([0, 50, 100, 50] * 8)))
            voice = await wait_event(alice, room, lambda e: isinstance(e, RoomEncryptedAudio)
                                     and VOICE_KEY in content_of(e))
            assert await download_decrypted(alice, content_of(voice)["file"]) \
                == samples.ogg_opus()
            assert content_of(voice)["org.matrix.msc1767.audio"]["duration"] == 2000
            assert content_of(voice)["org.matrix.msc1767.audio"]["waveform"]

            # -- other audio: no voice flag --
            audio_ref = await gatekeeper_media(stack, MediaKind.AUDIO, samples.mp3(),
                                               "audio/mpeg")
            await gina_sends("G5", Audio(media=audio_ref, duration_seconds=2))
            audio = await wait_event(alice, room, lambda e: isinstance(e, RoomEncryptedAudio)
                                     and VOICE_KEY not in content_of(e))
            assert await download_decrypted(alice, content_of(audio)["file"]) == samples.mp3()
            assert content_of(audio)["info"]["mimetype"] == "audio/mpeg"

            # -- file with its name --
            file_ref = await gatekeeper_media(stack, MediaKind.DOCUMENT, samples.document(),
                                              "text/plain")
            await gina_sends("G6", Document(media=file_ref, file_name="minutes 2026.txt"))
            document = await wait_event(alice, room, lambda e: isinstance(e, RoomEncryptedFile))
            assert content_of(document)["filename"] == "minutes 2026.txt"
            assert await download_decrypted(alice, content_of(document)["file"]) \
                == samples.document()

            # -- a file of several MiB: arrives whole (many reads from the media server) --
            big = os.urandom(3 * 1024 * 1024 + 7)
            big_ref = await gatekeeper_media(stack, MediaKind.DOCUMENT, big,
                                             "application/octet-stream")
            await gina_sends("G6b", Document(media=big_ref, file_name="big.bin"))
            big_file = await wait_event(alice, room, lambda e: isinstance(e, RoomEncryptedFile)
                                        and content_of(e).get("filename") == "big.bin",
                                        what="big file")
            assert await download_decrypted(alice, content_of(big_file)["file"]) == big

            # -- location --
            await gina_sends("G7", Location(latitude=52.5163, longitude=13.3777,
                                            name="Brandenburger Tor"))
            location = await wait_event(alice, room, lambda e: content_of(e).get("msgtype")
                                        == "m.location")
            assert content_of(location)["geo_uri"].startswith("geo:52.5163,13.3777")
            assert "Brandenburger Tor" in content_of(location)["body"]

            # -- reply to her first message --
            await gina_sends("G8", Text(text="replying to myself",
                                        reply_to=ReplyTo(stanza_id="G1")))
            reply = await wait_event(alice, room, lambda e: isinstance(e, RoomMessageText)
                                     and "replying to myself" in e.body)
            assert relates_to(reply)["m.in_reply_to"]["event_id"] == text.event_id

            # -- reply to a message this room never saw: the quoted preview is shown --
            await gina_sends("G8b", Text(text="as I said", reply_to=ReplyTo(
                stanza_id="OLDER-THAN-THE-PORTAL", quoted_preview="lunch at noon?")))
            quoted = await wait_event(alice, room, lambda e: isinstance(e, RoomMessageText)
                                      and "as I said" in e.body)
            assert quoted.body.startswith("> lunch at noon?")
            assert "<blockquote>lunch at noon?</blockquote>" in quoted.formatted_body

            # -- a looping GIF-like video with a caption that mentions Alice --
            gif_ref = await gatekeeper_media(stack, MediaKind.VIDEO, samples.mp4(), "video/mp4")
            await gina_sends("G8c", Video(media=gif_ref, gif_playback=True,
                                          caption="look @alice", mentions=(alice_id,)))
            gif = await wait_event(alice, room, lambda e: isinstance(e, RoomEncryptedVideo)
                                   and content_of(e)["info"].get("fi.mau.loop"))
            assert "https://matrix.to/#/@alice:localhost" in unquote(
                content_of(gif)["formatted_body"])
            assert alice.user_id in content_of(gif)["m.mentions"]["user_ids"]

            # -- edit of the image's caption --
            await gina_sends("G8d", Edit(target=MessageKey(chat_id=alice_id, id="G2",
                                                           from_me=True),
                                         new_content=Image(media=image_ref,
                                                           caption="a *crimson* picture",
                                                           width=16, height=12)))
            caption_edit = await wait_event(alice, room, lambda e: relates_to(e).get(
                "rel_type") == "m.replace" and relates_to(e).get("event_id") == image.event_id,
                what="caption edit")
            assert content_of(caption_edit)["m.new_content"]["body"] == "a *crimson* picture"

            # -- edit of her first message --
            await gina_sends("G9", Edit(target=MessageKey(chat_id=alice_id, id="G1",
                                                          from_me=True),
                                        new_content=Text(text="hello, edited")))
            edit = await wait_event(alice, room, lambda e: relates_to(e).get("rel_type")
                                    == "m.replace" and relates_to(e).get("event_id")
                                    == text.event_id)
            assert relates_to(edit)["event_id"] == text.event_id
            assert content_of(edit)["m.new_content"]["body"] == "hello, edited"
            assert edit.sender == ghost

            # -- reaction, then its removal --
            await gina_sends("G10", Reaction(target=MessageKey(chat_id=alice_id, id="G2",
                                                               from_me=True), text="👍"))
            reaction = await wait_event(alice, room, lambda e: isinstance(e, ReactionEvent))
            assert (reaction.reacts_to, reaction.key) == (image.event_id, "👍")
            await gina_sends("G11", Reaction(target=MessageKey(chat_id=alice_id, id="G2",
                                                               from_me=True), text=""))
            await wait_event(alice, room, lambda e: isinstance(e, RedactionEvent)
                             and e.redacts == reaction.event_id, what="reaction removal")

            # -- delete for everyone (revoke) → redaction --
            await gina_sends("G12", Revoke(target=MessageKey(chat_id=alice_id, id="G3",
                                                             from_me=True)))
            await wait_event(alice, room, lambda e: isinstance(e, RedactionEvent)
                             and e.redacts == video.event_id, what="video redaction")

            # -- what cannot be shown is said, not dropped --
            # A body a newer app version added (field 20, unknown here): the decoder makes it
            # `Unsupported`, which cannot be encoded on purpose, so the bytes are built by hand.
            await send_raw_as_gatekeeper(stack, "gina", alice_id, pad(b"\xa2\x01\x02\x08\x01"),
                                         padded=True)
            await wait_event(alice, room, lambda e: isinstance(e, RoomMessageNotice)
                             and "could not be shown here (unknown content type" in e.body)
            # An image without its media keys decodes to `Unsupported` as well.
            await send_raw_as_gatekeeper(stack, "gina", alice_id, pad(b"\x12\x00"), padded=True)
            await wait_event(alice, room, lambda e: isinstance(e, RoomMessageNotice)
                             and "could not be shown here (image without media)" in e.body)
            # Media that cannot be fetched, or does not verify, is named in a notice.
            await gina_sends("G14", Image(media=attrs.evolve(image_ref, path="/v/tgone")))
            await wait_event(alice, room, lambda e: isinstance(e, RoomMessageNotice)
                             and e.body == "An image could not be downloaded.")
            tampered = attrs.evolve(file_ref, sha256_enc=bytes(32))
            await gina_sends("G15", Document(media=tampered, file_name="tampered.txt"))
            await wait_event(alice, room, lambda e: isinstance(e, RoomMessageNotice)
                             and e.body.startswith("A file could not be verified"))
            await send_raw_as_gatekeeper(stack, "gina", alice_id, b"\xffnot a content message")
            await wait_event(alice, room, lambda e: isinstance(e, RoomMessageNotice)
                             and e.body == UNREADABLE_NOTICE)
        finally:
            await alice.close()
