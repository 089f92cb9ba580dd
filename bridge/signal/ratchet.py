"""The ``doubleratchet`` library configured to be libsignal's classic (version 3) double ratchet.

What libsignal does, and where it is configured here:

* root chain: HKDF-SHA256(salt = root key, input = DH output, info "WhisperRatchet") -> new root
  key ‖ chain key: the library's HKDF KDF with that info (:class:`RootChainKDF`);
* message chains: next chain key = HMAC(ck, 0x02), message seed = HMAC(ck, 0x01): the library's
  separate-HMACs KDF fed the constant ``02 01`` (the chain keeps the first output as its new key);
* message keys: HKDF(seed, 32 zero bytes, "WhisperMessageKeys", 80) = cipher key ‖ MAC key ‖ IV,
  AES-256-CBC/PKCS#7, and an 8-byte truncated HMAC over sender identity ‖ receiver identity ‖ the
  serialised message: :class:`LibsignalAEAD`, which emits and checks the whole wire SignalMessage,
  because libsignal's MAC covers the header and the ciphertext as encoded together;
* counters: libsignal's ``previousCounter`` is the index of the last message of the previous
  sending chain, where the library counts its length. The header is translated both ways.
"""

from __future__ import annotations

import copy
import functools
import hmac
import struct
from hashlib import sha256
from typing import TypedDict

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.padding import PKCS7
from doubleratchet import aead as dr_aead
from doubleratchet.diffie_hellman_ratchet import DiffieHellmanRatchet
from doubleratchet.double_ratchet import DoubleRatchet
from doubleratchet.kdf import KDF
from doubleratchet.kdf_chain import KDFChain
from doubleratchet.recommended import HashFunction, kdf_hkdf, kdf_separate_hmacs
from doubleratchet.recommended.diffie_hellman_ratchet_curve25519 import (
    DiffieHellmanRatchet as Curve25519Ratchet,
)
from doubleratchet.symmetric_key_ratchet import SymmetricKeyRatchet
from doubleratchet.types import Header

from .wire import MAC_LENGTH, SignalMessage

IDENTITY_AD_LENGTH = 66  # sender identity (33) ‖ receiver identity (33)
MESSAGE_CHAIN_CONSTANT = b"\x02\x01"
#: the most message keys a single incoming message may make us derive and keep (libsignal: 2000)
MAX_SKIP = 2000
#: the most skipped message keys kept per session; the oldest are dropped first
MAX_SKIPPED_KEYS = 2000
_HEADER_STRUCT = struct.Struct(">II")
_ZERO_SALT = bytes(32)


class RootChainKDF(kdf_hkdf.KDF):
    @staticmethod
    def _get_hash_function() -> HashFunction:
        return HashFunction.SHA_256

    @staticmethod
    def _get_info() -> bytes:
        return b"WhisperRatchet"


class MessageChainKDF(kdf_separate_hmacs.KDF):
    @staticmethod
    def _get_hash_function() -> HashFunction:
        return HashFunction.SHA_256


def derive_message_keys(seed: bytes) -> tuple[bytes, bytes, bytes]:
    """Message seed -> (AES key, MAC key, IV)."""
    out = HKDF(hashes.SHA256(), 80, _ZERO_SALT, b"WhisperMessageKeys").derive(seed)
    return out[:32], out[32:64], out[64:80]


def aes_cbc_encrypt(key: bytes, iv: bytes, plaintext: bytes) -> bytes:
    padder = PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return encryptor.update(padded) + encryptor.finalize()


def aes_cbc_decrypt(key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    try:
        decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
        padded = decryptor.update(ciphertext) + decryptor.finalize()
        unpadder = PKCS7(128).unpadder()
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError as e:
        raise dr_aead.DecryptionFailedException("bad ciphertext or padding") from e


def _mac(mac_key: bytes, identities: bytes, signed_part: bytes) -> bytes:
    return hmac.new(mac_key, identities + signed_part, sha256).digest()[:MAC_LENGTH]


def wire_previous_counter(chain_length: int) -> int:
    return max(chain_length - 1, 0)


def library_previous_chain_length(previous_counter: int) -> int:
    # A peer that never sent on its previous chain may announce -1 as an unsigned 32-bit number.
    return 0 if previous_counter >= 0x8000_0000 else previous_counter + 1


class LibsignalAEAD(dr_aead.AEAD):
    """AES-256-CBC + truncated HMAC-SHA256, producing/consuming complete wire SignalMessages.

    The associated data handed in is ``identities(66) ‖ ratchet key(32) ‖ pn(4) ‖ n(4)`` (see
    :meth:`LibsignalDoubleRatchet._build_associated_data`); the "ciphertext" is the serialised
    SignalMessage including its MAC.
    """

    @classmethod
    async def encrypt(cls, plaintext: bytes, key: bytes, associated_data: bytes) -> bytes:
        cipher_key, mac_key, iv = derive_message_keys(key)
        identities = associated_data[:IDENTITY_AD_LENGTH]
        ratchet_key = associated_data[IDENTITY_AD_LENGTH:IDENTITY_AD_LENGTH + 32]
        previous_counter, counter = _HEADER_STRUCT.unpack_from(
            associated_data, IDENTITY_AD_LENGTH + 32)
        signed_part = SignalMessage.encode_unsigned(
            ratchet_key, counter, previous_counter, aes_cbc_encrypt(cipher_key, iv, plaintext))
        return signed_part + _mac(mac_key, identities, signed_part)

    @classmethod
    async def decrypt(cls, ciphertext: bytes, key: bytes, associated_data: bytes) -> bytes:
        cipher_key, mac_key, iv = derive_message_keys(key)
        message = parse_signal_message(ciphertext)
        expected = _mac(mac_key, associated_data[:IDENTITY_AD_LENGTH], message.signed_part)
        if not hmac.compare_digest(expected, message.mac):
            raise dr_aead.AuthenticationFailedException("bad MAC")
        return aes_cbc_decrypt(cipher_key, iv, message.ciphertext)


@functools.lru_cache(maxsize=1024)
def _public_of(private: bytes) -> bytes:
    return Curve25519Ratchet._derive_pub(private)


def _copy_chains(value: object) -> object:
    """Copy a chain object; its own attributes are immutable except nested chains."""
    clone = copy.copy(value)
    for name, inner in vars(value).items():
        if isinstance(inner, (KDFChain, SymmetricKeyRatchet)):
            setattr(clone, name, _copy_chains(inner))
    return clone


class LibsignalDHRatchet(Curve25519Ratchet):
    """The package's Curve25519 ratchet with two measured shortcuts:

    * it derives the public ratchet key from the private one for every message header; the result
      is cached (a ratchet key serves a whole chain);
    * the Double Ratchet deep-copies it before every decryption (to keep failures harmless);
      everything in it is immutable except the KDF chains, so copying those suffices.
    """

    @staticmethod
    def _derive_pub(priv: bytes) -> bytes:
        return _public_of(priv)

    def __deepcopy__(self, memo: dict[int, object]) -> LibsignalDHRatchet:
        return _copy_chains(self)  # type: ignore[return-value]


class LibsignalDoubleRatchet(DoubleRatchet):
    @staticmethod
    def _build_associated_data(associated_data: bytes, header: Header) -> bytes:
        return associated_data + header.ratchet_pub + _HEADER_STRUCT.pack(
            wire_previous_counter(header.previous_sending_chain_length),
            header.sending_chain_length)


class RatchetConfig(TypedDict):
    """The keyword arguments with which the library builds or restores a ratchet."""

    diffie_hellman_ratchet_class: type[DiffieHellmanRatchet]
    root_chain_kdf: type[KDF]
    message_chain_kdf: type[KDF]
    message_chain_constant: bytes
    dos_protection_threshold: int
    max_num_skipped_message_keys: int
    aead: type[dr_aead.AEAD]


#: keyword arguments that configure every ratchet of this layer
RATCHET_CONFIG: RatchetConfig = {
    "diffie_hellman_ratchet_class": LibsignalDHRatchet,
    "root_chain_kdf": RootChainKDF,
    "message_chain_kdf": MessageChainKDF,
    "message_chain_constant": MESSAGE_CHAIN_CONSTANT,
    "dos_protection_threshold": MAX_SKIP,
    "max_num_skipped_message_keys": MAX_SKIPPED_KEYS,
    "aead": LibsignalAEAD,
}


_last_parsed: tuple[bytes, SignalMessage] | None = None


def parse_signal_message(data: bytes) -> SignalMessage:
    """Parse, remembering the last result: the session parses a message for its header and the
    AEAD needs the same parse a moment later. Only the identical bytes object is reused."""
    global _last_parsed
    if _last_parsed is not None and _last_parsed[0] is data:
        return _last_parsed[1]
    message = SignalMessage.parse(data)
    _last_parsed = (data, message)
    return message


def header_from_wire(message: SignalMessage) -> Header:
    return Header(ratchet_pub=message.ratchet_key,
                  previous_sending_chain_length=library_previous_chain_length(
                      message.previous_counter),
                  sending_chain_length=message.counter)
