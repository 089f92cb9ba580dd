"""Gateway markup → Matrix HTML, mentions → pills."""

from __future__ import annotations

import pytest

from bridge.content import Address
from bridge.formatting import MatrixText, remote_to_matrix

from .resolvers import to_matrix

ALICE = Address("1-100@interop")
BOB = Address("1-200@interop")
BOBBY = Address("1-300@interop")
PILL_ALICE = '<a href="https://matrix.to/#/%40wa_1-100%3Aexample.org">Alice Liddell</a>'


def html(text: str, mentions=()) -> str | None:
    return remote_to_matrix(text, mentions, to_matrix).formatted_body


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("*bold*", "<strong>bold</strong>"),
        ("_italic_", "<em>italic</em>"),
        ("~strike~", "<del>strike</del>"),
        ("`code`", "<code>code</code>"),
        ("*bold _and italic_*", "<strong>bold <em>and italic</em></strong>"),
        ("a *b* c", "a <strong>b</strong> c"),
        ("(*b*)", "(<strong>b</strong>)"),
        ("*two words*!", "<strong>two words</strong>!"),
        ("```mono *not bold*```", "<pre><code>mono *not bold*</code></pre>"),
        ("```a\nb```", "<pre><code>a\nb</code></pre>"),
        ("x\n```a```\ny", "x<pre><code>a</code></pre>y"),
        ("> quoted", "<blockquote>quoted</blockquote>"),
        ("> one\n> *two*\nthree", "<blockquote>one<br/><strong>two</strong></blockquote>three"),
        ("*a*\nb", "<strong>a</strong><br/>b"),
        ("`*not bold*`", "<code>*not bold*</code>"),
    ],
)
def test_markup_to_html(text: str, expected: str) -> None:
    assert html(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "plain text",
        "snake_case_name and 2*3*4",  # markers inside words stay literal
        "* not bold *",  # a marker followed by a space does not open
        "*unclosed",
        "**",
        "a*b*c",
        "a*b* c and snake_case_ here",  # an opener must not follow a letter or digit
        "*a *b",  # a closer must not follow a space
        "multi\nline\n\nplain",
        "- list item\n- another\n1. numbered",  # lists are plain lines
        "*bold\nacross lines*",  # markup never spans lines
        ">no space is not a quote",
    ],
)
def test_text_without_markup_has_no_html(text: str) -> None:
    converted = remote_to_matrix(text, (), to_matrix)
    assert converted == MatrixText(body=text)


def test_mention_becomes_pill_and_intentional_mention() -> None:
    converted = remote_to_matrix("hi @alice!", [ALICE], to_matrix)
    assert converted.formatted_body == f"hi {PILL_ALICE}!"
    assert converted.body == "hi Alice Liddell!"
    assert converted.mentioned_user_ids == ("@wa_1-100:example.org",)
    content = converted.to_content()
    assert content["m.mentions"] == {"user_ids": ["@wa_1-100:example.org"]}
    assert content["format"] == "org.matrix.custom.html"


def test_mention_username_with_markers_does_not_start_formatting() -> None:
    converted = remote_to_matrix("ping @bob_smith and _me_", [BOB], to_matrix)
    assert converted.formatted_body == (
        'ping <a href="https://matrix.to/#/%40wa_1-200%3Aexample.org">Bob</a> and <em>me</em>'
    )


def test_longer_username_is_not_taken_for_a_prefix() -> None:
    converted = remote_to_matrix("@bobby and @bob_smith", [BOB, BOBBY], to_matrix)
    assert converted.body == "Bobby and Bob"
    assert set(converted.mentioned_user_ids) == {
        "@wa_1-300:example.org", "@wa_1-200:example.org"
    }
    # "@alice" followed by more name characters is someone else.
    assert remote_to_matrix("@alicex", [ALICE], to_matrix) == MatrixText(body="@alicex")


def test_unknown_or_absent_mentions_stay_text() -> None:
    assert remote_to_matrix("@carol hi", [Address("1-999@interop")], to_matrix) == (
        MatrixText(body="@carol hi")
    )
    # Listed but not written in the text: no pill, no notification.
    assert remote_to_matrix("hi", [ALICE], to_matrix) == MatrixText(body="hi")


def test_mention_inside_bold() -> None:
    assert html("*@alice*", [ALICE]) == f"<strong>{PILL_ALICE}</strong>"


def test_plain_text_mentions_have_no_formatting_elsewhere() -> None:
    converted = remote_to_matrix("@alice", [ALICE], to_matrix)
    assert converted.formatted_body == PILL_ALICE
    assert converted.to_content("m.notice")["msgtype"] == "m.notice"


def test_private_use_characters_in_text_are_not_mistaken_for_mentions() -> None:
    text = "\ue000 @alice \ue001"
    converted = remote_to_matrix(text, [ALICE], to_matrix)
    assert converted.body == "\ue000 Alice Liddell \ue001"
    assert converted.formatted_body == f"\ue000 {PILL_ALICE} \ue001"


def test_mentions_inside_code_stay_literal() -> None:
    converted = remote_to_matrix("`@alice` ```x @alice```", [ALICE], to_matrix)
    assert converted.formatted_body == "<code>@alice</code> <pre><code>x @alice</code></pre>"
