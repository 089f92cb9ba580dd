"""Text both ways: formatting, mentions, emotes, notices, replies, through the real
formatting module."""

from __future__ import annotations

import pytest
from mautrix.types import EventType

from bridge.content import decode_content, encode_content
from bridge.content.models import ReplyTo, Text
from bridge.mapping import Notice, SendEvent, Unmappable
from bridge.mapping.to_gateway import REPLY_NOT_FOUND_WARNING

from . import events
from .fakes import PEER_ID, PEER_MXID, USER_ID, USER_MXID, portal


async def test_plain_text_to_gateway(to_gateway) -> None:
    result = await to_gateway.map_event(events.text("hello there"), portal())
    assert result.content == Text(text="hello there")
    assert result.warnings == () and result.hosted_paths == ()


async def test_html_and_pills_to_gateway(to_gateway) -> None:
    html = (f'<strong>hi</strong> <a href="https://matrix.to/#/{PEER_MXID}">Alice Liddell</a>'
            ' and <em>you</em> <del>no</del> <code>x</code>')
    result = await to_gateway.map_event(events.text("hi Alice Liddell", html), portal())
    assert result.content.text == "*hi* @alice and _you_ ~no~ `x`"
    assert result.content.mentions == (PEER_ID,)


async def test_notice_and_emote_to_gateway(to_gateway) -> None:
    notice = await to_gateway.map_event(events.text("beep", msgtype="m.notice"), portal())
    assert notice.content == Text(text="beep")
    emote = await to_gateway.map_event(events.text("waves", msgtype="m.emote"), portal())
    assert emote.content == Text(text="* Alice M waves")


async def test_reply_fallback_is_stripped_and_reply_quotes_the_stanza(
    to_gateway, message_ids
) -> None:
    quoted = message_ids.add_message("$quoted", "STANZA1", PEER_ID)

    async def quoted_text(event_id):
        return "the original question" if event_id == quoted.event_id else None

    to_gateway.quoted_text = quoted_text
    evt = events.reply(
        "> <@wa_1-100:example.org> the original question\n\nmy answer", to="$quoted",
        format="org.matrix.custom.html",
        formatted_body="<mx-reply><blockquote>the original question</blockquote></mx-reply>"
                       "my <b>answer</b>",
    )
    result = await to_gateway.map_event(evt, portal())
    assert result.content == Text(text="my *answer*", reply_to=ReplyTo(
        stanza_id="STANZA1", participant=PEER_ID, quoted_preview="the original question"
    ))
    # The plain-only variant strips the "> <@user>" fallback lines.
    plain = events.reply("> <@wa_1-100:example.org> the original question\n\nmy answer",
                         to="$quoted")
    assert (await to_gateway.map_event(plain, portal())).content.text == "my answer"


async def test_reply_to_an_unknown_message_is_sent_with_a_warning(to_gateway) -> None:
    result = await to_gateway.map_event(events.reply("answer", to="$nowhere"), portal())
    assert result.content == Text(text="answer")
    assert result.warnings == (REPLY_NOT_FOUND_WARNING,)


async def test_thread_message_becomes_a_reply(to_gateway, message_ids) -> None:
    message_ids.add_message("$root", "ROOT", PEER_ID)
    message_ids.add_message("$last", "LAST", USER_ID)
    in_thread = events.text("in thread", **{"m.relates_to": {
        "rel_type": "m.thread", "event_id": "$root", "is_falling_back": True,
        "m.in_reply_to": {"event_id": "$last"},
    }})
    result = await to_gateway.map_event(in_thread, portal())
    assert result.content.reply_to.stanza_id == "LAST"
    no_reply = events.text("first in thread", **{"m.relates_to": {
        "rel_type": "m.thread", "event_id": "$root",
    }})
    assert (await to_gateway.map_event(no_reply, portal())).content.reply_to.stanza_id == "ROOT"


async def test_spoiler_is_sent_with_a_warning(to_gateway) -> None:
    result = await to_gateway.map_event(
        events.text("secret", '<span data-mx-spoiler="">secret</span>'), portal()
    )
    assert result.content.text == "secret"
    assert "spoiler" in result.warnings[0]


async def test_empty_text_is_unmappable(to_gateway) -> None:
    with pytest.raises(Unmappable, match="empty"):
        await to_gateway.map_event(events.text("   "), portal())


async def test_text_to_matrix_with_markup_and_pill(to_matrix) -> None:
    content = Text(text="*hi* @alice", mentions=(PEER_ID,))
    [action] = await to_matrix.map_content(content, PEER_ID, "S1", portal())
    assert action.event_type == EventType.ROOM_MESSAGE
    assert action.content["msgtype"] == "m.text"
    assert action.content["body"] == "*hi* Alice Liddell"
    assert action.content["formatted_body"] == (
        '<strong>hi</strong> '
        '<a href="https://matrix.to/#/%40wa_1-100%3Aexample.org">Alice Liddell</a>'
    )
    assert action.content["m.mentions"] == {"user_ids": [PEER_MXID]}


async def test_reply_to_matrix_points_at_the_mapped_event_and_mentions_the_user(
    to_matrix, message_ids
) -> None:
    message_ids.add_message("$mine", "MINE", USER_ID)
    content = Text(text="yes", reply_to=ReplyTo(stanza_id="MINE", participant=USER_ID))
    [action] = await to_matrix.map_content(content, PEER_ID, "S2", portal())
    assert action.content["m.relates_to"] == {"m.in_reply_to": {"event_id": "$mine"}}
    assert action.content["m.mentions"] == {"user_ids": [USER_MXID]}
    # Without a participant (older senders), both authors of a 1:1 chat are tried.
    bare = Text(text="yes", reply_to=ReplyTo(stanza_id="MINE"))
    [action] = await to_matrix.map_content(bare, PEER_ID, "S3", portal())
    assert action.content["m.relates_to"] == {"m.in_reply_to": {"event_id": "$mine"}}


async def test_reply_to_an_unknown_message_shows_the_preview_as_a_quote(to_matrix) -> None:
    content = Text(text="yes <b>", reply_to=ReplyTo(stanza_id="GONE", quoted_preview="q <i>"))
    [action] = await to_matrix.map_content(content, PEER_ID, "S4", portal())
    assert "m.relates_to" not in action.content
    assert action.content["body"] == "> q <i>\n\nyes <b>"
    assert action.content["formatted_body"] == "<blockquote>q &lt;i&gt;</blockquote>yes &lt;b&gt;"


async def test_text_round_trip(to_gateway, to_matrix) -> None:
    original = Text(text="*bold* _it_ ~st~ `code` @alice\n> quote", mentions=(PEER_ID,))
    # Through the real protobuf codec, as the gateway would deliver it.
    received = decode_content(encode_content(original))
    [action] = await to_matrix.map_content(received, PEER_ID, "S5", portal())
    assert isinstance(action, SendEvent)
    back = await to_gateway.map_event(events.event(action.content), portal())
    assert back.content == original


async def test_unsupported_becomes_a_notice(to_matrix) -> None:
    from bridge.content.models import Unsupported

    actions = await to_matrix.map_content(
        Unsupported(reason="unknown content type (field 12)"), PEER_ID, "S6", portal()
    )
    assert actions == [Notice(
        text="A message could not be shown here (unknown content type (field 12))."
    )]
