"""Conversions accept any input without raising."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.content import Address
from bridge.formatting import matrix_to_remote, remote_to_matrix

from .resolvers import to_matrix, to_remote

TAGS = ["b", "i", "del", "code", "pre", "blockquote", "p", "ul", "ol", "li", "br", "a",
        "mx-reply", "h1", "span", "table", "td", "img"]
fragments = st.one_of(
    st.text(max_size=8),
    st.sampled_from(TAGS).map(lambda tag: f"<{tag}>"),
    st.sampled_from(TAGS).map(lambda tag: f"</{tag}>"),
    st.just('<a href="https://matrix.to/#/@wa_1-100:example.org">'),
    st.just('<a href="matrix:u/x">'),
    st.just("<!--"),
    st.just("&amp;&#0;&#xFFFFFF;"),
)


@settings(max_examples=300, deadline=None)
@given(html=st.lists(fragments, max_size=30).map("".join))
async def test_any_html_converts(html: str) -> None:
    converted = await matrix_to_remote("body", html, to_remote)
    assert isinstance(converted.text, str)


@settings(max_examples=300)
@given(text=st.text(max_size=200))
def test_any_text_converts(text: str) -> None:
    converted = remote_to_matrix(text + " @alice", [Address("1-100@interop")], to_matrix)
    assert converted.body
