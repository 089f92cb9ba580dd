"""The bridge's own gateway client (``bridge.gateway``) against the sandbox: both ends of the
protocol as written, over real sockets."""

from __future__ import annotations

import asyncio

import aiohttp

from bridge.gateway import stanzas
from bridge.gateway.connection import ConnectionSettings, GatewayConnection, Handlers
from bridge.gateway.enlistment import EnlistmentError, EnlistmentKeys, enlist
from bridge.gateway.requests import SignedPreKey

from .conftest import ADMIN_SECRET
from .helpers import Admin, ClientKeys, eventually
from .test_mailbox import make_gatekeeper_user, send_as_gatekeeper


class ListOutbox:
    def __init__(self) -> None:
        self.items = []

    async def unacknowledged(self):
        return list(self.items)


class PartnerClient:
    """A partner client built from the bridge's gateway package only."""

    def __init__(self, sandbox, partner, http, visible_id: str) -> None:
        self.sandbox, self.partner, self.http, self.visible_id = sandbox, partner, http, visible_id
        self.keys = ClientKeys()
        self.outbox = ListOutbox()
        self.messages = []
        self.acks = []
        self.conn: GatewayConnection | None = None

    async def enlist(self) -> str:
        keys = self.keys
        self.login = await enlist(self.http, self.sandbox.config.base_url, EnlistmentKeys(
            keys.noise_public, keys.registration_id, keys.identity_public,
            SignedPreKey(keys.signed_prekey_id, keys.signed_prekey_public,
                         keys.signed_prekey_signature())),
            self.partner.identity_token(self.visible_id))
        return self.login

    def connect(self) -> GatewayConnection:
        async def on_message(node):
            self.messages.append(node)

        async def on_ack(ack):
            self.acks.append(ack)
            self.outbox.items = [n for n in self.outbox.items
                                 if stanzas.outbox_key(n) != stanzas.server_ack_key(ack)]

        async def token():
            return self.partner.identity_token(self.visible_id)

        self.conn = GatewayConnection(
            session=self.http,
            settings=ConnectionSettings(chat_url=self.sandbox.config.base_url.replace(
                "http://", "ws://") + "/chat", gateway_static_public=self.sandbox.noise_public),
            login=self.login, noise_static_private=self.keys.noise_private,
            token_provider=token, outbox=self.outbox,
            handlers=Handlers(on_message=on_message, on_server_ack=on_ack))
        return self.conn


async def test_bridge_client_enlists_sends_receives_and_acks(sandbox, partner):
    admin = Admin(sandbox, ADMIN_SECRET)
    async with aiohttp.ClientSession() as http:
        alice = PartnerClient(sandbox, partner, http, "alice")
        bob = PartnerClient(sandbox, partner, http, "bob")
        assert await alice.enlist() == "7-1@interop"
        await bob.enlist()
        gina = await make_gatekeeper_user(admin, "gina")
        await send_as_gatekeeper(admin, "gina", alice.login, "FROM-GINA")

        a, b = alice.connect(), bob.connect()
        try:
            a.wake()
            b.wake()
            await a.wait_open(10)
            await b.wait_open(10)
            # The waiting message is delivered, handled, and acked by the client.
            await eventually(lambda: [m.attrs["id"] for m in alice.messages] == ["FROM-GINA"])

            async def mailbox_empty():
                return await sandbox.mailbox.count(alice.login) == 0
            await eventually(mailbox_empty)

            # Alice → bob and alice → gina through the outbox; the sandbox acks both.
            to_bob = stanzas.message(stanzas.new_stanza_id(), bob.login, "pkmsg", b"\x33hi")
            to_gina = stanzas.message(stanzas.new_stanza_id(), gina, "pkmsg", b"\x33hey")
            for node in (to_bob, to_gina):
                alice.outbox.items.append(node)
                await a.send(node)
            await eventually(lambda: len(alice.acks) == 2)
            assert all(ack.error is None for ack in alice.acks)
            await eventually(lambda: [m.attrs["id"] for m in bob.messages] == [
                to_bob.attrs["id"]])
            assert bob.messages[0].attrs["from"] == alice.login
            _, received = await admin.call("GET", "/gatekeeper-users/gina/received")
            assert [e["id"] for e in received["entries"]] == [to_gina.attrs["id"]]
        finally:
            await a.close()
            await b.close()


async def test_bridge_client_sees_the_documented_enlistment_reasons(sandbox, partner):
    async with aiohttp.ClientSession() as http:
        client = PartnerClient(sandbox, partner, http, "alice")
        client.partner = type("Other", (), {
            "identity_token": lambda self, sub: partner.identity_token(
                sub, issuer="https://elsewhere.example")})()
        try:
            await client.enlist()
        except EnlistmentError as e:
            assert (e.reason, e.http_status) == ("bad_integrator", 403)
        else:
            raise AssertionError("enlistment should have been refused")
    await asyncio.sleep(0)
