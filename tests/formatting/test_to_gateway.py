"""Matrix HTML / plain bodies → gateway markup and mentions."""

from __future__ import annotations

import pytest
from mautrix.types import Format, MessageType, TextMessageEventContent

from bridge.formatting import RemoteText, matrix_to_remote, pill_targets, strip_reply_fallback

from .resolvers import to_remote, to_remote_async

PILL_ALICE = '<a href="https://matrix.to/#/@wa_1-100:example.org">Alice Liddell</a>'


async def markup(formatted: str) -> str:
    return (await matrix_to_remote("fallback", formatted, to_remote)).text


@pytest.mark.parametrize(
    ("formatted", "expected"),
    [
        ("<strong>bold</strong> and <b>b</b>", "*bold* and *b*"),
        ("<em>it</em> <i>i</i>", "_it_ _i_"),
        ("<del>gone</del> <s>s</s> <strike>x</strike>", "~gone~ ~s~ ~x~"),
        ("<code>x = 1</code>", "`x = 1`"),
        ("<strong><em>both</em></strong>", "*_both_*"),
        ("<strong>spaced </strong>out", "*spaced* out"),
        ("<strong> </strong>x", "x"),
        ("<strong>line one<br>line two</strong>", "*line one*\n*line two*"),
        ('<pre><code class="language-py">a = 1\n  b\n</code></pre>', "```a = 1\n  b```"),
        ("before<pre><code>x</code></pre>after", "before\n```x```\nafter"),
        ("<blockquote>\n<p>q1<br>q2</p>\n</blockquote>\n<p>reply</p>", "> q1\n> q2\nreply"),
        ("<p>one</p>\n<p>two</p>", "one\n\ntwo"),
        ("<ul>\n<li>a</li>\n<li>b</li>\n</ul>", "- a\n- b"),
        ('<ol start="3"><li>c</li><li>d</li></ol>', "3. c\n4. d"),
        ("<h1>Title</h1><p>text</p>", "*Title*\ntext"),
        ('<a href="https://example.org">site</a>', "site (https://example.org)"),
        ('<a href="https://example.org">https://example.org</a>', "https://example.org"),
        ("<u>under</u> <font color='red'>red</font>", "under red"),
        ('<span data-mx-spoiler="">secret</span>', "secret"),
        ("a&lt;b&gt; &amp; c", "a<b> & c"),
        ("spaces    collapse\nlike HTML", "spaces collapse like HTML"),
        ('<img src="mxc://x/y" alt=":emote:">', ":emote:"),
        (
            "<mx-reply><blockquote><a>In reply to</a> quoted</blockquote></mx-reply>my answer",
            "my answer",
        ),
    ],
)
async def test_html_to_markup(formatted: str, expected: str) -> None:
    assert await markup(formatted) == expected


async def test_pill_becomes_username_mention() -> None:
    converted = await matrix_to_remote("x", f"hi {PILL_ALICE}!", to_remote)
    assert converted == RemoteText(text="hi @alice!", mentions=("1-100@interop",))


async def test_async_resolver_and_duplicate_mentions() -> None:
    formatted = f"{PILL_ALICE} {PILL_ALICE} <a href='https://matrix.to/#/@wa_1-200:example.org'>B</a>"
    converted = await matrix_to_remote("x", formatted, to_remote_async)
    assert converted == RemoteText(
        text="@alice @alice @bob_smith", mentions=("1-100@interop", "1-200@interop")
    )


async def test_pill_of_a_matrix_user_keeps_its_text() -> None:
    formatted = '<a href="https://matrix.to/#/@carol:matrix.org">Carol</a>, hi'
    assert await matrix_to_remote("x", formatted, to_remote) == RemoteText(text="Carol, hi")


async def test_matrix_uri_pills_work_too() -> None:
    formatted = '<a href="matrix:u/wa_1-100:example.org">Alice</a>'
    assert await matrix_to_remote("x", formatted, to_remote) == RemoteText(
        text="@alice", mentions=("1-100@interop",)
    )


async def test_plain_body_is_sent_as_is() -> None:
    assert await matrix_to_remote("*already markup* <b>", None, to_remote) == RemoteText(
        text="*already markup* <b>"
    )
    # An unknown format is treated as absent.
    assert await matrix_to_remote("body", "<b>x</b>", to_remote, format="other") == (
        RemoteText(text="body")
    )


async def test_mautrix_event_content_fields_work_as_they_are() -> None:
    content = TextMessageEventContent(
        msgtype=MessageType.TEXT, body="**x**", format=Format.HTML,
        formatted_body="<strong>x</strong>",
    )
    converted = await matrix_to_remote(
        content.body, content.formatted_body, to_remote, format=content.format
    )
    assert converted == RemoteText(text="*x*")


def test_strip_reply_fallback() -> None:
    body = "> <@alice:example.org> original\n> second line\n\nmy reply\n> kept quote"
    assert strip_reply_fallback(body) == "my reply\n> kept quote"
    assert strip_reply_fallback("> a normal quote\ntext") == "> a normal quote\ntext"
    assert strip_reply_fallback("") == ""


def test_pill_targets_for_bulk_lookup() -> None:
    formatted = (
        f"{PILL_ALICE} <a href='https://matrix.to/#/!room:x'>room</a> "
        "<a href='https://example.org'>x</a> <b><a href='matrix:u/bob:x.org'>b</a></b>"
    )
    assert pill_targets(formatted) == {"@wa_1-100:example.org", "@bob:x.org"}
