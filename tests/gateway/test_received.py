"""Delivered stanzas become typed values (bridge.gateway.received), odd ones included."""

from __future__ import annotations

from bridge.gateway.codec import Node
from bridge.gateway.received import (
    BlocklistChange,
    BlocklistEntry,
    Chatstate,
    ContactOptedOut,
    DeliveredMessage,
    IdentityChangeNotice,
    MalformedMessage,
    OtherNotification,
    PrekeysLow,
    Receipt,
    RetryReceipt,
    parse_info,
    parse_message,
    parse_notification,
    parse_receipt,
)

GINA = "1-100@interop"


def test_a_message_with_its_payload() -> None:
    node = Node("message", {"id": "M1", "from": GINA, "t": "1764000000", "notify": "Gina"},
                [Node("enc", {"v": "2", "type": "pkmsg"}, b"\x01cipher")])
    assert parse_message(node) == DeliveredMessage(
        stanza_id="M1", sender=GINA, timestamp=1764000000, username="Gina", enc_type="pkmsg",
        ciphertext=b"\x01cipher")


def test_a_message_without_timestamp_type_or_printable_name() -> None:
    node = Node("message", {"id": "M2", "from": GINA, "t": "soon", "notify": "Gi\nna"},
                [Node("enc", {}, b"x")])
    parsed = parse_message(node)
    assert isinstance(parsed, DeliveredMessage)
    assert (parsed.timestamp, parsed.username, parsed.enc_type) == (None, None, "")


def test_a_message_without_an_encrypted_payload_is_malformed() -> None:
    assert parse_message(Node("message", {"id": "M3", "from": GINA})) == \
        MalformedMessage("M3", GINA)
    text_enc = Node("message", {"id": "M4", "from": GINA}, [Node("enc", {}, "not bytes")])
    assert isinstance(parse_message(text_enc), MalformedMessage)


def test_receipts_list_every_id_and_say_whether_read() -> None:
    node = Node("receipt", {"id": "S1", "from": GINA, "type": "read"},
                [Node("list", {}, [Node("item", {"id": "S2"}), Node("item", {}),
                                   Node("item", {"id": "S3"})])])
    assert parse_receipt(node) == Receipt(GINA, ("S1", "S2", "S3"), read=True)
    assert parse_receipt(Node("receipt", {"id": "S4", "from": GINA})) == \
        Receipt(GINA, ("S4",), read=False)


def test_a_retry_receipt_with_its_count() -> None:
    node = Node("receipt", {"id": "S5", "from": GINA, "type": "retry"},
                [Node("retry", {"count": "2", "id": "S5"})])
    assert parse_receipt(node) == RetryReceipt(GINA, "S5", 2)
    bad_count = Node("receipt", {"id": "S6", "from": GINA, "type": "retry"},
                     [Node("retry", {"count": "many"})])
    assert parse_receipt(bad_count) == RetryReceipt(GINA, "S6", 1)


def test_notifications_by_kind() -> None:
    def notification(kind: str, *children: Node) -> Node:
        return Node("notification", {"id": "N1", "from": GINA, "type": kind}, list(children))

    assert parse_notification(notification("encrypt")) == PrekeysLow()
    assert parse_notification(notification("identity-change")) == IdentityChangeNotice(GINA)
    assert parse_notification(notification("opt-out")) == ContactOptedOut(GINA)
    assert parse_notification(notification(
        "blocklist", Node("item", {"jid": "1-7@interop", "action": "block"}),
        Node("item", {"jid": "1-8@interop", "action": "unblock"}))) == BlocklistChange((
            BlocklistEntry("1-7@interop", blocked=True),
            BlocklistEntry("1-8@interop", blocked=False)))
    assert parse_notification(notification("devices")) == OtherNotification("devices", GINA)


def test_typing_and_other_best_effort_stanzas() -> None:
    composing = Node("chatstate", {"from": GINA}, [Node("composing")])
    paused = Node("chatstate", {"from": GINA}, [Node("paused")])
    assert parse_info(composing) == Chatstate(GINA, composing=True)
    assert parse_info(paused) == Chatstate(GINA, composing=False)
    assert parse_info(Node("ib", {}, [Node("offline")])) is None
