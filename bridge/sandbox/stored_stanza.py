"""A codec-neutral JSON form of stanza trees, for the mailbox.

Stored stanzas must outlive a change of wire codec, so the mailbox never holds wire bytes. Byte
content is base64; the admin view (:func:`describe`) replaces it by its size so that inspecting a
mailbox never shows ciphertext or key material.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from bridge.gateway.codec import Node


def to_obj(node: Node) -> dict[str, Any]:
    obj: dict[str, Any] = {"tag": node.tag}
    if node.attrs:
        obj["attrs"] = dict(node.attrs)
    if isinstance(node.content, bytes):
        obj["bytes"] = base64.b64encode(node.content).decode()
    elif isinstance(node.content, list):
        obj["children"] = [to_obj(child) for child in node.content]
    return obj


def _from_obj(obj: dict[str, Any]) -> Node:
    content: list[Node] | bytes | None = None
    if "bytes" in obj:
        content = base64.b64decode(obj["bytes"])
    elif "children" in obj:
        content = [_from_obj(child) for child in obj["children"]]
    return Node(obj["tag"], dict(obj.get("attrs", {})), content)


def dumps(node: Node) -> str:
    return json.dumps(to_obj(node), separators=(",", ":"))


def loads(stored: str) -> Node:
    return _from_obj(json.loads(stored))


def describe(node: Node) -> dict[str, Any]:
    """Tags and attributes; byte content only by length (never the bytes themselves)."""
    obj: dict[str, Any] = {"tag": node.tag, "attrs": dict(node.attrs)}
    if isinstance(node.content, bytes):
        obj["bytes"] = len(node.content)
    elif isinstance(node.content, list):
        obj["children"] = [describe(child) for child in node.content]
    return obj
