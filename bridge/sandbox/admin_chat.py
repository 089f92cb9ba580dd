"""Admin endpoints that act as (simulated) gatekeeper users on the chat side.

A test, a demo, or a simulated user with its own Signal implementation drives a gatekeeper user
through these: publish its keys, send stanzas as it (same routing, checks and dedupe as a
partner client's), read and acknowledge what was delivered to it.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bridge.gateway.codec import Node
from bridge.gateway.errors import ErrorInfo

from . import stored_stanza
from .admin_api import _json_body, json_error, refusal
from .enlistment import b64url_decode, verify_signed_prekey
from .storage.partners import OneTimePrekey, SignedPrekey

if TYPE_CHECKING:
    from .server import SandboxGateway


def add_admin_chat_routes(app: web.Application, gateway: SandboxGateway, prefix: str) -> None:
    api = AdminChatApi(gateway)
    r = app.router
    r.add_put(f"{prefix}/gatekeeper-users/{{username}}/keys", api.put_keys)
    r.add_post(f"{prefix}/gatekeeper-users/{{username}}/stanzas", api.send_stanza)
    r.add_post(f"{prefix}/gatekeeper-users/{{username}}/messages", api.send_message)
    r.add_get(f"{prefix}/gatekeeper-users/{{username}}/received", api.received)
    r.add_post(f"{prefix}/gatekeeper-users/{{username}}/ack", api.ack)
    r.add_post(f"{prefix}/partners/{{internal_id}}/unenlist", api.unenlist)
    r.add_get(f"{prefix}/faults", api.get_faults)
    r.add_put(f"{prefix}/faults", api.put_faults)
    r.add_post(f"{prefix}/partners/{{internal_id}}/disconnect", api.disconnect)


def node_from_json(obj: Any) -> Node:
    """The admin API's JSON stanza form: ``{"tag", "attrs", "children"|"bytes"(base64)}``."""
    if not isinstance(obj, dict) or not isinstance(obj.get("tag"), str) or not obj["tag"]:
        raise ValueError("a node needs a tag")
    attrs = obj.get("attrs", {})
    if not isinstance(attrs, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                              for k, v in attrs.items()):
        raise ValueError("attrs must map strings to strings")
    content: list[Node] | bytes | None = None
    if "bytes" in obj:
        content = base64.b64decode(obj["bytes"], validate=True)
    elif "children" in obj:
        content = [node_from_json(child) for child in obj["children"]]
    return Node(obj["tag"], dict(attrs), content)


def node_to_json(node: Node) -> dict[str, Any]:
    return stored_stanza.to_obj(node)


class AdminChatApi:
    def __init__(self, gateway: SandboxGateway) -> None:
        self.gw = gateway

    async def _user(self, request: web.Request):
        user = await self.gw.directory.get_gatekeeper_user(request.match_info["username"])
        if user is None:
            raise refusal(web.HTTPNotFound, "not_found", "no such gatekeeper user")
        return user

    async def put_keys(self, request: web.Request) -> web.Response:
        user = await self._user(request)
        body = await _json_body(request)
        try:
            identity = b64url_decode(body["identity_key"])
            spk_body = body["signed_prekey"]
            spk = SignedPrekey(int(spk_body["id"]), b64url_decode(spk_body["public_key"]),
                               b64url_decode(spk_body["signature"]))
            prekeys = [OneTimePrekey(int(k["id"]), b64url_decode(k["public_key"]))
                       for k in body.get("one_time_prekeys", [])]
            registration_id = int(body["registration_id"])
        except (KeyError, TypeError, ValueError, binascii.Error):
            return json_error(400, "bad_request", "identity_key, registration_id and "
                              "signed_prekey {id, public_key, signature} are required (base64url)")
        if any(len(k.public_key) != 32 for k in prekeys) or len(identity) != 32:
            return json_error(400, "bad_request", "keys must be 32 bytes")
        if not verify_signed_prekey(identity, spk.public_key, spk.signature):
            return json_error(400, "bad_signature", "signed prekey signature does not verify")
        previous = await self.gw.partners.identity_key(user.address)
        await self.gw.partners.set_gatekeeper_keys(user.address, registration_id, identity, spk)
        if previous is not None and previous != identity:
            await self.gw.partners.clear_one_time_prekeys(user.address)
            await self.gw.router.identity_changed(user.address, identity)
        await self.gw.partners.add_one_time_prekeys(user.address, prekeys)
        return web.json_response({
            "address": user.address,
            "one_time_prekeys": await self.gw.partners.count_one_time_prekeys(user.address)})

    async def _send(self, user, node: Node) -> web.Response:
        if not user.opted_in:
            return json_error(403, "not_opted_in", "this gatekeeper user has not opted in")
        reply = await self.gw.router.handle(user.address, node)
        return web.json_response({"reply": node_to_json(reply) if reply is not None else None})

    async def send_stanza(self, request: web.Request) -> web.Response:
        user = await self._user(request)
        try:
            node = node_from_json((await _json_body(request)).get("stanza"))
        except (ValueError, binascii.Error) as e:
            return json_error(400, "bad_request", f"bad stanza: {e}")
        return await self._send(user, node)

    async def send_message(self, request: web.Request) -> web.Response:
        """Shortcut: ``{"to", "id", "type"?, "enc_type"?, "ciphertext": base64}``."""
        user = await self._user(request)
        body = await _json_body(request)
        try:
            ciphertext = base64.b64decode(body["ciphertext"], validate=True)
            attrs = {"id": str(body["id"]), "to": str(body["to"]),
                     "type": str(body.get("type", "text"))}
        except (KeyError, ValueError, binascii.Error):
            return json_error(400, "bad_request", "to, id and ciphertext (base64) are required")
        enc_attrs = {"v": "2", "type": str(body.get("enc_type", "msg"))}
        return await self._send(user, Node("message", attrs,
                                           [Node("enc", enc_attrs, ciphertext)]))

    async def received(self, request: web.Request) -> web.Response:
        """Everything delivered to this gatekeeper user and not yet acked, in order."""
        user = await self._user(request)
        entries = await self.gw.mailbox.pending(user.address,
                                                not_before_ms=self.gw.retention_cutoff_ms())
        return web.json_response({"entries": [
            {"seq": e.seq, "class": e.ack_class, "id": e.stanza_id, "from": e.peer,
             "type": e.stanza_type, "stored_at": e.stored_at,
             "stanza": node_to_json(stored_stanza.loads(e.stanza))}
            for e in entries
        ]})

    async def ack(self, request: web.Request) -> web.Response:
        user = await self._user(request)
        body = await _json_body(request)
        removed = await self.gw.mailbox.ack(user.address, str(body.get("class", "message")),
                                            str(body.get("id", "")), str(body.get("from", "")),
                                            str(body.get("type", "")))
        return web.json_response({"removed": removed})

    async def unenlist(self, request: web.Request) -> web.Response:
        internal_id = request.match_info["internal_id"]
        if await self.gw.partners.get(internal_id) is None:
            return json_error(404, "not_found", "not enlisted")
        await self.gw.remove_partner_user(internal_id, "admin")
        return web.json_response({"internal_id": internal_id, "removed": True})

    # --- fault injection ---------------------------------------------------------------------

    async def get_faults(self, request: web.Request) -> web.Response:
        return web.json_response(self.gw.faults.to_json())

    async def put_faults(self, request: web.Request) -> web.Response:
        """``{"unavailable"?: bool, "retry_after"?: s, "max_admissions"?: n, "window"?: s}``."""
        body = await _json_body(request)
        faults = self.gw.faults
        try:
            if "unavailable" in body:
                faults.unavailable = bool(body["unavailable"])
            if "retry_after" in body:
                faults.retry_after = max(0.0, float(body["retry_after"]))
            if "max_admissions" in body:
                faults.max_admissions = max(1, int(body["max_admissions"]))
            if "window" in body:
                faults.window = max(0.0, float(body["window"]))
        except (TypeError, ValueError):
            return json_error(400, "bad_request", "numbers and booleans only")
        return web.json_response(faults.to_json())

    async def disconnect(self, request: web.Request) -> web.Response:
        """End a partner's connection: with ``{"code", "text"}`` as a stream error, else by
        dropping the socket (what a network failure looks like to the client)."""
        conn = self.gw.router.connections.get(request.match_info["internal_id"])
        if conn is None:
            return json_error(404, "not_connected", "no open connection for that login")
        body = await _json_body(request) if request.can_read_body else {}
        if "code" in body:
            try:
                info = ErrorInfo(int(body["code"]), str(body.get("text", "")))
            except (TypeError, ValueError):
                return json_error(400, "bad_request", "code must be a number")
            await conn.end(info)
        else:
            await conn.drop()
        return web.json_response({"disconnected": True})
