"""Figures for message content, media crypto and formatting (pure CPU, one core).

Run: PYTHONPATH=. python bench/content_bench.py
"""

from __future__ import annotations

import asyncio
import os
import time

from bridge.content import (
    Address,
    ChatId,
    Image,
    MediaKind,
    MediaRef,
    MessageKey,
    Reaction,
    StanzaId,
    Text,
    decode_content,
    encode_content,
)
from bridge.formatting import (
    MatrixMention,
    RemoteMention,
    matrix_to_remote,
    remote_to_matrix,
)
from bridge.formatting.markup import parse_markup
from bridge.media import decrypt_media, encrypt_media


def per_call(label: str, func, repeat: int) -> None:
    func()
    start = time.perf_counter()
    for _ in range(repeat):
        func()
    elapsed = time.perf_counter() - start
    print(f"{label:<58} {elapsed / repeat * 1e6:10.1f} µs/op  ({repeat / elapsed:10.0f} op/s)")


def throughput(label: str, func, size: int, repeat: int) -> None:
    func()
    start = time.perf_counter()
    for _ in range(repeat):
        func()
    elapsed = time.perf_counter() - start
    print(f"{label:<58} {size * repeat / elapsed / 2**20:10.1f} MiB/s")


def main() -> None:
    text = Text(text="Hello *there*, see you at 5? @alice", mentions=[Address("1-1@interop")])
    image = Image(
        media=MediaRef(path="/v/t62/abc", media_key=os.urandom(32), sha256_plain=os.urandom(32),
                       sha256_enc=os.urandom(32), length=123456, mime_type="image/jpeg",
                       thumbnail=os.urandom(2000)),
        caption="holiday", width=1280, height=960,
    )
    reaction = Reaction(target=MessageKey(chat_id=ChatId("1-2@interop"), id=StanzaId("3EB0")),
                        text="👍", timestamp_ms=1_700_000_000_000)
    print("== content codec")
    models = (("text", text), ("image (2 kB thumbnail)", image), ("reaction", reaction))
    for label, model in models:
        encoded = encode_content(model)
        per_call(f"encode {label}", lambda m=model: encode_content(m), 20000)
        per_call(f"decode {label}", lambda e=encoded: decode_content(e), 20000)

    print("== media crypto")
    for size in (64 * 1024, 4 * 2**20, 16 * 2**20):
        data = os.urandom(size)
        enc = encrypt_media(MediaKind.VIDEO, data)
        repeat = max(3, (64 * 2**20) // size)
        throughput(f"encrypt {size // 1024} KiB",
                   lambda d=data: encrypt_media(MediaKind.VIDEO, d), size, repeat)
        throughput(f"decrypt+verify {size // 1024} KiB", lambda e=enc: decrypt_media(
            MediaKind.VIDEO, e.blob, e.media_key, e.sha256_enc, e.sha256_plain),
            size, repeat)

    print("== formatting")
    alice = MatrixMention("@wa_1:example.org", "Alice", "alice")
    typical = "Hi @alice! *Meeting* moved to _3pm_.\n> bring the `slides`\nThanks ~all~"
    per_call("markup → Matrix (typical message)",
             lambda: remote_to_matrix(typical, ["1@interop"], lambda i: alice), 5000)
    html = ('<p>Hi <a href="https://matrix.to/#/@wa_1:example.org">Alice</a>! '
            "<strong>Meeting</strong> moved to <em>3pm</em>.</p><blockquote><p>bring the "
            "<code>slides</code></p></blockquote><ul><li>one</li><li>two</li></ul>")
    resolve = lambda user_id: RemoteMention("1@interop", "alice")  # noqa: E731
    async def html_to_markup(repeat: int) -> float:
        start = time.perf_counter()
        for _ in range(repeat):
            await matrix_to_remote("x", html, resolve)
        return time.perf_counter() - start

    elapsed = asyncio.run(html_to_markup(2000))
    print(f"{'Matrix HTML → markup (typical message)':<58} {elapsed / 2000 * 1e6:10.1f} µs/op"
          f"  ({2000 / elapsed:10.0f} op/s)")
    for size in (10_000, 60_000):
        hostile = "*a _b ~c `d " * (size // 12)
        per_call(f"markup parse, {size} chars of unclosed markers",
                 lambda h=hostile: parse_markup(h), 5)
        nested = "*_~" * (size // 6) + "x" + "~_*" * (size // 6)
        per_call(f"markup parse, {size} chars of nested markers",
                 lambda n=nested: parse_markup(n), 5)


if __name__ == "__main__":
    main()
