"""What the gateway delivers, as typed values (docs/gateway-protocol.md §7): pure parsers.

The session hands the partner client raw nodes; they become these values here and nowhere else,
so the rest of the bridge never reads a stanza's attributes or children.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from .codec import Node
from .ids import Address, StanzaId
from .stanzas import sender_username


def _timestamp(node: Node) -> int | None:
    value = node.attrs.get("t", "")
    return int(value) if value.isdigit() else None


def _sender(node: Node) -> Address:
    return Address(node.attrs.get("from", ""))


@dataclass(frozen=True, slots=True)
class DeliveredMessage:
    """A ``message`` stanza with its encrypted payload (§7.1)."""

    stanza_id: StanzaId
    sender: Address
    #: seconds since the epoch, as the gateway stamped it; None when absent or not a number
    timestamp: int | None
    #: the sender's user-visible name (``notify``), when present and printable
    username: str | None
    #: ``pkmsg``, ``msg`` or ``skmsg``; "" when the gateway left it out
    enc_type: str
    ciphertext: bytes


@dataclass(frozen=True, slots=True)
class MalformedMessage:
    """A ``message`` stanza without an encrypted payload: acknowledged and dropped."""

    stanza_id: StanzaId
    sender: Address


def parse_message(node: Node) -> DeliveredMessage | MalformedMessage:
    stanza_id, sender = StanzaId(node.attrs["id"]), Address(node.attrs["from"])
    enc = node.child("enc")
    if enc is None or not isinstance(enc.content, bytes):
        return MalformedMessage(stanza_id, sender)
    return DeliveredMessage(stanza_id=stanza_id, sender=sender, timestamp=_timestamp(node),
                            username=sender_username(node), enc_type=enc.attrs.get("type", ""),
                            ciphertext=enc.content)


@dataclass(frozen=True, slots=True)
class Receipt:
    """A contact got (``read=False``) or read our messages (§7.2)."""

    sender: Address
    stanza_ids: tuple[StanzaId, ...]
    read: bool


@dataclass(frozen=True, slots=True)
class RetryReceipt:
    """A contact could not decrypt one of our messages and asks for it again (§7.3)."""

    sender: Address
    stanza_id: StanzaId
    #: how many times they have asked; from 2 on the message goes over a fresh session
    count: int


def parse_receipt(node: Node) -> Receipt | RetryReceipt:
    stanza_id = StanzaId(node.attrs["id"])
    if node.attrs.get("type") == "retry":
        retry = node.child("retry")
        count = retry.attrs.get("count", "1") if retry is not None else "1"
        return RetryReceipt(_sender(node), stanza_id, int(count) if count.isdigit() else 1)
    ids = [stanza_id]
    listed = node.child("list")
    if listed is not None:
        ids += [StanzaId(item.attrs["id"]) for item in listed.children_by_tag("item")
                if "id" in item.attrs]
    return Receipt(_sender(node), tuple(ids), read=node.attrs.get("type") == "read")


@dataclass(frozen=True, slots=True)
class PrekeysLow:
    """The gateway's pool of our one-time prekeys runs low (``type="encrypt"``)."""


@dataclass(frozen=True, slots=True)
class IdentityChangeNotice:
    """The contact's identity key changed (they reinstalled, or a new device)."""

    sender: Address


@dataclass(frozen=True, slots=True)
class BlocklistEntry:
    address: Address
    blocked: bool


@dataclass(frozen=True, slots=True)
class BlocklistChange:
    """Our blocklist changed elsewhere (another session, the gateway)."""

    entries: tuple[BlocklistEntry, ...]


@dataclass(frozen=True, slots=True)
class ContactOptedOut:
    """The contact turned third-party chats off: they can no longer be reached."""

    sender: Address


@dataclass(frozen=True, slots=True)
class OtherNotification:
    """A notification the bridge has nothing to do for (acknowledged all the same)."""

    kind: str
    sender: Address


Notification: TypeAlias = (
    "PrekeysLow | IdentityChangeNotice | BlocklistChange | ContactOptedOut | OtherNotification"
)


def parse_notification(node: Node) -> Notification:
    kind, sender = node.attrs.get("type", ""), _sender(node)
    if kind == "encrypt":
        return PrekeysLow()
    if kind == "identity-change":
        return IdentityChangeNotice(sender)
    if kind == "opt-out":
        return ContactOptedOut(sender)
    if kind == "blocklist":
        return BlocklistChange(tuple(
            BlocklistEntry(Address(item.attrs.get("jid", "")),
                           blocked=item.attrs.get("action") == "block")
            for item in node.children_by_tag("item")))
    return OtherNotification(kind, sender)


@dataclass(frozen=True, slots=True)
class Chatstate:
    """The contact started (``composing``) or stopped typing; never acknowledged."""

    sender: Address
    composing: bool


def parse_info(node: Node) -> Chatstate | None:
    """A best-effort stanza (``chatstate``, ``ib``, unknown ones); None when it means nothing
    to the bridge."""
    if node.tag == "chatstate":
        return Chatstate(_sender(node), composing=node.child("composing") is not None)
    return None
