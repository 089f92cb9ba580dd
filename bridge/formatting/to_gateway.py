"""Matrix ``org.matrix.custom.html`` (or a plain body) → gateway markup and mentions.

HTML is read by mautrix's `MatrixParser` (stdlib `html.parser` underneath),
which already knows Matrix's quirks: reply fallbacks (``<mx-reply>``),
pills, lists, code blocks, whitespace collapsing. This module only tells it
how to write each entity in WhatsApp-style markup and how to turn pills
into "@username" mentions.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Sequence

from mautrix.types import Format, MatrixURI, UserID
from mautrix.util.formatter import (
    EntityType,
    FormattedString,
    HTMLNode,
    MatrixParser,
    RecursionContext,
    read_html,
)

from bridge.content.models import Address

from .types import HTML_FORMAT, MatrixToRemoteResolver, RemoteMention, RemoteText

_INLINE_ENTITIES = {
    "b": EntityType.BOLD,
    "strong": EntityType.BOLD,
    "i": EntityType.ITALIC,
    "em": EntityType.ITALIC,
    "s": EntityType.STRIKETHROUGH,
    "strike": EntityType.STRIKETHROUGH,
    "del": EntityType.STRIKETHROUGH,
    "u": EntityType.UNDERLINE,
    "ins": EntityType.UNDERLINE,
}

_WRAPPERS = {
    EntityType.BOLD: "*",
    EntityType.HEADER: "*",
    EntityType.ITALIC: "_",
    EntityType.STRIKETHROUGH: "~",
}


def _wrap_each_line(text: str, marker: str) -> str:
    """Put markers around each line's words: markup cannot span lines or
    start or end with a space, so surrounding spaces move outside."""
    lines = []
    for line in text.split("\n"):
        core = line.strip()
        if not core:
            lines.append(line)
            continue
        start = line.index(core)
        lines.append(f"{line[:start]}{marker}{core}{marker}{line[start + len(core):]}")
    return "\n".join(lines)


class MarkupString(FormattedString):
    """A parse target that writes the gateway's WhatsApp-style markup."""

    def __init__(self, text: str = "") -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text

    def append(self, *args: str | FormattedString) -> MarkupString:
        self.text += "".join(map(str, args))
        return self

    def prepend(self, *args: str | FormattedString) -> MarkupString:
        self.text = "".join(map(str, args)) + self.text
        return self

    def format(self, entity_type: EntityType, **kwargs) -> MarkupString:
        if entity_type in _WRAPPERS:
            self.text = _wrap_each_line(self.text, _WRAPPERS[entity_type])
        elif entity_type == EntityType.INLINE_CODE:
            if self.text:
                self.text = f"`{self.text}`"
        elif entity_type == EntityType.PREFORMATTED:
            # Clients end code blocks with a newline that the fence makes redundant.
            body = self.text[:-1] if self.text.endswith("\n") else self.text
            if body:
                self.text = f"```{body}```"
        elif entity_type == EntityType.BLOCKQUOTE:
            self.text = "\n".join(f"> {line}" for line in self.text.strip().split("\n"))
        elif entity_type == EntityType.URL:
            url = kwargs["url"]
            if self.text.strip() and self.text != url:
                self.text = f"{self.text} ({url})"
            else:
                self.text = url
        # Underline, colour, spoiler, e-mail and the rest have no markup: the
        # text itself is kept. (A spoiler is shown; the notice says so.)
        return self

    def trim(self) -> MarkupString:
        self.text = self.text.strip()
        return self

    def split(self, separator: str, max_items: int = -1) -> list[MarkupString]:
        return [MarkupString(part) for part in self.text.split(separator, max_items)]

    @classmethod
    def join(cls, items: Sequence[str | FormattedString], separator: str = " ") -> MarkupString:
        return cls(separator.join(map(str, items)))


class _Parser(MatrixParser[MarkupString]):
    """One conversion: remembers the mentions it met (no state beyond the call)."""

    fs = MarkupString

    def __init__(self, resolve: MatrixToRemoteResolver) -> None:
        self._resolve = resolve
        self.mentions: list[Address] = []

    def list_bullet(self, depth: int) -> str:
        return "- "

    async def custom_node_to_fstring(self, node: HTMLNode, ctx: RecursionContext):
        # mautrix reads <s> and <del> but not the older <strike>.
        if node.tag == "strike":
            return await self.basic_format_to_fstring(node, ctx)
        return None

    async def tag_aware_parse_node(self, node: HTMLNode, ctx: RecursionContext) -> MarkupString:
        # Same layout rule as mautrix's (a block sits on lines of its own),
        # except that text after a block counts as text again, so a later
        # block is again put on a new line: "<blockquote>q</blockquote>a<pre>x</pre>"
        # must give "> q", "a", "```x```" on three lines.
        output = self.fs()
        after_block = False
        for msg, tag in await self.node_to_tagged_fstrings(node, ctx):
            if tag in self.block_tags:
                msg = msg.append("\n")
                if not after_block:
                    msg = msg.prepend("\n")
                after_block = True
            elif str(msg).strip():
                # (a bare <br> between blocks is a blank line, not text)
                after_block = False
            output = output.append(msg)
        return output.trim()

    async def basic_format_to_fstring(self, node: HTMLNode, ctx: RecursionContext):
        entity = _INLINE_ENTITIES.get(node.tag)
        if entity is None or any(child.tag in self.block_tags for child in node):
            return await super().basic_format_to_fstring(node, ctx)
        # Unlike mautrix, keep the spaces at the edges ("<b>word </b>next"):
        # _wrap_each_line moves them outside the markers.
        msg = self.fs.join(await self.node_to_fstrings(node, ctx), "")
        if self.exclude_plaintext_attrib in node.attrib:
            return msg
        return msg.format(entity)

    async def user_pill_to_fstring(self, msg: MarkupString, user_id: UserID) -> MarkupString:
        mention = await _resolve(self._resolve, user_id)
        if mention is None:
            # Not a gateway user: keep the pill's text (usually a display name).
            return msg
        if mention.address not in self.mentions:
            self.mentions.append(mention.address)
        return MarkupString(f"@{mention.username}")


async def _resolve(resolve: MatrixToRemoteResolver, user_id: UserID) -> RemoteMention | None:
    result = resolve(user_id)
    if inspect.isawaitable(result):
        result = await result
    return result


def pill_targets(formatted_body: str) -> set[UserID]:
    """The mxids that pills in `formatted_body` point at, to look them up in bulk first."""
    found: set[UserID] = set()

    def visit(node) -> None:
        for child in node:
            if child.tag == "a":
                # `<a href>` parses to an attribute without a value (None)
                uri = MatrixURI.try_parse(child.attrib.get("href") or "")
                if uri is not None and uri.user_id:
                    found.add(uri.user_id)
            visit(child)

    visit(read_html(f"<body>{formatted_body}</body>"))
    return found


_FALLBACK_LINE = re.compile(r"^> ?.*$")


def strip_reply_fallback(body: str) -> str:
    """Remove the "> <@user> quoted text" lines that old clients put before a reply."""
    lines = body.split("\n")
    if not lines or not lines[0].startswith("> <"):
        return body
    index = 0
    while index < len(lines) and _FALLBACK_LINE.match(lines[index]):
        index += 1
    if index < len(lines) and lines[index] == "":
        index += 1
    return "\n".join(lines[index:])


async def matrix_to_remote(
    body: str,
    formatted_body: str | None = None,
    resolve: MatrixToRemoteResolver = lambda user_id: None,
    *,
    format: str | Format | None = HTML_FORMAT,
) -> RemoteText:
    """Convert a Matrix message body for the gateway.

    With HTML, the HTML wins (its reply fallback is dropped); without it the
    plain body is sent as it is, minus any reply fallback. Pills become
    "@username" with the internal id in `mentions`; pills that resolve to
    nobody keep their text.
    """
    # mautrix's Format enum does not compare equal to its string value.
    format_name = getattr(format, "value", format)
    if formatted_body is None or format_name != HTML_FORMAT:
        return RemoteText(text=strip_reply_fallback(body))
    parser = _Parser(resolve)
    parsed = await parser.parse(formatted_body)
    return RemoteText(text=parsed.text.strip(), mentions=tuple(parser.mentions))
