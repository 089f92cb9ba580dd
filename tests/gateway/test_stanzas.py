"""Stanza builders and parsers survive the codec and agree with each other."""

from __future__ import annotations

import pytest

from bridge.gateway import requests as rq
from bridge.gateway import stanzas as st
from bridge.gateway.codec import BinaryStanzaCodec, Node
from bridge.gateway.errors import ErrorCode, ProtocolViolation
from bridge.gateway.ids import Address, StanzaId

codec = BinaryStanzaCodec()
ALICE = Address("1-5@interop")


def wire(node: Node) -> Node:
    return codec.decode(codec.encode(node))


def test_bundle_request_and_result_parse() -> None:
    request = wire(rq.bundle_request(StanzaId("Q"), [ALICE, Address("x@gk")]))
    assert [u.attrs["jid"] for u in request.child("key").children] == [ALICE, "x@gk"]
    user = Node("user", {"jid": ALICE}, [
        Node("registration", {}, (7).to_bytes(4, "big")),
        Node("keytype", {}, b"\x05"),
        Node("identity", {}, b"\x01" * 32),
        Node("skey", {}, [Node("id", {}, b"\x00\x00\x02"), Node("value", {}, b"\x02" * 32),
                          Node("signature", {}, b"\x03" * 64)]),
        Node("key", {}, [Node("id", {}, b"\x00\x01\x00"), Node("value", {}, b"\x04" * 32)]),
    ])
    missing = Node("user", {"jid": "x@gk"}, [Node("error", {"code": "404", "text": "unknown"})])
    result = wire(Node("iq", {"id": "Q", "type": "result"}, [Node("list", {}, [user, missing])]))
    bundles = rq.parse_bundles(result)
    bundle = bundles[ALICE]
    assert isinstance(bundle, rq.PreKeyBundle)
    assert bundle.registration_id == 7 and bundle.signed_prekey.key_id == 2
    assert bundle.one_time_prekey == rq.OneTimePreKey(256, b"\x04" * 32)
    assert bundles[Address("x@gk")].code == ErrorCode.UNKNOWN_USER


def test_bundle_with_short_identity_is_a_protocol_violation() -> None:
    user = Node("user", {"jid": ALICE}, [Node("registration", {}, b"\x00" * 4),
                                         Node("identity", {}, b"\x01" * 31),
                                         Node("skey", {}, [])])
    with pytest.raises(ProtocolViolation):
        rq.parse_bundles(Node("iq", {}, [Node("list", {}, [user])]))


def test_prekey_upload_shape() -> None:
    upload = wire(rq.prekey_upload(
        StanzaId("U"), [rq.OneTimePreKey(1, b"\x05" * 32), rq.OneTimePreKey(2, b"\x06" * 32)],
        registration_id=99, identity=b"\x07" * 32,
        signed_prekey=rq.SignedPreKey(3, b"\x08" * 32, b"\x09" * 64)))
    assert upload.attrs == {"id": "U", "type": "set", "xmlns": "encrypt"}
    assert [k.child("id").data for k in upload.child("list").children] == [b"\0\0\1", b"\0\0\2"]
    assert upload.child("skey").child("signature").data == b"\x09" * 64
    refill = rq.prekey_upload(StanzaId("R"), [rq.OneTimePreKey(9, b"\x05" * 32)])
    assert [c.tag for c in refill.children] == ["list"]


def test_acks_and_receipts() -> None:
    delivered = Node("receipt", {"id": "M", "from": "b@gk", "type": "read", "t": "1"})
    assert st.ack_for(delivered).attrs == {"class": "receipt", "id": "M", "to": "b@gk",
                                           "type": "read"}
    with pytest.raises(ProtocolViolation):
        st.ack_for(Node("ib"))
    with pytest.raises(ProtocolViolation):
        st.ack_for(Node("message", {"id": "x"}))
    refused = st.parse_server_ack(wire(Node("ack", {"class": "message", "id": "M"}, [
        Node("error", {"code": "429", "text": "slow", "retry-after": "12"})])))
    assert refused.error is not None and refused.error.retry_after == 12.0
    sent = st.message(StanzaId("M"), ALICE, "msg", b"")
    assert st.server_ack_key(refused) == st.outbox_key(sent)
    read = st.receipt(StanzaId("M"), ALICE, "read", more_ids=[StanzaId("N")])
    assert st.outbox_key(read) == ("receipt", "M", "read")
    retry = wire(st.retry_receipt(StanzaId("M"), ALICE, 2, 100, 7, 200))
    assert retry.child("retry").attrs["count"] == "2"


def test_lookup_blocklist_and_other_requests() -> None:
    result = Node("iq", {"type": "result"}, [Node("user", {"username": "bob", "jid": "b@gk",
                                                           "opted-in": "true"})])
    assert rq.parse_lookup(wire(result)) == rq.LookupResult("bob", Address("b@gk"), True)
    listing = Node("iq", {}, [Node("list", {}, [Node("item", {"jid": "b@gk"})])])
    assert rq.parse_blocklist(listing) == ["b@gk"]
    assert rq.blocklist_set(StanzaId("B"), ALICE, False).child("item").attrs["action"] == "unblock"
    assert rq.deletion_request(StanzaId("D")).attrs["xmlns"] == "deletion"
    assert rq.reachability_ping(StanzaId("P"), ALICE).child("ping").attrs == {"to": ALICE}
    assert rq.parse_prekey_count(Node("iq", {}, [Node("count", {"value": "4"})])) == 4
    assert st.iq_error(Node("iq", {"type": "error"}, [Node("error", {"code": "503"})])).code == 503
