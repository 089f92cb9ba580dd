"""Matrix HTML that is valid enough to parse but not what a client sends."""

from bridge.formatting.to_gateway import pill_targets


def test_a_link_without_a_target_is_no_pill() -> None:
    assert pill_targets("<a href>x</a>") == set()
    assert pill_targets("<a>x</a><a href=''>y</a>") == set()
    assert pill_targets('<a href="https://matrix.to/#/@a:b">a</a><a href>x</a>') == {"@a:b"}
