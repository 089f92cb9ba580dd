"""Admin endpoints of simulated gatekeeper users: send content, typing, receipts; read the inbox.

Content calls (``POST …/send/{kind}``) build a typed content model from JSON
(``simulated_content``), encode it with ``bridge.content.encode_content`` (padded) and send it
through the user's Signal session; media is encrypted with ``bridge.media.encrypt_media`` and
kept on the sandbox's media server first. Every send answers with the stanza id and the
gateway's ack.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bridge.content import MediaRef, encode_content
from bridge.gateway.codec import Node
from bridge.gateway.errors import ErrorInfo
from bridge.media import encrypt_media

from . import simulated_content as sc
from .admin_api import _json_body, json_error, refusal
from .clock import millis
from .http_public import store_upload
from .ids import is_internal_id
from .stored_stanza import to_obj

if TYPE_CHECKING:
    from .server import SandboxGateway


def add_admin_simulated_routes(app: web.Application, gateway: SandboxGateway,
                               prefix: str) -> None:
    api = SimulatedUserApi(gateway)
    user = f"{prefix}/gatekeeper-users/{{username}}"
    r = app.router
    r.add_post(f"{user}/simulate", api.simulate)
    r.add_post(f"{user}/reset-identity", api.reset_identity)
    r.add_post(f"{user}/send", api.send_plaintext)
    r.add_post(f"{user}/send/{{kind}}", api.send_content)
    r.add_post(f"{user}/typing", api.typing)
    r.add_post(f"{user}/read", api.read)
    r.add_get(f"{user}/inbox", api.inbox)



def _reply_json(reply: Node | None) -> dict[str, Any]:
    """``{"reply": ack}`` plus ``{"error": {code, text}}`` when the gateway refused it."""
    out: dict[str, Any] = {"reply": to_obj(reply) if reply is not None else None}
    error = reply.child("error") if reply is not None else None
    if error is not None:
        info = ErrorInfo.from_node(error)
        out["error"] = {"code": int(info.code), "text": info.text}
    return out


class SimulatedUserApi:
    def __init__(self, gateway: SandboxGateway) -> None:
        self.gw = gateway

    async def _user(self, request: web.Request, *, simulated: bool = True):
        user = await self.gw.directory.get_gatekeeper_user(request.match_info["username"])
        if user is None:
            raise refusal(web.HTTPNotFound, "not_found", "no such gatekeeper user")
        if simulated and not self.gw.simulated.is_simulated(user.address):
            raise refusal(web.HTTPConflict, "not_simulated", "POST …/simulate first")
        return user

    async def resolve(self, value: Any) -> str:
        """An address from an internal id, a gatekeeper address, a partner's user-visible id
        or a gatekeeper username."""
        if not isinstance(value, str) or not value:
            raise refusal(web.HTTPBadRequest, "bad_request", "to is required")
        if is_internal_id(value):
            return value  # an unknown one is refused by the router, in the ack
        partner = await self.gw.partners.get_by_visible_id(value)
        if partner is not None:
            return partner.internal_id
        gatekeeper_user = (await self.gw.directory.gatekeeper_user_at(value)
                           or await self.gw.directory.get_gatekeeper_user(value))
        if gatekeeper_user is not None:
            return gatekeeper_user.address
        raise refusal(web.HTTPNotFound, "unknown_user", "no user with that id or username")

    async def simulate(self, request: web.Request) -> web.Response:
        user = await self._user(request, simulated=False)
        return web.json_response(await self.gw.simulated.enable(user.address))

    async def reset_identity(self, request: web.Request) -> web.Response:
        user = await self._user(request)
        return web.json_response(await self.gw.simulated.reset_identity(user.address))

    async def _send(self, user, to: str, plaintext: bytes, *, message_type: str,
                    stanza_id: Any, add_padding: bool = False) -> dict[str, Any]:
        if not user.opted_in:
            raise refusal(web.HTTPForbidden, "not_opted_in",
                          "this gatekeeper user has not opted in")
        try:
            outcome = await self.gw.simulated.send(
                user.address, to, plaintext, message_type=message_type,
                stanza_id=str(stanza_id) if stanza_id else None, add_padding=add_padding)
        except LookupError as e:
            raise refusal(web.HTTPNotFound, "no_keys", str(e)) from None
        return {"id": outcome.stanza_id, **_reply_json(outcome.reply)}

    async def send_plaintext(self, request: web.Request) -> web.Response:
        """``{"to", "plaintext": base64, "type"?: text|media|reaction, "id"?, "pad"?: bool}``."""
        user = await self._user(request)
        body = await _json_body(request)
        try:
            plaintext = base64.b64decode(body["plaintext"], validate=True)
        except (KeyError, TypeError, ValueError, binascii.Error):
            return json_error(400, "bad_request", "to and plaintext (base64) are required")
        to = await self.resolve(body.get("to"))
        return web.json_response(await self._send(
            user, to, plaintext, message_type=str(body.get("type", "text")),
            stanza_id=body.get("id"), add_padding=bool(body.get("pad", False))))

    async def send_content(self, request: web.Request) -> web.Response:
        """``POST …/send/{text|reply|media|location|reaction|edit|revoke}`` (docs/sandbox.md)."""
        kind = request.match_info["kind"]
        if kind not in sc.SEND_KINDS:
            return json_error(404, "not_found",
                              f"kind is one of {', '.join(sorted(sc.SEND_KINDS))}")
        user = await self._user(request)
        body = await _json_body(request)
        to = await self.resolve(body.get("to"))
        try:
            model = await self._build(kind, body, user.address, to)
        except sc.BadContentRequest as e:
            return json_error(400, "bad_request", str(e))
        answer = await self._send(user, to, encode_content(model),
                                  message_type=sc.delivery_type(model), stanza_id=body.get("id"))
        return web.json_response({**answer, "content": sc.content_to_json(model)})

    async def _build(self, kind: str, body: dict[str, Any], sender: str, to: str):
        now_ms = millis(self.gw.clock)
        if kind in ("text", "reply"):
            return sc.text_content(body, await self._mentions(body),
                                   require_reply=kind == "reply")
        if kind == "media":
            return await self._media(body, sender)
        if kind == "location":
            return sc.location_content(body)
        if kind == "reaction":
            return sc.reaction_content(body, to, now_ms)
        if kind == "edit":
            return sc.edit_content(body, to, now_ms)
        return sc.revoke_content(body, to)

    async def _mentions(self, body: dict[str, Any]) -> list:
        mentions = body.get("mentions", [])
        if not isinstance(mentions, list):
            raise sc.BadContentRequest("mentions must be a list of ids")
        return [await self.resolve(m) for m in mentions]

    async def _media(self, body: dict[str, Any], sender: str):
        """Encrypt the file, keep the blob on the media server, refer to it by ``/v/t…``."""
        media_kind = sc.media_kind(body)
        try:
            data = base64.b64decode(body["data"], validate=True)
        except (KeyError, TypeError, ValueError, binascii.Error):
            raise sc.BadContentRequest("data (the file, base64) is required") from None
        if len(data) > self.gw.config.max_media_bytes:
            raise sc.BadContentRequest("file exceeds the media size limit")
        mime_type = body.get("mime_type") or sc.DEFAULT_MIME[media_kind]
        if not isinstance(mime_type, str):
            raise sc.BadContentRequest("mime_type must be a string")
        encrypted = encrypt_media(media_kind, data)
        reference = await store_upload(self.gw, encrypted.blob, "application/octet-stream",
                                       sender)
        media = MediaRef(path=f"/v/t{reference}", media_key=encrypted.media_key,
                         sha256_plain=encrypted.sha256_plain, sha256_enc=encrypted.sha256_enc,
                         length=encrypted.length, mime_type=mime_type)
        return sc.media_content(body, media_kind, media, await self._mentions(body))

    async def typing(self, request: web.Request) -> web.Response:
        user = await self._user(request)
        body = await _json_body(request)
        state = body.get("state", "composing")
        if state not in ("composing", "paused"):
            return json_error(400, "bad_request", "state is composing or paused")
        to = await self.resolve(body.get("to"))
        await self.gw.router.handle(user.address, Node("chatstate", {"to": to}, [Node(state)]))
        return web.json_response({"sent": True})

    async def read(self, request: web.Request) -> web.Response:
        """``{"to", "id"}``: a read receipt for one of the partner's messages."""
        user = await self._user(request)
        body = await _json_body(request)
        to = await self.resolve(body.get("to"))
        message_id = body.get("id")
        if not isinstance(message_id, str) or not message_id:
            return json_error(400, "bad_request", "id (the message read) is required")
        receipt = Node("receipt", {"id": message_id, "to": to, "type": "read"})
        reply = await self.gw.router.handle(user.address, receipt)
        return web.json_response({"id": message_id, **_reply_json(reply)})

    async def inbox(self, request: web.Request) -> web.Response:
        user = await self._user(request)
        entries = await self.gw.simulated.sync_inbox(user.address)
        return web.json_response({
            "entries": entries,
            "chat_states": self.gw.simulated.chat_states.get(user.address, []),
        })
