"""Figures for message mapping (Matrix ⇄ gateway), storage and transport in memory.

Run: PYTHONPATH=. python bench/mapping_bench.py

Measures the bridge's own CPU per mapped message: text with formatting and a
mention, images of 1 MiB and 16 MiB through both crypto layers (plain and
encrypted rooms), and voice-message conversion with ffmpeg (wall time, since
ffmpeg runs in a child process).
"""

from __future__ import annotations

import asyncio
import os
import time
import tracemalloc

from mautrix.types import Event

from bridge.content.models import Document, Image, MediaKind, Text
from bridge.mapping import GatewayToMatrix, MatrixToGateway
from bridge.media.convert import ffmpeg_path
from tests.formatting import resolvers
from tests.mapping import samples
from tests.mapping.fakes import (
    PEER_ID,
    InMemoryGatewayMedia,
    InMemoryMatrixMedia,
    InMemoryMessageIds,
    portal,
)
from tests.mapping.media_helpers import gateway_ref, matrix_source

MiB = 1024 * 1024


def event(content: dict) -> Event:
    return Event.deserialize({
        "type": "m.room.message", "event_id": "$e", "sender": "@alice:example.org",
        "room_id": "!r:example.org", "origin_server_ts": 1, "content": content,
    })


async def timed(label: str, make_call, repeat: int, unit: str = "message",
                size: int | None = None) -> None:
    await make_call()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(repeat):
        await make_call()
    cpu, wall = (time.process_time() - cpu) / repeat, (time.perf_counter() - wall) / repeat
    line = f"{label:<58} {cpu * 1e3:9.3f} ms CPU  {wall * 1e3:9.3f} ms wall per {unit}"
    if size:
        line += f"  ({size / MiB / wall:7.1f} MiB/s)"
    print(line)


async def main() -> None:
    matrix_media, gateway_media = InMemoryMatrixMedia(), InMemoryGatewayMedia()
    ids = InMemoryMessageIds()
    outgoing = MatrixToGateway(matrix_media=matrix_media, gateway_media=gateway_media,
                               message_ids=ids, resolve_mention=resolvers.to_remote_async)
    incoming = GatewayToMatrix(matrix_media=matrix_media, gateway_media=gateway_media,
                               message_ids=ids, resolve_mention=resolvers.to_matrix)
    plain, encrypted = portal(), portal(encrypted=True)

    html = ('<b>Hello</b> <a href="https://matrix.to/#/@wa_1-100:example.org">Alice</a>, '
            'see <code>x</code> and <i>this</i>')
    text_event = event({"msgtype": "m.text", "body": "Hello Alice, see x and this",
                        "format": "org.matrix.custom.html", "formatted_body": html})
    await timed("Matrix → gateway: formatted text with a pill",
                lambda: outgoing.map_event(text_event, plain), 2000)
    text = Text(text="*Hello* @alice, see `x` and _this_", mentions=(PEER_ID,))
    await timed("gateway → Matrix: formatted text with a mention",
                lambda: incoming.map_content(text, PEER_ID, "S", plain), 2000)

    for size in (1 * MiB, 16 * MiB):
        data = os.urandom(size)
        repeat = 20 if size == MiB else 3
        for room, info in ((plain, "plain"), (encrypted, "encrypted")):
            source = matrix_source(matrix_media, data, room.encrypted)
            evt = event({"msgtype": "m.file", "body": "f.bin", **source})
            await timed(f"Matrix → gateway: {size // MiB} MiB file, {info} room",
                        lambda evt=evt, room=room: outgoing.map_event(evt, room), repeat,
                        size=size)
            ref = gateway_ref(gateway_media, MediaKind.IMAGE, data, "image/png",
                              path=f"/v/t{size}")
            image = Image(media=ref)
            await timed(f"gateway → Matrix: {size // MiB} MiB image, {info} room",
                        lambda image=image, room=room: incoming.map_content(
                            image, PEER_ID, "S", room), repeat, size=size)
            matrix_media.files.clear()
            gateway_media.blobs = {k: v for k, v in gateway_media.blobs.items()
                                   if k.startswith("/v/")}

    # Peak Python memory for one large file each way (files are held in memory).
    size = 64 * MiB
    data = os.urandom(size)
    for room, info in ((plain, "plain"), (encrypted, "encrypted")):
        evt = event({"msgtype": "m.file", "body": "f.bin",
                     **matrix_source(matrix_media, data, room.encrypted)})
        ref = gateway_ref(gateway_media, MediaKind.DOCUMENT, data, "application/zip",
                          path="/v/tbig")
        document = Document(media=ref, file_name="big.zip")
        for label, call in (
            ("Matrix → gateway", lambda evt=evt, room=room: outgoing.map_event(evt, room)),
            ("gateway → Matrix", lambda document=document, room=room: incoming.map_content(
                document, PEER_ID, "S", room)),
        ):
            tracemalloc.start()
            await call()
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(f"{label}: 64 MiB file, {info} room: peak {peak / MiB:.0f} MiB allocated "
                  f"({peak / size:.1f}× the file)")
        matrix_media.files.clear()
        gateway_media.blobs.clear()

    if ffmpeg_path():
        for seconds in (5, 60):
            wav = samples.wav(seconds)
            source = matrix_source(matrix_media, wav, False)
            evt = event({"msgtype": "m.audio", "body": "voice", "org.matrix.msc3245.voice": {},
                         **source})
            await timed(f"Matrix → gateway: {seconds} s WAV voice message → Ogg/Opus",
                        lambda evt=evt: outgoing.map_event(evt, plain), 3)
        ogg = samples.ogg_opus(5)
        source = matrix_source(matrix_media, ogg, False)
        evt = event({"msgtype": "m.audio", "body": "voice", "org.matrix.msc3245.voice": {},
                     "org.matrix.msc1767.audio": {"duration": 5000, "waveform": [500] * 100},
                     **source})
        await timed("Matrix → gateway: 5 s Ogg/Opus voice message (kept)",
                    lambda: outgoing.map_event(evt, plain), 20)


if __name__ == "__main__":
    asyncio.run(main())
