"""The Signal protocol layer on its own: wire format, X3DH, sessions, limits, identities, keys."""

from __future__ import annotations

import time

import pytest
import xeddsa
from doubleratchet.models import DoubleRatchetModel, KDFChainModel
from x3dh import IdentityKeyFormat
from x3dh.base_state import BaseState
from x3dh.crypto_provider import HashFunction
from x3dh.models import BaseStateModel, IdentityKeyPairModel, SignedPreKeyPairModel
from x3dh.types import Bundle, Header, SecretType

from bridge.signal import agreement, prekeys
from bridge.signal.errors import (
    DuplicateMessageError,
    MissingPreKeyError,
    TamperedMessageError,
    TooFarAheadError,
    UntrustedIdentityError,
)
from bridge.signal.keys import KeyPair, encode_public_key, generate_registration_id, sign, verify
from bridge.signal.party import SignalParty
from bridge.signal.protobuf_codec import decode_fields, encode_fields, encode_varint
from bridge.signal.ratchet import MAX_SKIP
from bridge.signal.session import (
    SKIPPED_KEY_MAX_AGE_SECONDS,
    RatchetState,
    SessionRecord,
    ratchet_state,
)
from bridge.signal.store import MemorySignalStore
from bridge.signal.wire import InvalidMessageError, PreKeySignalMessage, SignalMessage

from .helpers import peer_bundle

# -- wire -----------------------------------------------------------------------------------------


def test_protobuf_fields_round_trip():
    fields = [(1, 0), (2, 300), (3, 0xFFFFFFFF), (4, b"\x00" * 200), (5, b"")]
    assert decode_fields(encode_fields(fields)) == dict(fields)
    assert encode_varint(300) == b"\xac\x02"
    with pytest.raises(ValueError):
        decode_fields(b"\x22\x05ab")  # truncated bytes field


def test_signal_messages_round_trip_and_refuse_bad_versions():
    key = KeyPair.generate().public
    signed = SignalMessage.encode_unsigned(key, 7, 3, b"c" * 32)
    parsed = SignalMessage.parse(signed + b"M" * 8)
    assert (parsed.ratchet_key, parsed.counter, parsed.previous_counter, parsed.ciphertext,
            parsed.mac) == (key, 7, 3, b"c" * 32, b"M" * 8)
    assert signed[0] == 0x33
    for pre_key_id in (None, 0xFFFFFF):
        pk = PreKeySignalMessage(1234, pre_key_id, 5, key, key, signed + b"M" * 8)
        assert PreKeySignalMessage.parse(pk.serialize()) == pk
    with pytest.raises(InvalidMessageError):
        SignalMessage.parse(b"\x22" + signed[1:] + b"M" * 8)  # version 2
    with pytest.raises(InvalidMessageError):
        PreKeySignalMessage.parse(b"\x33\x0a")


def test_signatures_accept_both_sign_bit_conventions():
    identity = KeyPair.generate()
    message = encode_public_key(KeyPair.generate().public)
    signature = sign(identity.private, message)
    assert signature[63] & 0x80 == 0 and verify(identity.public, message, signature)
    assert not verify(identity.public, message + b"x", signature)
    # the legacy convention: the Edwards key of the *unforced* private key, its sign bit carried
    # in the signature's top bit (what curve25519-js produces for about half of all keys)
    for _ in range(40):
        pair = KeyPair.generate()
        edwards = xeddsa.priv_to_ed25519_pub(pair.private)
        if edwards[31] & 0x80:
            legacy = bytearray(xeddsa.ed25519_priv_sign(pair.private, message))
            legacy[63] |= 0x80
            assert verify(pair.public, message, bytes(legacy))
            legacy[63] &= 0x7F
            assert not verify(pair.public, message, bytes(legacy))
            break
    else:
        pytest.fail("no key with the sign bit set in 40 tries")


# -- X3DH, cross-checked against the x3dh package -------------------------------------------------


class _SignalX3DH(BaseState):
    @staticmethod
    def _encode_public_key(key_format, pub):
        return b"\x05" + pub


@pytest.mark.parametrize("with_pre_key", [True, False])
async def test_x3dh_agrees_with_the_x3dh_package(with_pre_key):
    alice, bob = KeyPair.generate(), KeyPair.generate()
    signed = prekeys.generate_signed_pre_key(bob, 1, int(time.time()))
    one_time = KeyPair.generate()
    bundle = agreement.PeerBundle(1, 1, bob.public, 1, signed.key_pair.public, signed.signature,
                                  7 if with_pre_key else None,
                                  one_time.public if with_pre_key else None)
    ours_initiator, base = agreement.initiate(alice, bundle)
    ours_responder = agreement.respond(bob, signed.key_pair, one_time if with_pre_key else None,
                                       alice.public, base.public)
    assert ours_initiator == ours_responder

    reference = _SignalX3DH.from_model(BaseStateModel(
        identity_key=IdentityKeyPairModel(secret=bob.private, secret_type=SecretType.PRIV),
        signed_pre_key=SignedPreKeyPairModel(priv=signed.key_pair.private, sig=signed.signature,
                                             timestamp=signed.created_at),
        old_signed_pre_key=None, pre_keys=frozenset({one_time.private})),
        IdentityKeyFormat.CURVE_25519, HashFunction.SHA_256, b"WhisperText")
    theirs, _, _ = await reference.get_shared_secret_passive(
        Header(identity_key=alice.public, ephemeral_key=base.public,
               signed_pre_key=signed.key_pair.public,
               pre_key=one_time.public if with_pre_key else None), require_pre_key=False)
    assert theirs == ours_responder

    # and the package as initiator against our responder (our signature has sign bit 0)
    initiator = _SignalX3DH.from_model(BaseStateModel(
        identity_key=IdentityKeyPairModel(secret=alice.private, secret_type=SecretType.PRIV),
        signed_pre_key=SignedPreKeyPairModel(priv=KeyPair.generate().private, sig=b"\0" * 64,
                                             timestamp=0),
        old_signed_pre_key=None, pre_keys=frozenset()),
        IdentityKeyFormat.CURVE_25519, HashFunction.SHA_256, b"WhisperText")
    shared, _, header = await initiator.get_shared_secret_active(
        Bundle(identity_key=bob.public, signed_pre_key=signed.key_pair.public,
               signed_pre_key_sig=signed.signature,
               pre_keys=frozenset({one_time.public}) if with_pre_key else frozenset()),
        require_pre_key=False)
    assert shared == agreement.respond(bob, signed.key_pair, one_time if with_pre_key else None,
                                       alice.public, header.ephemeral_key)


def test_a_forged_signed_pre_key_is_refused():
    alice, bob, mallory = KeyPair.generate(), KeyPair.generate(), KeyPair.generate()
    signed = prekeys.generate_signed_pre_key(mallory, 1, 0)
    with pytest.raises(agreement.InvalidSignatureError):
        agreement.initiate(alice, agreement.PeerBundle(1, 1, bob.public, 1,
                                                       signed.key_pair.public, signed.signature))


# -- sessions between two of our parties ----------------------------------------------------------


async def _pair(use_pre_key=True, **kwargs):
    alice = SignalParty(MemorySignalStore("@alice:x"), **kwargs)
    bob = SignalParty(MemorySignalStore("@bob:x"), **kwargs)
    await alice.ensure_identity(None, pre_key_count=5)
    await bob.ensure_identity(None, pre_key_count=5)
    await alice.process_bundle(None, "bob", peer_bundle(await bob.bundle(None), use_pre_key))
    return alice, bob


async def _send(src, dst, src_name, dst_name, text):
    kind, body = await src.encrypt(None, dst_name, text)
    assert (await dst.decrypt(None, src_name, kind, body)).plaintext == text


@pytest.mark.parametrize("use_pre_key", [True, False])
async def test_prekey_messages_repeat_until_the_first_reply(use_pre_key):
    alice, bob = await _pair(use_pre_key)
    first = [await alice.encrypt(None, "bob", b"m%d" % i) for i in range(3)]
    assert [k for k, _ in first] == ["pkmsg"] * 3
    parsed = PreKeySignalMessage.parse(first[0][1])
    assert parsed.pre_key_id == (1 if use_pre_key else None)
    for i, (kind, body) in enumerate(first[::-1]):  # even out of order, all open one session
        assert (await bob.decrypt(None, "alice", kind, body)).plaintext == b"m%d" % (2 - i)
    await _send(bob, alice, "bob", "alice", b"reply")
    assert (await alice.encrypt(None, "bob", b"x"))[0] == "msg"
    if use_pre_key:  # the one-time prekey is gone once used
        assert 1 not in [k for k, _ in (await bob.bundle(None)).pre_keys]


async def test_replay_and_tamper_leave_the_session_working():
    alice, bob = await _pair()
    await _send(alice, bob, "alice", "bob", b"hello")
    await _send(bob, alice, "bob", "alice", b"hi")
    kind, body = await alice.encrypt(None, "bob", b"once")
    assert (await bob.decrypt(None, "alice", kind, body)).plaintext == b"once"
    with pytest.raises(DuplicateMessageError):
        await bob.decrypt(None, "alice", kind, body)
    kind, body = await alice.encrypt(None, "bob", b"twice")
    for i in range(len(body)):
        flipped = body[:i] + bytes((body[i] ^ 0x40,)) + body[i + 1:]
        with pytest.raises((TamperedMessageError, InvalidMessageError, DuplicateMessageError,
                            TooFarAheadError)):
            await bob.decrypt(None, "alice", kind, flipped)
    assert (await bob.decrypt(None, "alice", kind, body)).plaintext == b"twice"
    await _send(bob, alice, "bob", "alice", b"still here")


async def test_a_replay_from_an_earlier_chain_is_a_duplicate_even_after_a_restart():
    """The ratchet library keeps skipped keys, not earlier chains: replaying a message of a chain
    the peer has since ratcheted away from used to surface as a forgery."""
    alice, bob = await _pair()
    kind, first = await alice.encrypt(None, "bob", b"first")
    assert (await bob.decrypt(None, "alice", kind, first)).plaintext == b"first"
    await _send(bob, alice, "bob", "alice", b"reply")
    await _send(alice, bob, "alice", "bob", b"on a new chain")
    record = await bob.store.load_session(None, "alice")
    restored = SessionRecord.deserialize(record.serialize())
    await bob.store.save_session(None, "alice", restored)
    with pytest.raises(DuplicateMessageError):
        await bob.decrypt(None, "alice", kind, first)
    await _send(alice, bob, "alice", "bob", b"the session is unharmed")
    await _send(bob, alice, "bob", "alice", b"both ways")


async def test_skipping_more_than_the_limit_is_refused_without_damage():
    alice, bob = await _pair()
    await _send(alice, bob, "alice", "bob", b"start")
    await _send(bob, alice, "bob", "alice", b"ok")
    for _ in range(MAX_SKIP + 1):
        await alice.encrypt(None, "bob", b"lost")
    kind, body = await alice.encrypt(None, "bob", b"too far")
    with pytest.raises(TooFarAheadError):
        await bob.decrypt(None, "alice", kind, body)
    await _send(bob, alice, "bob", "alice", b"bob can still send")


async def test_skipped_keys_expire_after_the_age_limit():
    alice, bob = await _pair()
    await _send(alice, bob, "alice", "bob", b"start")
    await _send(bob, alice, "bob", "alice", b"ok")
    late = await alice.encrypt(None, "bob", b"late")
    await _send(alice, bob, "alice", "bob", b"skips one")
    record = await bob.store.load_session(None, "alice")
    now = int(time.time())
    young = SessionRecord.deserialize(record.serialize(now), now + 60)
    assert (await young.decrypt(late[1])) == b"late"
    old = SessionRecord.deserialize(record.serialize(now),
                                    now + SKIPPED_KEY_MAX_AGE_SECONDS + 1)
    with pytest.raises(DuplicateMessageError):
        await old.decrypt(late[1])


def ratchet_state_from_model(model: DoubleRatchetModel) -> RatchetState:
    """The oracle: the same state read through the library's public (slow) pydantic model."""
    dh = model.diffie_hellman_ratchet
    sym = dh.symmetric_key_ratchet

    def chain(c: KDFChainModel | None) -> tuple[int, bytes] | None:
        return None if c is None else (c.length, c.key)

    return (dh.own_ratchet_priv, dh.other_ratchet_pub, chain(dh.root_chain),
            chain(sym.receiving_chain), chain(sym.sending_chain),
            sym.previous_sending_chain_length,
            [(k.ratchet_pub, k.index, k.message_key) for k in model.skipped_message_keys])


async def test_the_ratchet_state_read_for_serialising_is_the_librarys_own():
    """Sessions are serialised from the ratchet's attributes, not its (slow) pydantic ``model``;
    both must say the same, in every shape of state (a changed library fails here)."""
    alice, bob = await _pair()

    async def check() -> None:
        for party, peer in ((alice, "bob"), (bob, "alice")):
            record = await party.store.load_session(None, peer)
            if record is None or record.current.ratchet is None:
                continue
            ratchet = record.current.ratchet
            assert ratchet_state(ratchet) == ratchet_state_from_model(ratchet.model)
            again = SessionRecord.deserialize(record.serialize())
            assert ratchet_state(again.current.ratchet) == ratchet_state(ratchet)

    await check()
    await alice.encrypt(None, "bob", b"no reply yet")
    await check()
    await _send(alice, bob, "alice", "bob", b"start")
    await _send(bob, alice, "bob", "alice", b"ok")
    skipped = [await alice.encrypt(None, "bob", b"skipped %d" % i) for i in range(3)]
    await _send(alice, bob, "alice", "bob", b"after a gap")  # bob keeps three skipped keys
    await check()
    await bob.decrypt(None, "alice", *skipped[1])
    await check()
    record = await bob.store.load_session(None, "alice")
    assert [index for _, index, _ in ratchet_state(record.current.ratchet)[6]] == [0, 0, 2]


async def test_identity_change_is_refused_until_accepted():
    alice, bob = await _pair()
    await _send(alice, bob, "alice", "bob", b"hello")
    reinstalled = SignalParty(MemorySignalStore("@bob-new:x"))
    await reinstalled.ensure_identity(None, pre_key_count=2)
    new_bundle = peer_bundle(await reinstalled.bundle(None))
    with pytest.raises(UntrustedIdentityError) as caught:
        await alice.process_bundle(None, "bob", new_bundle)
    assert caught.value.change.previous_fingerprint != caught.value.change.new_fingerprint
    await alice.accept_identity(None, "bob", new_bundle.identity_key)
    assert await alice.process_bundle(None, "bob", new_bundle) is None
    await _send(alice, reinstalled, "alice", "bob", b"to the new device")


async def test_identity_change_can_go_on_with_a_notice():
    alice, bob = await _pair(accept_identity_changes=True)
    await _send(alice, bob, "alice", "bob", b"hello")
    reinstalled = SignalParty(MemorySignalStore("@bob-new:x"))
    await reinstalled.ensure_identity(None, pre_key_count=2)
    # the reinstalled peer starts a session towards alice: the change arrives in a PreKey message
    await reinstalled.process_bundle(None, "alice", peer_bundle(await alice.bundle(None)))
    kind, body = await reinstalled.encrypt(None, "alice", b"new me")
    result = await alice.decrypt(None, "bob", kind, body)
    assert result.plaintext == b"new me" and result.identity_change is not None


async def test_signed_pre_key_rotation_keeps_the_old_one_for_the_grace_period():
    alice = SignalParty(MemorySignalStore("@alice:x"))
    bob = SignalParty(MemorySignalStore("@bob:x"))
    t0 = int(time.time())
    await alice.ensure_identity(None, pre_key_count=5, now=t0)
    await bob.ensure_identity(None, pre_key_count=5, now=t0)
    old_bundle = peer_bundle(await bob.bundle(None))
    assert not await bob.maintain_keys(None, now=t0 + 3600)
    t1 = t0 + prekeys.SIGNED_PRE_KEY_ROTATION_SECONDS
    assert await bob.maintain_keys(None, now=t1)
    assert (await bob.bundle(None)).signed_pre_key_id == 2
    await alice.process_bundle(None, "bob", old_bundle)  # a bundle fetched before the rotation
    kind, body = await alice.encrypt(None, "bob", b"via the old signed prekey")
    assert (await bob.decrypt(None, "alice", kind, body)).plaintext == b"via the old signed prekey"
    await bob.maintain_keys(None, now=t1 + prekeys.SIGNED_PRE_KEY_GRACE_SECONDS)
    assert [k.key_id for k in await bob.store.load_signed_pre_keys(None)] == [2, 3]
    carol = SignalParty(MemorySignalStore("@carol:x"))
    await carol.ensure_identity(None, pre_key_count=1)
    await carol.process_bundle(None, "bob", peer_bundle(old_bundle, use_pre_key=False))
    kind, body = await carol.encrypt(None, "bob", b"too late")
    with pytest.raises(MissingPreKeyError):
        await bob.decrypt(None, "carol", kind, body)


async def test_one_time_prekeys_are_refilled_below_five():
    bob = SignalParty(MemorySignalStore("@bob:x"))
    await bob.ensure_identity(None)
    bundle = await bob.bundle(None)
    assert [k for k, _ in bundle.pre_keys] == list(range(1, 51))
    for key_id in range(1, 46):  # 5 left: no refill yet
        await bob.store.delete_pre_key(None, key_id)
    assert not await bob.maintain_keys(None)
    await bob.store.delete_pre_key(None, 46)  # 4 left
    assert await bob.maintain_keys(None)
    ids = [k for k, _ in (await bob.bundle(None)).pre_keys]
    assert len(ids) == 50 and ids[:4] == [47, 48, 49, 50] and ids[-1] == 96


def test_key_ids_and_registration_ids_stay_in_range():
    assert prekeys.next_key_id(prekeys.MAX_KEY_ID) == 1
    assert [k.key_id for k in prekeys.generate_pre_keys(0xFFFFFE, 3)] == [0xFFFFFE, 0xFFFFFF, 1]
    assert all(1 <= generate_registration_id() < 1 << 14 for _ in range(500))


async def test_a_used_one_time_prekey_cannot_start_a_second_session():
    alice, bob = await _pair()
    bundle = peer_bundle(await bob.bundle(None))
    await _send(alice, bob, "alice", "bob", b"first")
    carol = SignalParty(MemorySignalStore("@carol:x"))
    await carol.ensure_identity(None, pre_key_count=1)
    await carol.process_bundle(None, "bob", bundle)  # the same prekey 1 again
    kind, body = await carol.encrypt(None, "bob", b"second")
    with pytest.raises(MissingPreKeyError):
        await bob.decrypt(None, "carol", kind, body)


def test_a_zero_prekey_id_means_no_one_time_prekey():
    key = KeyPair.generate().public
    explicit_zero = bytes((0x33,)) + encode_fields([
        (1, 0), (2, encode_public_key(key)), (3, encode_public_key(key)), (4, b"m"), (5, 1),
        (6, 1)])
    assert PreKeySignalMessage.parse(explicit_zero).pre_key_id is None
