"""``iq`` requests of docs/gateway-protocol.md §7.3-7.4: builders and result parsers (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .codec import Node
from .errors import ErrorInfo, ProtocolViolation
from .ids import Address, StanzaId
from .stanzas import iq

KEY_TYPE_CURVE25519 = b"\x05"


@dataclass(frozen=True, slots=True)
class OneTimePreKey:
    key_id: int  # 3 bytes on the wire
    public: bytes  # 32 bytes


@dataclass(frozen=True, slots=True)
class SignedPreKey:
    key_id: int
    public: bytes
    signature: bytes  # 64-byte XEdDSA signature over 0x05 || public


@dataclass(frozen=True, slots=True)
class PreKeyBundle:
    address: Address
    registration_id: int
    identity: bytes
    signed_prekey: SignedPreKey
    one_time_prekey: OneTimePreKey | None


def _key_node(key_id: int, public: bytes) -> list[Node]:
    return [Node("id", {}, key_id.to_bytes(3, "big")), Node("value", {}, public)]


def prekey_upload(
    stanza_id: StanzaId,
    one_time_prekeys: Iterable[OneTimePreKey],
    *,
    registration_id: int | None = None,
    identity: bytes | None = None,
    signed_prekey: SignedPreKey | None = None,
) -> Node:
    children: list[Node] = []
    if registration_id is not None:
        children.append(Node("registration", {}, registration_id.to_bytes(4, "big")))
        children.append(Node("keytype", {}, KEY_TYPE_CURVE25519))
    if identity is not None:
        children.append(Node("identity", {}, identity))
    children.append(Node("list", {}, [Node("key", {}, _key_node(k.key_id, k.public))
                                      for k in one_time_prekeys]))
    if signed_prekey is not None:
        children.append(Node("skey", {}, [
            *_key_node(signed_prekey.key_id, signed_prekey.public),
            Node("signature", {}, signed_prekey.signature),
        ]))
    return iq(stanza_id, "set", "encrypt", children)


def prekey_count_request(stanza_id: StanzaId) -> Node:
    return iq(stanza_id, "get", "encrypt", [Node("count")])


def parse_prekey_count(result: Node) -> int:
    count = result.child("count")
    try:
        return int(count.attrs["value"]) if count is not None else 0
    except (KeyError, ValueError) as exc:
        raise ProtocolViolation("count without value") from exc


def bundle_request(stanza_id: StanzaId, addresses: Iterable[Address]) -> Node:
    return iq(stanza_id, "get", "encrypt",
              [Node("key", {}, [Node("user", {"jid": address}) for address in addresses])])


def _bytes_of(node: Node | None, tag: str, size: int) -> bytes:
    data = node.data if node is not None else None
    if data is None or len(data) != size:
        raise ProtocolViolation(f"{tag} must be {size} bytes")
    return data


def parse_bundles(result: Node) -> dict[Address, PreKeyBundle | ErrorInfo]:
    """Each requested user's bundle, or the per-user error (403, 404)."""
    bundles: dict[Address, PreKeyBundle | ErrorInfo] = {}
    listing = result.child("list")
    for user in listing.children_by_tag("user") if listing is not None else ():
        address = Address(user.attrs.get("jid", ""))
        error = user.child("error")
        if error is not None:
            bundles[address] = ErrorInfo.from_node(error)
            continue
        skey = user.child("skey")
        if skey is None:
            raise ProtocolViolation("bundle without signed prekey")
        one_time = user.child("key")
        bundles[address] = PreKeyBundle(
            address=address,
            registration_id=int.from_bytes(_bytes_of(user.child("registration"), "registration",
                                                     4), "big"),
            identity=_bytes_of(user.child("identity"), "identity", 32),
            signed_prekey=SignedPreKey(
                int.from_bytes(_bytes_of(skey.child("id"), "skey id", 3), "big"),
                _bytes_of(skey.child("value"), "skey value", 32),
                _bytes_of(skey.child("signature"), "skey signature", 64),
            ),
            one_time_prekey=None if one_time is None else OneTimePreKey(
                int.from_bytes(_bytes_of(one_time.child("id"), "key id", 3), "big"),
                _bytes_of(one_time.child("value"), "key value", 32),
            ),
        )
    return bundles


def blocklist_get(stanza_id: StanzaId) -> Node:
    return iq(stanza_id, "get", "blocklist")


def blocklist_set(stanza_id: StanzaId, address: Address, block: bool) -> Node:
    action = "block" if block else "unblock"
    return iq(stanza_id, "set", "blocklist", [Node("item", {"jid": address, "action": action})])


def parse_blocklist(result: Node) -> list[Address]:
    listing = result.child("list")
    if listing is None:
        return []
    return [Address(item.attrs["jid"]) for item in listing.children_by_tag("item")
            if "jid" in item.attrs]


def deletion_request(stanza_id: StanzaId) -> Node:
    """Opt-out: the gateway deletes the login, its keys and mailbox."""
    return iq(stanza_id, "set", "deletion", [Node("delete")])


def reachability_ping(stanza_id: StanzaId, to: Address) -> Node:
    return iq(stanza_id, "set", "reachability", [Node("ping", {"to": to})])


@dataclass(frozen=True, slots=True)
class LookupResult:
    username: str
    address: Address
    opted_in: bool


def username_lookup(stanza_id: StanzaId, username: str) -> Node:
    return iq(stanza_id, "get", "lookup", [Node("user", {"username": username})])


def parse_lookup(result: Node) -> LookupResult:
    user = result.child("user")
    if user is None or "jid" not in user.attrs:
        raise ProtocolViolation("lookup result without user")
    return LookupResult(user.attrs.get("username", ""), Address(user.attrs["jid"]),
                        user.attrs.get("opted-in") == "true")
