"""Remote text must never inject HTML into Matrix clients."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.content import Address
from bridge.formatting import remote_to_matrix

from .resolvers import DIRECTORY, to_matrix

ALLOWED_TAGS = {"strong", "em", "del", "code", "pre", "blockquote", "br", "a"}
HOSTILE = Address("1-666@interop")


class _Audit(HTMLParser):
    """Records every tag, attribute and text run the way a client would read them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, attrs))

    def handle_data(self, data):
        self.text.append(data)

    def handle_comment(self, data):
        self.tags.append(("<!--", []))

    def handle_decl(self, decl):
        self.tags.append(("<!", []))

    def handle_pi(self, data):
        self.tags.append(("<?", []))


def audit(formatted_body: str) -> _Audit:
    parser = _Audit()
    parser.feed(formatted_body)
    parser.close()
    for tag, attrs in parser.tags:
        assert tag in ALLOWED_TAGS, f"unexpected <{tag}> in {formatted_body!r}"
        if tag == "a":
            assert [name for name, _ in attrs] == ["href"]
            assert attrs[0][1].startswith("https://matrix.to/#/%40wa_")
        else:
            assert attrs == [], f"unexpected attributes on <{tag}>"
    return parser


@pytest.mark.parametrize(
    "text",
    [
        "<script>alert(1)</script> *x*",
        "*<img src=x onerror=alert(1)>*",
        '_"><svg onload=alert(1)>_',
        "~<a href='javascript:alert(1)'>x</a>~",
        "`</code><script>x</script>`",
        "```</pre><iframe src=//evil>```",
        "> <blockquote onclick=x>",
        "&lt;b&gt; *entity* text stays text",
        "<!-- comment --> *<?pi?>*",
        "<mx-reply>fake reply</mx-reply> *x*",
    ],
)
def test_markup_characters_arrive_as_text(text: str) -> None:
    converted = remote_to_matrix(text, (), to_matrix)
    assert converted.formatted_body is not None
    parsed = audit(converted.formatted_body)
    visible = "".join(parsed.text)
    # Every "<" the remote user typed is still there as a character, not a tag.
    assert visible.count("<") == text.count("<")
    assert visible.count("&") == text.count("&")


def test_hostile_display_name_and_username() -> None:
    mxid, displayname, username = DIRECTORY[HOSTILE]
    converted = remote_to_matrix(f"*hi @{username}*", [HOSTILE], to_matrix)
    parsed = audit(converted.formatted_body)
    assert "".join(parsed.text) == f"hi {displayname}"
    assert converted.mentioned_user_ids == (mxid,)


@given(
    text=st.text(alphabet=st.sampled_from("ab <>&\"'=/*_~`>\n@!-"), max_size=60),
    mention=st.booleans(),
)
def test_any_text_yields_only_allowed_html(text: str, mention: bool) -> None:
    mentions = [Address("1-100@interop"), HOSTILE] if mention else []
    converted = remote_to_matrix(text + (" @alice" if mention else ""), mentions, to_matrix)
    if converted.formatted_body is not None:
        parsed = audit(converted.formatted_body)
        assert "".join(parsed.text).count("<") == converted.body.count("<")
