"""Gateway markup → Matrix HTML → gateway markup gives back the same text."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.content import Address
from bridge.formatting import matrix_to_remote, remote_to_matrix

from .resolvers import to_matrix, to_remote

MENTIONABLE = {"@alice": "1-100@interop", "@bob_smith": "1-200@interop", "@bobby": "1-300@interop"}

words = st.text(alphabet="abcdefgh<&>'\"", min_size=1, max_size=6).filter(
    lambda w: w[0].isalpha() and w[-1].isalpha()
)
mentions = st.sampled_from(sorted(MENTIONABLE))


def _phrase(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.lists(inner, min_size=1, max_size=3).map(" ".join)


def _styled(depth: int) -> st.SearchStrategy[str]:
    content = words | mentions if depth == 0 else words | mentions | _styled(depth - 1)
    markers = st.sampled_from("*_~")
    return st.tuples(markers, _phrase(content)).filter(
        # a style does not nest inside itself
        lambda pair: pair[0] not in pair[1]
    ).map(lambda pair: f"{pair[0]}{pair[1]}{pair[0]}")


code = _phrase(st.text(alphabet="abc*_~<>&", min_size=1, max_size=5)).map(lambda t: f"`{t}`")
pieces = words | mentions | _styled(2) | code
lines = st.lists(pieces, min_size=1, max_size=5).map(" ".join)
quotes = st.lists(lines, min_size=1, max_size=3).map(
    lambda quoted: "\n".join(f"> {line}" for line in quoted)
)
code_blocks = st.lists(
    st.text(alphabet="ab *_<>&\n", min_size=1, max_size=12).filter(
        lambda t: t.strip() and not t.endswith("\n")
    ),
    min_size=1,
    max_size=2,
).map(lambda parts: "```" + "\n".join(parts) + "```")


@st.composite
def documents(draw) -> str:
    blocks = draw(st.lists(st.sampled_from(["line", "quote", "code"]), min_size=1, max_size=5))
    out: list[str] = []
    previous = None
    for kind in blocks:
        if kind == "quote" and previous == "quote":
            kind = "line"  # two quotes in a row are one quote
        if out and draw(st.booleans()):
            out.append("")  # a blank line between blocks
        out.append(draw({"line": lines, "quote": quotes, "code": code_blocks}[kind]))
        previous = kind
    return "\n".join(out)


def _mentioned_ids(text: str) -> list[Address]:
    return [Address(internal_id) for name, internal_id in MENTIONABLE.items() if name in text]


@settings(max_examples=300, deadline=None)
@given(text=documents())
async def test_markup_survives_a_trip_through_matrix(text: str) -> None:
    mentions = _mentioned_ids(text)
    matrix = remote_to_matrix(text, mentions, to_matrix)
    back = await matrix_to_remote(matrix.body, matrix.formatted_body, to_remote)
    assert back.text == text
    assert set(back.mentions) == {m for m in mentions if to_matrix(m).username in text}
