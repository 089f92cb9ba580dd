"""Interop with independent implementations: npm ``libsignal`` (the classic Node port used by
WhatsApp Web clients) and ``@privacyresearch/libsignal-protocol-typescript``.

Both sides speak the conformance protocol; ours runs ``python -m bridge.signal.conformance`` with
its state in SQLite through the trust boundary, so every step also exercises storage.
"""

from __future__ import annotations

import base64
import random

import pytest

ROLES = [("python", "other"), ("other", "python")]


def establish(initiator, responder, pre_key_id: int | None = 1):
    bundle = responder.create("bob", pre_keys=5)
    initiator.create("alice", pre_keys=5)
    initiator.ok("process_bundle", party="alice", peer="bob", bundle=bundle, preKeyId=pre_key_id)


def send(src, src_name, dst, dst_name, text: bytes) -> None:
    kind, body = src.encrypt(src_name, dst_name, text)
    assert dst.decrypt(dst_name, src_name, kind, body) == text


@pytest.mark.parametrize("pre_key_id", [1, None], ids=["one-time-prekey", "no-prekey"])
@pytest.mark.parametrize("roles", ROLES, ids=["we-initiate", "they-initiate"])
def test_session_alternation_and_bursts(make_peer, other, roles, pre_key_id):
    kinds = [other if role == "other" else role for role in roles]
    initiator, responder = make_peer(kinds[0]), make_peer(kinds[1])
    establish(initiator, responder, pre_key_id)

    # PreKey messages repeat until the first reply; each one decrypts on the other side.
    for i in range(3):
        kind, body = initiator.encrypt("alice", "bob", b"hello %d" % i)
        assert kind == "pkmsg"
        assert responder.decrypt("bob", "alice", kind, body) == b"hello %d" % i
    send(responder, "bob", initiator, "alice", b"first reply")
    kind, _ = initiator.encrypt("alice", "bob", b"now plain")
    assert kind == "msg"

    for i in range(55):  # strict alternation: a DH ratchet step on every message
        send(initiator, "alice", responder, "bob", b"a%d" % i)
        send(responder, "bob", initiator, "alice", b"b%d" % i)
    for _ in range(3):  # bursts in each direction
        for i in range(20):
            send(initiator, "alice", responder, "bob", b"burst-a %d" % i)
        for i in range(20):
            send(responder, "bob", initiator, "alice", b"burst-b %d" % i)


def test_one_time_prekey_is_consumed_on_our_side(make_peer, other):
    ours, theirs = make_peer("python"), make_peer(other)
    establish(theirs, ours, pre_key_id=3)
    kind, body = theirs.encrypt("alice", "bob", b"x")
    assert ours.decrypt("bob", "alice", kind, body) == b"x"
    remaining = [k["keyId"] for k in ours.ok("bundle", party="bob")["bundle"]["preKeys"]]
    assert 3 not in remaining and len(remaining) == 4


@pytest.mark.parametrize("receiver_kind", ["python", "node"], ids=["we-receive", "they-receive"])
def test_out_of_order_within_a_chain_and_across_ratchet_steps(make_peer, other, receiver_kind):
    if receiver_kind == "node":
        receiver_kind, sender_kind = other, "python"
    else:
        sender_kind = other
    sender, receiver = make_peer(sender_kind), make_peer(receiver_kind)
    establish(sender, receiver)
    send(sender, "alice", receiver, "bob", b"setup")
    send(receiver, "bob", sender, "alice", b"setup reply")

    # within one chain: 12 messages delivered shuffled
    chain = [(b"c%d" % i, *sender.encrypt("alice", "bob", b"c%d" % i)) for i in range(12)]
    rng = random.Random(7)
    shuffled = chain[:]
    rng.shuffle(shuffled)
    for text, kind, body in shuffled:
        assert receiver.decrypt("bob", "alice", kind, body) == text

    # across DH steps: first chain partly delivered, then a reply makes the sender ratchet,
    # the new chain arrives first and the rest of the old chain afterwards
    old_chain = [(b"old%d" % i, *sender.encrypt("alice", "bob", b"old%d" % i)) for i in range(6)]
    text, kind, body = old_chain[0]
    assert receiver.decrypt("bob", "alice", kind, body) == text
    send(receiver, "bob", sender, "alice", b"ratchet please")
    new_chain = [(b"new%d" % i, *sender.encrypt("alice", "bob", b"new%d" % i)) for i in range(4)]
    for text, kind, body in new_chain[::-1] + old_chain[:0:-1]:
        assert receiver.decrypt("bob", "alice", kind, body) == text
    send(receiver, "bob", sender, "alice", b"still fine")
    send(sender, "alice", receiver, "bob", b"still fine too")


def _flip(body_b64: str, index: int) -> str:
    raw = bytearray(base64.b64decode(body_b64))
    raw[index] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize("initiator_kind", ["python", "node"])
def test_replays_and_bit_flips_are_refused_and_the_session_survives(make_peer, other,
                                                                   initiator_kind):
    ours = make_peer("python")
    theirs = make_peer(other)
    if initiator_kind == "python":
        establish(ours, theirs)
        send(ours, "alice", theirs, "bob", b"hi")
        them, us = "bob", "alice"
    else:
        establish(theirs, ours)
        kind, body = theirs.encrypt("alice", "bob", b"hi")
        # the PreKey message itself, tampered, must not set anything up
        assert not ours.try_decrypt("bob", "alice", kind, _flip(body, len(body) // 2))["ok"]
        assert ours.decrypt("bob", "alice", kind, body) == b"hi"
        assert not ours.try_decrypt("bob", "alice", kind, body)["ok"], "pkmsg replay accepted"
        them, us = "alice", "bob"
    send(ours, us, theirs, them, b"reply")

    kind, body = theirs.encrypt(them, us, b"secret")
    raw_len = len(base64.b64decode(body))
    for index in (1, 5, raw_len - 12, raw_len - 1):  # header, ratchet key, ciphertext, MAC
        reply = ours.try_decrypt(us, them, kind, _flip(body, index))
        assert not reply["ok"], f"bit flip at {index} accepted"
    assert ours.decrypt(us, them, kind, body) == b"secret"
    reply = ours.try_decrypt(us, them, kind, body)
    assert not reply["ok"] and "Duplicate" in reply["error"]
    for i in range(5):
        send(ours, us, theirs, them, b"after %d" % i)
        send(theirs, them, ours, us, b"back %d" % i)


@pytest.mark.parametrize("initiator_kind", ["python", "node"])
def test_restart_of_our_side_in_the_middle(make_peer, other, initiator_kind):
    ours, theirs = make_peer("python"), make_peer(other)
    if initiator_kind == "python":
        establish(ours, theirs)
        us, them = "alice", "bob"
    else:
        establish(theirs, ours)
        us, them = "bob", "alice"
        send(theirs, them, ours, us, b"opening")
    for i in range(10):
        send(ours, us, theirs, them, b"before %d" % i)
        send(theirs, them, ours, us, b"before-back %d" % i)
    pending = [theirs.encrypt(them, us, b"in flight %d" % i) for i in range(3)]
    ours.ok("restart")
    for i, (kind, body) in enumerate(pending):
        assert ours.decrypt(us, them, kind, body) == b"in flight %d" % i
    for i in range(10):
        send(ours, us, theirs, them, b"after %d" % i)
        send(theirs, them, ours, us, b"after-back %d" % i)


def test_signed_prekey_signatures_from_libsignal_verify_whatever_their_sign_bit(make_peer):
    """curve25519-js puts the Edwards sign bit into the signature; both kinds must verify."""
    from bridge.signal.keys import decode_public_key, verify

    node = make_peer("node")
    seen_bits = set()
    for i in range(24):
        bundle = node.create(f"p{i}", pre_keys=0)
        signature = base64.b64decode(bundle["signedPreKey"]["signature"])
        seen_bits.add(signature[63] >> 7)
        identity = decode_public_key(base64.b64decode(bundle["identityKey"]))
        assert verify(identity, base64.b64decode(bundle["signedPreKey"]["publicKey"]), signature)
    assert seen_bits == {0, 1}
