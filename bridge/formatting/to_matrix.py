"""Gateway markup and mentions → a Matrix body with ``org.matrix.custom.html``.

Every piece of remote text is HTML-escaped before it is placed in the
formatted body; the only tags produced are the fixed ones below, and the
only links are matrix.to pills built from the resolver's mxids. Remote text
can therefore never inject markup into a Matrix client.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from mautrix.types import MatrixURI

from bridge.content.models import Address

from .markup import Block, Code, Inline, Line, Quote, Style, parse_markup
from .types import MatrixMention, MatrixText, RemoteToMatrixResolver

_TAGS = {Style.BOLD: "strong", Style.ITALIC: "em", Style.STRIKE: "del"}
# First character tried for mention placeholders: the private use area, which
# no meaningful text uses and which the markup parser treats as punctuation.
_PLACEHOLDER_BASE = 0xE000


def _escape(text: str) -> str:
    return html.escape(text, quote=True)


def _pill(mention: MatrixMention) -> str:
    url = MatrixURI.build(mention.user_id).matrix_to_url
    return f'<a href="{_escape(url)}">{_escape(mention.displayname)}</a>'


class _Placeholders:
    """Swaps each "@username" marker for one private-use character.

    The markup parser then sees a mention as a single unbreakable symbol, so
    markers inside usernames (``@bob_smith``) cannot start formatting.
    """

    def __init__(self, text: str, mentions: list[MatrixMention]) -> None:
        self.by_char: dict[str, MatrixMention] = {}
        used = set(text)
        code = _PLACEHOLDER_BASE
        # Longer usernames first, so "@bobby" is not taken for "@bob" + "by".
        for mention in sorted(mentions, key=lambda m: len(m.username), reverse=True):
            while chr(code) in used:
                code += 1
            char = chr(code)
            # Not followed by more name characters ending in a letter or digit:
            # "@bob." and "_@bob_" mention bob, "@bob_smith" does not.
            pattern = re.compile(re.escape("@" + mention.username) + r"(?![\w.-]*[^\W_])")
            text, count = pattern.subn(char, text)
            if count:
                self.by_char[char] = mention
                used.add(char)
        self.text = text

    def plain(self, text: str) -> str:
        for char, mention in self.by_char.items():
            text = text.replace(char, mention.displayname)
        return text

    def literal(self, text: str) -> str:
        """The text as the sender wrote it, for code, where nothing is a pill."""
        for char, mention in self.by_char.items():
            text = text.replace(char, "@" + mention.username)
        return text

    def html(self, text: str) -> str:
        if not self.by_char:
            return _escape(text)
        parts = re.split(f"([{''.join(self.by_char)}])", text)
        return "".join(
            _pill(self.by_char[part]) if part in self.by_char else _escape(part) for part in parts
        )


def _inline_html(nodes: Sequence[Inline], placeholders: _Placeholders) -> str:
    out = []
    for node in nodes:
        if isinstance(node, str):
            out.append(placeholders.html(node))
        elif isinstance(node, Code):
            out.append(f"<code>{_escape(placeholders.literal(node.text))}</code>")
        else:
            tag = _TAGS[node.style]
            out.append(f"<{tag}>{_inline_html(node.children, placeholders)}</{tag}>")
    return "".join(out)


def _blocks_html(blocks: list[Block], placeholders: _Placeholders) -> str:
    out: list[str] = []
    for index, block in enumerate(blocks):
        previous = blocks[index - 1] if index else None
        following = blocks[index + 1] if index + 1 < len(blocks) else None
        if isinstance(block, Line):
            if isinstance(previous, Line):
                out.append("<br/>")
            elif not block.children and following is not None and not isinstance(following, Line):
                # A blank line between two blocks: nothing else would show it.
                out.append("<br/>")
            out.append(_inline_html(block.children, placeholders))
        elif isinstance(block, Quote):
            lines = "<br/>".join(_inline_html(line.children, placeholders) for line in block.lines)
            out.append(f"<blockquote>{lines}</blockquote>")
        else:
            out.append(f"<pre><code>{_escape(placeholders.literal(block.text))}</code></pre>")
    return "".join(out)


def _is_plain(blocks: list[Block], placeholders: _Placeholders) -> bool:
    for block in blocks:
        if not isinstance(block, Line):
            return False
        for node in block.children:
            if not isinstance(node, str) or any(char in node for char in placeholders.by_char):
                return False
    return True


def remote_to_matrix(
    text: str, mentions: Sequence[Address], resolve: RemoteToMatrixResolver
) -> MatrixText:
    """Convert gateway text (markup plus mentioned internal ids) for Matrix.

    Mentions the resolver does not know stay as literal "@username" text.
    The plain body keeps the markup characters (they read naturally) and
    shows mentions by display name.
    """
    known: list[MatrixMention] = []
    for address in dict.fromkeys(mentions):
        mention = resolve(address)
        if mention is not None and mention.username:
            known.append(mention)
    placeholders = _Placeholders(text, known)
    blocks = parse_markup(placeholders.text)
    mentioned = tuple(dict.fromkeys(m.user_id for m in placeholders.by_char.values()))
    body = placeholders.plain(placeholders.text)
    if _is_plain(blocks, placeholders):
        return MatrixText(body=body, formatted_body=None, mentioned_user_ids=mentioned)
    return MatrixText(
        body=body,
        formatted_body=_blocks_html(blocks, placeholders),
        mentioned_user_ids=mentioned,
    )
