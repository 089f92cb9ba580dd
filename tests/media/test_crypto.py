"""Media encryption: round trips, a known-answer test and tamper tests."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from Crypto.Cipher import AES  # pycryptodome: an AES independent of `cryptography`
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.content import MediaKind
from bridge.media.crypto import (
    EncryptedHashMismatch,
    MalformedMedia,
    MediaMacMismatch,
    PlaintextHashMismatch,
    decrypt_media,
    encrypt_media,
    expand_media_key,
)

KEY = bytes(range(32))
INFO = {
    MediaKind.IMAGE: b"WhatsApp Image Keys",
    MediaKind.VIDEO: b"WhatsApp Video Keys",
    MediaKind.AUDIO: b"WhatsApp Audio Keys",
    MediaKind.DOCUMENT: b"WhatsApp Document Keys",
    MediaKind.STICKER: b"WhatsApp Image Keys",
}


def reference_hkdf(key: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869 with hmac/hashlib only; no salt means a hash-length zero salt."""
    prk = hmac.new(b"\x00" * 32, key, hashlib.sha256).digest()
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def reference_encrypt(kind: MediaKind, key: bytes, data: bytes) -> bytes:
    expanded = reference_hkdf(key, INFO[kind], 112)
    iv, cipher_key, mac_key = expanded[:16], expanded[16:48], expanded[48:80]
    pad = 16 - len(data) % 16
    ciphertext = AES.new(cipher_key, AES.MODE_CBC, iv).encrypt(data + bytes([pad]) * pad)
    return ciphertext + hmac.new(mac_key, iv + ciphertext, hashlib.sha256).digest()[:10]


@pytest.mark.parametrize("kind", list(MediaKind))
def test_key_expansion_known_answer(kind: MediaKind) -> None:
    expanded = reference_hkdf(KEY, INFO[kind], 112)
    keys = expand_media_key(kind, KEY)
    assert (keys.iv, keys.cipher_key, keys.mac_key) == (
        expanded[0:16], expanded[16:48], expanded[48:80]
    )


def test_kinds_use_distinct_keys_and_stickers_use_image_keys() -> None:
    derived = {kind: expand_media_key(kind, KEY) for kind in MediaKind}
    assert derived[MediaKind.STICKER] == derived[MediaKind.IMAGE]
    assert len({derived[k].cipher_key for k in MediaKind if k is not MediaKind.STICKER}) == 4


@pytest.mark.parametrize("kind", list(MediaKind))
@pytest.mark.parametrize("data", [b"", b"x" * 15, b"y" * 16, bytes(range(256)) * 40])
def test_blob_matches_independent_reference(kind: MediaKind, data: bytes) -> None:
    encrypted = encrypt_media(kind, data, media_key=KEY)
    assert encrypted.blob == reference_encrypt(kind, KEY, data)
    assert encrypted.sha256_plain == hashlib.sha256(data).digest()
    assert encrypted.sha256_enc == hashlib.sha256(encrypted.blob).digest()
    assert encrypted.length == len(data)


@pytest.mark.parametrize("kind", list(MediaKind))
@settings(max_examples=25)
@given(data=st.binary(max_size=4096))
def test_round_trip_per_kind(kind: MediaKind, data: bytes) -> None:
    encrypted = encrypt_media(kind, data)
    assert len(encrypted.media_key) == 32
    decrypted = decrypt_media(
        kind, encrypted.blob, encrypted.media_key, encrypted.sha256_enc, encrypted.sha256_plain
    )
    assert decrypted == data


def test_fresh_media_key_per_file() -> None:
    assert encrypt_media(MediaKind.IMAGE, b"same").media_key != (
        encrypt_media(MediaKind.IMAGE, b"same").media_key
    )


DATA = b"a picture worth a thousand words" * 10


def _encrypted(kind: MediaKind = MediaKind.IMAGE):
    return encrypt_media(kind, DATA)


@pytest.mark.parametrize("position", [0, 17, -11, -1])
def test_flipped_bit_fails_the_mac(position: int) -> None:
    enc = _encrypted()
    blob = bytearray(enc.blob)
    blob[position] ^= 0x01
    tampered = bytes(blob)
    # An attacker who controls the blob also controls its announced hash...
    with pytest.raises(MediaMacMismatch):
        decrypt_media(MediaKind.IMAGE, tampered, enc.media_key,
                      hashlib.sha256(tampered).digest(), enc.sha256_plain)
    # ...and with the genuine hash the blob hash check catches it first.
    with pytest.raises(EncryptedHashMismatch):
        decrypt_media(MediaKind.IMAGE, tampered, enc.media_key, enc.sha256_enc, enc.sha256_plain)


def test_wrong_encrypted_hash_is_a_hash_error() -> None:
    enc = _encrypted()
    with pytest.raises(EncryptedHashMismatch):
        decrypt_media(MediaKind.IMAGE, enc.blob, enc.media_key, b"\x00" * 32, enc.sha256_plain)


def test_wrong_plaintext_hash_is_a_hash_error() -> None:
    enc = _encrypted()
    with pytest.raises(PlaintextHashMismatch):
        decrypt_media(MediaKind.IMAGE, enc.blob, enc.media_key, enc.sha256_enc, b"\x00" * 32)


def test_wrong_key_fails_the_mac() -> None:
    enc = _encrypted()
    other = bytes(b ^ 0xFF for b in enc.media_key)
    with pytest.raises(MediaMacMismatch):
        decrypt_media(MediaKind.IMAGE, enc.blob, other, enc.sha256_enc, enc.sha256_plain)


def test_wrong_kind_fails_the_mac() -> None:
    enc = _encrypted(MediaKind.VIDEO)
    with pytest.raises(MediaMacMismatch):
        decrypt_media(MediaKind.AUDIO, enc.blob, enc.media_key, enc.sha256_enc, enc.sha256_plain)


@pytest.mark.parametrize("blob", [b"", b"\x00" * 25, b"\x00" * 27])
def test_malformed_blob_lengths(blob: bytes) -> None:
    with pytest.raises(MalformedMedia):
        decrypt_media(MediaKind.IMAGE, blob, KEY, hashlib.sha256(blob).digest(), b"\x00" * 32)


def test_bad_pkcs7_padding_behind_a_valid_mac() -> None:
    # Only the key holder can make this: a valid MAC over ciphertext whose
    # last block decrypts to invalid padding.
    keys = expand_media_key(MediaKind.DOCUMENT, KEY)
    ciphertext = AES.new(keys.cipher_key, AES.MODE_CBC, keys.iv).encrypt(b"\x00" * 16)
    blob = ciphertext + hmac.new(keys.mac_key, keys.iv + ciphertext, hashlib.sha256).digest()[:10]
    with pytest.raises(MalformedMedia):
        decrypt_media(MediaKind.DOCUMENT, blob, KEY, hashlib.sha256(blob).digest(), b"\x00" * 32)


def test_media_key_must_be_32_bytes() -> None:
    with pytest.raises(ValueError):
        expand_media_key(MediaKind.IMAGE, b"short")
