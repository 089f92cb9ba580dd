"""A partner client with a real Signal party talking to a simulated gatekeeper user."""

from __future__ import annotations

import aiohttp

from bridge.content import decode_content, encode_content
from bridge.gateway.codec import Node
from bridge.gateway.ids import Address
from bridge.gateway.stanzas import new_stanza_id

from .conftest import ADMIN_SECRET
from .helpers import Admin
from .test_mailbox import make_gatekeeper_user
from .test_simulated_users import enlist_signal_party


class PartnerSide:
    """Alice: enlisted with a real SignalParty's keys and connected to the sandbox."""

    def __init__(self, party, login: str, client) -> None:
        self.party = party
        self.login = login
        self.client = client

    @classmethod
    async def enlist(cls, sandbox, partner, visible_id: str = "alice") -> PartnerSide:
        return cls(*await enlist_signal_party(sandbox, partner, visible_id))

    async def receive_content(self, sender: str):
        """The next message: (stanza, decoded content); acks it as a client must."""
        message = await self.client.receive_until(lambda n: n.tag == "message")
        enc = message.child("enc")
        assert message.attrs["from"] == sender
        decrypted = await self.party.decrypt(None, Address(sender), enc.attrs["type"], enc.data)
        await self.client.send(Node("ack", {"class": "message", "id": message.attrs["id"],
                                            "to": sender}))
        return message, decode_content(decrypted.plaintext)

    async def send_content(self, to: str, model, *, message_type: str = "text",
                           stanza_id: str | None = None) -> Node:
        """Encrypt and send content; returns the gateway's ack."""
        kind, ciphertext = await self.party.encrypt(None, Address(to), encode_content(model))
        return await self.client.request(Node(
            "message", {"id": stanza_id or new_stanza_id(), "to": to, "type": message_type},
            [Node("enc", {"v": "2", "type": kind}, ciphertext)]))


async def simulated_gina(sandbox, *, username: str = "gina") -> tuple[Admin, str]:
    admin = Admin(sandbox, ADMIN_SECRET)
    address = await make_gatekeeper_user(admin, username)
    status, body = await admin.call("POST", f"/gatekeeper-users/{username}/simulate")
    assert status == 200, body
    return admin, address


async def download(sandbox, path: str) -> bytes:
    async with aiohttp.ClientSession() as http, http.get(sandbox.config.base_url + path) as resp:
        assert resp.status == 200, resp.status
        return await resp.read()
