"""The spec's token dictionary and constants are the ones the code uses."""

from __future__ import annotations

import re
from pathlib import Path

from bridge.gateway.codec import BinaryStanzaCodec, Node
from bridge.gateway.codec.dictionary import TOKENS_V1
from bridge.gateway.errors import ErrorCode
from bridge.gateway.noise_channel import NOISE_PROTOCOL_NAME, prologue_for

SPEC = (Path(__file__).parents[2] / "docs" / "gateway-protocol.md").read_text()


def test_appendix_a_lists_the_v1_dictionary_in_order() -> None:
    appendix = SPEC.split("## Appendix A")[1].split("```")[1]
    pairs = re.findall(r"(\d+) (\S+)", appendix)
    assert [int(n) for n, _ in pairs] == list(range(len(TOKENS_V1)))
    assert tuple(token for _, token in pairs) == TOKENS_V1


def test_spec_example_vector_and_constants() -> None:
    assert "`07 01 1b 02 78 00`" in SPEC
    assert BinaryStanzaCodec().encode(Node("ack", {"id": "x"})).hex() == "07011b027800"
    assert NOISE_PROTOCOL_NAME.decode() in SPEC
    assert prologue_for(1).decode() in SPEC
    for code in ErrorCode:
        assert f"| {int(code)} |" in SPEC
