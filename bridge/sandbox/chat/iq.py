"""Request/response stanzas (``iq``, protocol §7.2–7.4, §7.10): key server, blocklist, deletion,
reachability pings, username lookup, reports and keep-alive."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bridge.gateway.codec import Node
from bridge.gateway.errors import ErrorCode, ErrorInfo
from bridge.gateway.ids import SERVER_ADDRESS

from ..clock import DAY_MS, millis
from ..enlistment import verify_signed_prekey
from ..ids import is_internal_id
from ..storage.partners import Bundle, OneTimePrekey, SignedPrekey
from .reports import handle_report
from .stanzas import StanzaRejected, bytes_child, error_node, iq_error, iq_result, require_id

if TYPE_CHECKING:
    from .router import Router

log = logging.getLogger("bridge.sandbox.chat.iq")

MAX_PREKEYS_PER_UPLOAD = 812
MAX_PREKEYS_STORED = 812
LOW_PREKEY_NOTIFICATION_ID = "low-prekeys"
PING_INTERVAL_MS = DAY_MS


async def handle_iq(router: Router, sender: str, node: Node) -> Node:
    iq_id = require_id(node)
    iq_type, xmlns = node.attrs.get("type", ""), node.attrs.get("xmlns", "")
    handler = _HANDLERS.get((xmlns, iq_type))
    if handler is None:
        return iq_error(iq_id, ErrorInfo(ErrorCode.BAD_REQUEST, "unknown xmlns or type"))
    try:
        return await handler(router, sender, iq_id, node)
    except StanzaRejected as rejected:
        return iq_error(iq_id, rejected.info)


async def _keepalive(router: Router, sender: str, iq_id: str, node: Node) -> Node:
    return iq_result(iq_id)


# --- key server -------------------------------------------------------------------------------


def _signed_prekey(node: Node) -> SignedPrekey | None:
    skey = node.child("skey")
    if skey is None:
        return None
    key_id = bytes_child(skey, "id", 3)
    value = bytes_child(skey, "value", 32)
    signature = bytes_child(skey, "signature", 64)
    if key_id is None or value is None or signature is None:
        raise StanzaRejected(ErrorCode.BAD_REQUEST, "skey needs id, value and signature")
    return SignedPrekey(int.from_bytes(key_id, "big"), value, signature)


def _one_time_prekeys(node: Node) -> list[OneTimePrekey]:
    listing = node.child("list")
    if listing is None:
        return []
    keys = []
    for key in listing.children_by_tag("key"):
        key_id, value = bytes_child(key, "id", 3), bytes_child(key, "value", 32)
        if key_id is None or value is None:
            raise StanzaRejected(ErrorCode.BAD_REQUEST, "key needs id and value")
        keys.append(OneTimePrekey(int.from_bytes(key_id, "big"), value))
    if len(keys) > MAX_PREKEYS_PER_UPLOAD:
        raise StanzaRejected(ErrorCode.TOO_LARGE, f"at most {MAX_PREKEYS_PER_UPLOAD} prekeys")
    return keys


async def _upload_keys(router: Router, sender: str, iq_id: str, node: Node) -> Node:
    gw = router.gw
    user = await gw.partners.get(sender)
    if user is None:
        raise StanzaRejected(ErrorCode.NOT_AUTHORIZED, "not enlisted")
    keytype = bytes_child(node, "keytype", 1)
    if keytype is not None and keytype != b"\x05":
        raise StanzaRejected(ErrorCode.BAD_REQUEST, "keytype must be 0x05")
    registration = bytes_child(node, "registration", 4)
    identity = bytes_child(node, "identity", 32) or user.identity_key
    spk = _signed_prekey(node)
    prekeys = _one_time_prekeys(node)
    identity_changed = identity != user.identity_key
    if identity_changed and spk is None:
        raise StanzaRejected(ErrorCode.BAD_REQUEST, "a new identity needs a new skey")
    if spk is not None and not verify_signed_prekey(identity, spk.public_key, spk.signature):
        raise StanzaRejected(ErrorCode.BAD_REQUEST, "skey signature does not verify")
    stored = await gw.partners.count_one_time_prekeys(sender)
    if stored + len(prekeys) > MAX_PREKEYS_STORED and not identity_changed:
        raise StanzaRejected(ErrorCode.TOO_LARGE, f"at most {MAX_PREKEYS_STORED} prekeys stored")
    if spk is not None or registration is not None:
        await gw.partners.set_signed_prekey(
            sender, identity,
            int.from_bytes(registration, "big") if registration else user.registration_id,
            spk or user.signed_prekey)
    if identity_changed:
        # Prekeys made for the old identity are useless to anyone starting a new session.
        await gw.partners.clear_one_time_prekeys(sender)
    await gw.partners.add_one_time_prekeys(sender, prekeys)
    if identity_changed:
        await router.identity_changed(sender, identity)
    return iq_result(iq_id)


async def _count_keys(router: Router, sender: str, iq_id: str, node: Node) -> Node:
    if node.child("key") is not None:
        return await _fetch_bundles(router, sender, iq_id, node)
    count = await router.gw.partners.count_one_time_prekeys(sender)
    return iq_result(iq_id, [Node("count", {"value": str(count)})])


def _bundle_node(jid: str, bundle: Bundle) -> Node:
    spk = bundle.signed_prekey
    children = [
        Node("registration", {}, bundle.registration_id.to_bytes(4, "big")),
        Node("keytype", {}, b"\x05"),
        Node("identity", {}, bundle.identity_key),
        Node("skey", {}, [Node("id", {}, spk.key_id.to_bytes(3, "big")),
                          Node("value", {}, spk.public_key),
                          Node("signature", {}, spk.signature)]),
    ]
    if bundle.one_time_prekey is not None:
        otk = bundle.one_time_prekey
        children.append(Node("key", {}, [Node("id", {}, otk.key_id.to_bytes(3, "big")),
                                         Node("value", {}, otk.public_key)]))
    return Node("user", {"jid": jid}, children)


async def _fetch_bundles(router: Router, sender: str, iq_id: str, node: Node) -> Node:
    gw = router.gw
    request = node.child("key")
    assert request is not None
    users = []
    for user in request.children_by_tag("user"):
        jid = user.attrs.get("jid", "")
        try:
            if not is_internal_id(jid):
                gk_user = await gw.directory.gatekeeper_user_at(jid)
                if gk_user is None:
                    raise StanzaRejected(ErrorCode.UNKNOWN_USER, "unknown user")
                if not gk_user.opted_in:
                    raise StanzaRejected(ErrorCode.NOT_OPTED_IN, "not opted in")
            bundle = await gw.partners.take_bundle(sender, jid, millis(gw.clock))
            if bundle is None:
                raise StanzaRejected(ErrorCode.UNKNOWN_USER, "unknown user")
        except StanzaRejected as rejected:
            users.append(Node("user", {"jid": jid}, [error_node(rejected.info)]))
            continue
        users.append(_bundle_node(jid, bundle))
        await gw.contacts.add_pair(sender, jid)
        if is_internal_id(jid):
            await router.check_low_prekeys(jid)
        else:
            await gw.simulated.refill_if_low(jid)
    return iq_result(iq_id, [Node("list", {}, users)])


# --- blocklist, deletion, reachability, lookup -------------------------------------------------


async def _get_blocklist(router: Router, sender: str, iq_id: str, node: Node) -> Node:
    blocked = await router.gw.directory.blocklist(sender)
    return iq_result(iq_id, [Node("list", {}, [Node("item", {"jid": a}) for a in blocked])])


async def _set_blocklist(router: Router, sender: str, iq_id: str, node: Node) -> Node:
    items = list(node.children_by_tag("item"))
    if not items:
        raise StanzaRejected(ErrorCode.BAD_REQUEST, "no item")
    for item in items:
        jid, action = item.attrs.get("jid", ""), item.attrs.get("action")
        if not jid or action not in ("block", "unblock"):
            raise StanzaRejected(ErrorCode.BAD_REQUEST, "item needs jid and action")
    for item in items:
        await router.gw.set_block(sender, item.attrs["jid"], item.attrs["action"] == "block",
                                  notify_owner=False)
    return iq_result(iq_id)


async def _delete_account(router: Router, sender: str, iq_id: str, node: Node) -> Node:
    if node.child("delete") is None:
        raise StanzaRejected(ErrorCode.BAD_REQUEST, "expected <delete/>")
    # The result goes out first, then the connection ends with 401 "deleted" (protocol §7.4).
    router.end_after_reply[sender] = ErrorInfo(ErrorCode.NOT_AUTHORIZED, "deleted")
    await router.retire(sender, "deleted", end_connection=False)
    return iq_result(iq_id)


async def _reachability_ping(router: Router, sender: str, iq_id: str, node: Node) -> Node:
    gw = router.gw
    ping = node.child("ping")
    target = ping.attrs.get("to", "") if ping is not None else ""
    if not target:
        raise StanzaRejected(ErrorCode.BAD_REQUEST, "expected <ping to=…/>")
    if await gw.directory.gatekeeper_user_at(target) is None:
        raise StanzaRejected(ErrorCode.UNKNOWN_USER, "unknown user")
    now = millis(gw.clock)
    last = await gw.directory.last_ping(sender, target)
    if last is not None and now - last < PING_INTERVAL_MS:
        retry_after = (last + PING_INTERVAL_MS - now) / 1000
        raise StanzaRejected(ErrorCode.RATE_LIMITED, "already pinged", retry_after=retry_after)
    await gw.directory.record_ping(sender, target, now)
    # The simulated gatekeeper user "sees" the invitation in its mailbox (admin API).
    await router.notify(target, "reachability", sender)
    return iq_result(iq_id)


async def _lookup(router: Router, sender: str, iq_id: str, node: Node) -> Node:
    query = node.child("user")
    username = query.attrs.get("username", "") if query is not None else ""
    if not username:
        raise StanzaRejected(ErrorCode.BAD_REQUEST, "expected <user username=…/>")
    user = await router.gw.directory.get_gatekeeper_user(username)
    if user is None:
        raise StanzaRejected(ErrorCode.UNKNOWN_USER, "unknown user")
    return iq_result(iq_id, [Node("user", {"username": user.username, "jid": user.address,
                                           "opted-in": "true" if user.opted_in else "false"})])


_HANDLERS = {
    ("ping", "get"): _keepalive,
    ("encrypt", "set"): _upload_keys,
    ("encrypt", "get"): _count_keys,
    ("blocklist", "get"): _get_blocklist,
    ("blocklist", "set"): _set_blocklist,
    ("deletion", "set"): _delete_account,
    ("reachability", "set"): _reachability_ping,
    ("lookup", "get"): _lookup,
    ("report", "set"): handle_report,
}

__all__ = ["SERVER_ADDRESS", "handle_iq"]
