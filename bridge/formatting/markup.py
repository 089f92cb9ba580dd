"""A parser for the gateway's WhatsApp-style text markup (pure, no I/O).

Inline: ``*bold*``, ``_italic_``, ``~strike~`` and `` `code` ``. A marker
opens only at the start of the text or after a character that is not a
letter or digit, and must be followed by a non-space; it closes at the next
same marker that follows a non-space and is not followed by a letter or
digit. So ``snake_case_name`` and ``2*3*4`` stay literal. Markers never span
lines. Blocks: ```` ```monospace``` ```` (may span lines) and lines that start
with ``"> "`` (quotes). Lists are ordinary lines.

No Python library parses this markup, so it is written here; it runs in
O(n log n) on any input so that remote text cannot make it slow.
"""

from __future__ import annotations

import bisect
import enum
import re

import attrs


class Style(enum.Enum):
    BOLD = "*"
    ITALIC = "_"
    STRIKE = "~"


@attrs.frozen
class Styled:
    style: Style
    children: tuple[Inline, ...]


@attrs.frozen
class Code:
    text: str


Inline = str | Styled | Code


@attrs.frozen
class Line:
    children: tuple[Inline, ...]


@attrs.frozen
class Quote:
    lines: tuple[Line, ...]


@attrs.frozen
class CodeBlock:
    text: str


Block = Line | Quote | CodeBlock

QUOTE_PREFIX = "> "
_FENCE = re.compile(r"```(.+?)```", re.DOTALL)
_MARKERS = {"*": Style.BOLD, "_": Style.ITALIC, "~": Style.STRIKE, "`": None}


def _is_word(char: str) -> bool:
    return char.isalnum()


def _closers(text: str) -> dict[str, list[int]]:
    """Positions where each marker may close, in order."""
    found: dict[str, list[int]] = {marker: [] for marker in _MARKERS}
    last = len(text) - 1
    for index, char in enumerate(text):
        if (
            char in found
            and index > 0
            and not text[index - 1].isspace()
            and (index == last or not _is_word(text[index + 1]))
        ):
            found[char].append(index)
    return found


def parse_inline(text: str, active: frozenset[Style] = frozenset()) -> tuple[Inline, ...]:
    """Parse one line's inline markup. A style does not nest inside itself."""
    closers = _closers(text)
    out: list[Inline] = []
    plain: list[str] = []
    index, length = 0, len(text)
    while index < length:
        char = text[index]
        style = _MARKERS.get(char, False)
        if (
            style is not False
            and style not in active
            and (index == 0 or not _is_word(text[index - 1]))
            and index + 1 < length
            and not text[index + 1].isspace()
        ):
            positions = closers[char]
            found = bisect.bisect_left(positions, index + 2)
            if found < len(positions):
                close = positions[found]
                if plain:
                    out.append("".join(plain))
                    plain.clear()
                inner = text[index + 1 : close]
                if style is None:
                    out.append(Code(inner))
                else:
                    out.append(Styled(style, parse_inline(inner, active | {style})))
                index = close + 1
                continue
        plain.append(char)
        index += 1
    if plain:
        out.append("".join(plain))
    return tuple(out)


def _lines_to_blocks(segment: str) -> list[Block]:
    blocks: list[Block] = []
    quoted: list[Line] = []
    for raw in segment.split("\n"):
        if raw.startswith(QUOTE_PREFIX):
            quoted.append(Line(parse_inline(raw[len(QUOTE_PREFIX) :])))
            continue
        if quoted:
            blocks.append(Quote(tuple(quoted)))
            quoted = []
        blocks.append(Line(parse_inline(raw)))
    if quoted:
        blocks.append(Quote(tuple(quoted)))
    return blocks


def parse_markup(text: str) -> list[Block]:
    """Split text into lines, quotes and monospace blocks with inline markup."""
    blocks: list[Block] = []
    position = 0
    for fence in _FENCE.finditer(text):
        before = text[position : fence.start()]
        if before:
            # A fence is a block: the newline that sets it apart is not a
            # line of its own, but a blank line before it is.
            blocks.extend(_lines_to_blocks(before.removesuffix("\n")))
        blocks.append(CodeBlock(fence.group(1)))
        position = fence.end()
        if text.startswith("\n", position):
            position += 1
    rest = text[position:]
    if rest or not blocks:
        blocks.extend(_lines_to_blocks(rest))
    return blocks
