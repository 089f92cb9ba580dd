"""Images, videos, audio, files and stickers both ways, in plain and encrypted rooms,
with real Matrix attachment crypto and the real gateway media crypto."""

from __future__ import annotations

import hashlib

import pytest
from mautrix.types import EventType

from bridge.content import decode_content, encode_content
from bridge.content.models import Audio, Document, Image, MediaKind, Sticker, Video
from bridge.mapping import Notice, SendEvent, Unmappable

from . import events, samples
from .fakes import PEER_ID, portal
from .media_helpers import gateway_ref, matrix_source, read_hosted, read_matrix_file

rooms = pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])


@rooms
async def test_image_with_caption_to_gateway(to_gateway, matrix_media, gateway_media,
                                             encrypted) -> None:
    data = samples.png()
    evt = events.event({
        "msgtype": "m.image", "body": "look *here*", "filename": "pic.png",
        "info": {"mimetype": "image/png", "w": 64, "h": 48, "size": len(data)},
        **matrix_source(matrix_media, data, encrypted),
    })
    result = await to_gateway.map_event(evt, portal(encrypted))
    image = result.content
    assert isinstance(image, Image)
    assert (image.width, image.height, image.caption) == (64, 48, "look *here*")
    assert image.media.mime_type == "image/png" and image.media.length == len(data)
    assert image.media.sha256_plain == hashlib.sha256(data).digest()
    assert image.media.path.startswith("/interop/whatsapp/download/1/")
    assert result.hosted_paths == (image.media.path,)
    assert read_hosted(gateway_media, MediaKind.IMAGE, image.media) == data


async def test_image_without_caption_and_with_thumbnail(to_gateway, matrix_media) -> None:
    data, thumb = samples.png(), samples.jpeg_thumbnail()
    evt = events.event({
        "msgtype": "m.image", "body": "pic.png", "url": matrix_media.put(data),
        "info": {"mimetype": "image/png", "thumbnail_url": matrix_media.put(thumb),
                 "thumbnail_info": {"mimetype": "image/jpeg", "size": len(thumb)}},
    })
    image = (await to_gateway.map_event(evt, portal())).content
    assert image.caption == "" and image.media.thumbnail == thumb


@rooms
async def test_video_file_and_audio_to_gateway(to_gateway, matrix_media, gateway_media,
                                               encrypted) -> None:
    video = samples.mp4()
    result = await to_gateway.map_event(events.event({
        "msgtype": "m.video", "body": "clip.mp4",
        "info": {"mimetype": "video/mp4", "w": 64, "h": 48, "duration": 2400},
        **matrix_source(matrix_media, video, encrypted),
    }), portal(encrypted))
    assert isinstance(result.content, Video)
    assert (result.content.duration_seconds, result.content.width) == (2, 64)
    assert read_hosted(gateway_media, MediaKind.VIDEO, result.content.media) == video

    document = b"%PDF-1.4 not really\n" * 100
    result = await to_gateway.map_event(events.event({
        "msgtype": "m.file", "body": "report.pdf", "info": {"mimetype": "application/pdf"},
        **matrix_source(matrix_media, document, encrypted),
    }), portal(encrypted))
    assert isinstance(result.content, Document) and result.content.file_name == "report.pdf"
    assert read_hosted(gateway_media, MediaKind.DOCUMENT, result.content.media) == document

    audio = samples.mp3()
    result = await to_gateway.map_event(events.event({
        "msgtype": "m.audio", "body": "song.mp3", "info": {"mimetype": "audio/mpeg",
                                                           "duration": 3000},
        **matrix_source(matrix_media, audio, encrypted),
    }), portal(encrypted))
    assert result.content == Audio(media=result.content.media, duration_seconds=3)
    assert result.content.media.mime_type == "audio/mpeg"
    assert read_hosted(gateway_media, MediaKind.AUDIO, result.content.media) == audio


async def test_sticker_to_gateway(to_gateway, matrix_media, gateway_media) -> None:
    data = samples.webp()
    sticker = events.event({"body": "a cat", "url": matrix_media.put(data),
                            "info": {"mimetype": "image/webp", "w": 64, "h": 64}}, "m.sticker")
    content = (await to_gateway.map_event(sticker, portal())).content
    assert isinstance(content, Sticker) and (content.width, content.animated) == (64, False)
    assert read_hosted(gateway_media, MediaKind.STICKER, content.media) == data
    # Other formats travel as pictures.
    png_sticker = events.event({"body": "a cat", "url": matrix_media.put(samples.png()),
                                "info": {"mimetype": "image/png"}}, "m.sticker")
    content = (await to_gateway.map_event(png_sticker, portal())).content
    assert isinstance(content, Image) and content.caption == ""


async def test_damaged_matrix_attachment_is_unmappable(to_gateway, matrix_media) -> None:
    source = matrix_source(matrix_media, samples.png(), encrypted=True)
    stored = bytearray(matrix_media.files[source["file"]["url"]][0])
    stored[5] ^= 1
    matrix_media.files[source["file"]["url"]] = (bytes(stored), "application/octet-stream", None)
    evt = events.event({"msgtype": "m.image", "body": "x.png", **source})
    with pytest.raises(Unmappable, match="could not be decrypted"):
        await to_gateway.map_event(evt, portal(encrypted=True))


async def test_unreachable_matrix_media_is_unmappable(to_gateway, matrix_media) -> None:
    evt = events.event({"msgtype": "m.file", "body": "x", "url": "mxc://example.org/missing"})
    with pytest.raises(Unmappable, match="could not be fetched"):
        await to_gateway.map_event(evt, portal())


async def test_over_the_limit_to_gateway_is_refused_with_a_reason(
    to_gateway, matrix_media, gateway_media
) -> None:
    from bridge.media import MediaLimits

    to_gateway.limits = MediaLimits(image=1000)
    big = b"\x00" * 1500
    declared = events.event({"msgtype": "m.image", "body": "big.png", "url": "mxc://x/never",
                             "info": {"size": 1500}})
    # Refused from the declared size alone: nothing is downloaded (the URI does not exist).
    with pytest.raises(Unmappable) as refused:
        await to_gateway.map_event(declared, portal())
    assert refused.value.reason == (
        "the image is too large to send (1.5 KiB, over the 1000 B limit for images)")
    undeclared = events.event({"msgtype": "m.image", "body": "big.png",
                               "url": matrix_media.put(big)})
    with pytest.raises(Unmappable, match="too large to send"):
        await to_gateway.map_event(undeclared, portal())
    assert gateway_media.blobs == {}


@rooms
async def test_image_to_matrix(to_matrix, matrix_media, gateway_media, encrypted) -> None:
    data, thumb = samples.png(), samples.jpeg_thumbnail()
    ref = gateway_ref(gateway_media, MediaKind.IMAGE, data, "image/png", thumbnail=thumb)
    image = Image(media=ref, caption="*nice* @alice", mentions=(PEER_ID,), width=64, height=48)
    [action] = await to_matrix.map_content(image, PEER_ID, "S1", portal(encrypted))
    content = action.content
    assert action.event_type == EventType.ROOM_MESSAGE and content["msgtype"] == "m.image"
    assert content["filename"] == "image.png"
    assert content["body"] == "*nice* Alice Liddell"
    assert content["formatted_body"].startswith("<strong>nice</strong> <a href=")
    assert content["info"] == {
        "mimetype": "image/png", "size": len(data), "w": 64, "h": 48,
        "thumbnail_info": {"mimetype": "image/jpeg", "size": len(thumb)},
        **({"thumbnail_file": content["info"]["thumbnail_file"]} if encrypted
           else {"thumbnail_url": content["info"]["thumbnail_url"]}),
    }
    assert ("file" in content) is encrypted and ("url" in content) is not encrypted
    assert read_matrix_file(matrix_media, content) == data
    assert read_matrix_file(matrix_media, content["info"], "thumbnail_url",
                            "thumbnail_file") == thumb
    if encrypted:
        # The homeserver holds only ciphertext, without type or name.
        stored, mime, name = matrix_media.files[content["file"]["url"]]
        assert stored != data and mime == "application/octet-stream" and name is None


@rooms
async def test_video_document_sticker_to_matrix(to_matrix, matrix_media, gateway_media,
                                                encrypted) -> None:
    video = samples.mp4()
    ref = gateway_ref(gateway_media, MediaKind.VIDEO, video, "video/mp4", path="/v/t1")
    [action] = await to_matrix.map_content(
        Video(media=ref, width=64, height=48, duration_seconds=2), PEER_ID, "S1",
        portal(encrypted))
    assert action.content["msgtype"] == "m.video" and action.content["body"] == "video.mp4"
    assert action.content["info"]["duration"] == 2000
    assert read_matrix_file(matrix_media, action.content) == video

    document = b"col1,col2\n1,2\n"
    ref = gateway_ref(gateway_media, MediaKind.DOCUMENT, document, "text/csv", path="/v/t2")
    [action] = await to_matrix.map_content(
        Document(media=ref, file_name="../data.csv"), PEER_ID, "S2", portal(encrypted))
    assert action.content["msgtype"] == "m.file"
    assert action.content["filename"] == action.content["body"] == "_data.csv"
    assert read_matrix_file(matrix_media, action.content) == document

    sticker = samples.webp()
    ref = gateway_ref(gateway_media, MediaKind.STICKER, sticker, "image/webp", path="/v/t3")
    [action] = await to_matrix.map_content(
        Sticker(media=ref, width=64, height=64), PEER_ID, "S3", portal(encrypted))
    assert action.event_type == EventType.STICKER
    assert action.content["info"]["mimetype"] == "image/webp"
    assert read_matrix_file(matrix_media, action.content) == sticker


@pytest.mark.parametrize("damage", ["blob", "key", "announced hash"])
async def test_tampered_gateway_media_becomes_a_notice(to_matrix, matrix_media, gateway_media,
                                                       damage) -> None:
    import attrs

    ref = gateway_ref(gateway_media, MediaKind.IMAGE, samples.png(), "image/png")
    if damage == "blob":
        blob = bytearray(gateway_media.blobs[ref.path])
        blob[3] ^= 0x40
        gateway_media.blobs[ref.path] = bytes(blob)
        ref = attrs.evolve(ref, sha256_enc=hashlib.sha256(blob).digest())  # MAC must catch it
    elif damage == "key":
        ref = attrs.evolve(ref, media_key=bytes(32))
    else:
        ref = attrs.evolve(ref, sha256_enc=bytes(32))
    [action] = await to_matrix.map_content(Image(media=ref), PEER_ID, "S1", portal())
    assert isinstance(action, Notice)
    assert action.text.startswith("An image could not be verified and was not shown (")
    assert matrix_media.files == {}  # nothing broken was uploaded


async def test_missing_gateway_blob_becomes_a_notice(to_matrix, gateway_media) -> None:
    ref = gateway_ref(gateway_media, MediaKind.VIDEO, b"x" * 100, "video/mp4")
    del gateway_media.blobs[ref.path]
    assert await to_matrix.map_content(Video(media=ref), PEER_ID, "S1", portal()) == [
        Notice(text="A video could not be downloaded.")
    ]


async def test_over_the_homeserver_limit_to_matrix_is_a_notice_with_name_and_size(
    to_matrix, matrix_media, gateway_media
) -> None:
    matrix_media.upload_limit = 1024
    ref = gateway_ref(gateway_media, MediaKind.DOCUMENT, b"z" * 3000, "application/zip")
    actions = await to_matrix.map_content(
        Document(media=ref, file_name="archive.zip"), PEER_ID, "S1", portal())
    assert actions == [Notice(text=(
        "A file (archive.zip, 2.9 KiB) was too large to bridge: The document is 2.9 KiB, "
        "larger than the 1 KiB limit for documents."
    ))]
    # Refused from the announced length, before downloading anything.
    assert gateway_media.downloaded == [] and matrix_media.files == {}


@rooms
async def test_media_round_trip(to_gateway, to_matrix, matrix_media, gateway_media,
                                encrypted) -> None:
    """gateway → Matrix → gateway keeps the file, its kind, caption and dimensions."""
    data = samples.png()
    original = Image(media=gateway_ref(gateway_media, MediaKind.IMAGE, data, "image/png"),
                     caption="_caption_", width=64, height=48)
    received = decode_content(encode_content(original))
    [action] = await to_matrix.map_content(received, PEER_ID, "S1", portal(encrypted))
    assert isinstance(action, SendEvent)
    back = (await to_gateway.map_event(events.event(action.content), portal(encrypted))).content
    assert (back.caption, back.width, back.height, back.media.mime_type) == (
        "_caption_", 64, 48, "image/png")
    assert back.media.sha256_plain == original.media.sha256_plain
    assert back.media.media_key != original.media.media_key  # re-encrypted, fresh key
    assert read_hosted(gateway_media, MediaKind.IMAGE, back.media) == data


async def test_gif_playback_both_ways(to_gateway, to_matrix, matrix_media, gateway_media) -> None:
    video = samples.mp4(1)
    original = Video(media=gateway_ref(gateway_media, MediaKind.VIDEO, video, "video/mp4"),
                     gif_playback=True, duration_seconds=1)
    [action] = await to_matrix.map_content(original, PEER_ID, "G1", portal())
    info = action.content["info"]
    assert info["fi.mau.gif"] is True and info["fi.mau.loop"] is True
    back = (await to_gateway.map_event(events.event(action.content), portal())).content
    assert back.gif_playback is True
    plain_video = events.event({"msgtype": "m.video", "body": "v.mp4",
                                "url": matrix_media.put(video), "info": {"mimetype": "video/mp4"}})
    assert (await to_gateway.map_event(plain_video, portal())).content.gif_playback is False


async def test_a_thumbnail_that_is_not_a_jpeg_is_left_out(to_matrix, matrix_media,
                                                          gateway_media) -> None:
    ref = gateway_ref(gateway_media, MediaKind.IMAGE, samples.png(), "image/png",
                      thumbnail=b"<svg onload=alert(1)>")
    [action] = await to_matrix.map_content(Image(media=ref), PEER_ID, "S1", portal())
    assert "thumbnail_url" not in action.content["info"]
    assert len(matrix_media.files) == 1  # the image only


async def test_missing_dimensions_and_duration_are_measured(to_gateway, matrix_media) -> None:
    image = events.event({"msgtype": "m.image", "body": "p.png",
                          "url": matrix_media.put(samples.png(80, 60))})
    content = (await to_gateway.map_event(image, portal())).content
    assert (content.width, content.height) == (80, 60)
    video = events.event({"msgtype": "m.video", "body": "v.mp4", "url": matrix_media.put(
        samples.mp4(3))})
    content = (await to_gateway.map_event(video, portal())).content
    assert (content.width, content.height, content.duration_seconds) == (64, 48, 3)
    audio = events.event({"msgtype": "m.audio", "body": "a.mp3",
                          "url": matrix_media.put(samples.mp3(3))})
    assert (await to_gateway.map_event(audio, portal())).content.duration_seconds == 3
    # What the client declared wins; unreadable files go without.
    declared = events.event({"msgtype": "m.image", "body": "p.png", "info": {"w": 8, "h": 6},
                             "url": matrix_media.put(samples.png(80, 60))})
    content = (await to_gateway.map_event(declared, portal())).content
    assert (content.width, content.height) == (8, 6)
    junk = events.event({"msgtype": "m.video", "body": "v.mp4",
                         "url": matrix_media.put(b"\x00" * 100)})
    content = (await to_gateway.map_event(junk, portal())).content
    assert (content.width, content.height, content.duration_seconds) == (0, 0, 0)
