"""The stanza tree every wire encoding carries: a tag, string attributes and content."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Node:
    """One stanza or one child of a stanza.

    ``content`` is either ``None`` (empty element), raw ``bytes`` (e.g. ciphertext, key material)
    or a list of child nodes. Attribute order carries no meaning.
    """

    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    content: list[Node] | bytes | None = None

    @property
    def children(self) -> list[Node]:
        return self.content if isinstance(self.content, list) else []

    def child(self, tag: str) -> Node | None:
        """The first child with this tag, or None."""
        for node in self.children:
            if node.tag == tag:
                return node
        return None

    def children_by_tag(self, tag: str) -> Iterator[Node]:
        return (node for node in self.children if node.tag == tag)

    @property
    def data(self) -> bytes | None:
        return self.content if isinstance(self.content, bytes) else None

    def __repr__(self) -> str:
        # Never print bytes content: it may be ciphertext or key material.
        if isinstance(self.content, bytes):
            body = f"<{len(self.content)} bytes>"
        elif isinstance(self.content, list):
            body = repr(self.content)
        else:
            body = "None"
        return f"Node({self.tag!r}, {self.attrs!r}, {body})"
