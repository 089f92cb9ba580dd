"""A small in-test gateway on a real loopback socket, built from the server-side state machine
and hello checks in bridge.gateway. It implements just enough of the spec (mailbox until ack,
sender dedupe, pings) to test the client against real Noise over a real WebSocket."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from bridge.gateway.codec import Node, WireError
from bridge.gateway.errors import ErrorInfo
from bridge.gateway.hello_auth import EnlistedClient, HelloRefused, authenticate_hello
from bridge.gateway.ids import InternalId
from bridge.gateway.noise_channel import (
    HelloReceived,
    ServerChannel,
    StanzaReceived,
    generate_static_private,
    static_public_from_private,
)

GATEWAY_ID = "http://gateway.test"


@dataclass
class Mailbox:
    """Stanzas kept until acked, in arrival order, keyed like the spec's mailbox."""

    stored: dict[tuple[str, str, str, str], Node] = field(default_factory=dict)

    @staticmethod
    def key(node: Node) -> tuple[str, str, str, str]:
        return (node.tag, node.attrs["id"], node.attrs.get("from", ""),
                node.attrs.get("type", "") if node.tag == "receipt" else "")

    @property
    def entries(self) -> list[Node]:
        return list(self.stored.values())

    def add(self, node: Node) -> None:
        self.stored[self.key(node)] = node

    def remove(self, key: tuple[str, str, str, str]) -> None:
        self.stored.pop(key, None)


class FakeGateway:
    def __init__(self, fetch_partner_jwks: Callable[[str], Awaitable[dict[str, Any]]]) -> None:
        self.static_private = generate_static_private()
        self.static_public = static_public_from_private(self.static_private)
        self.fetch_partner_jwks = fetch_partner_jwks
        self.enlisted: dict[InternalId, EnlistedClient] = {}
        self.mailboxes: dict[InternalId, Mailbox] = {}
        self.received: list[tuple[InternalId, Node]] = []
        self.client_acks: list[Node] = []
        self.seen: set[tuple[str, str, str, str]] = set()
        self.answer_pings = True
        self.pings = 0
        self.refusal: ErrorInfo | None = None  # refuse every hello with this, if set
        self.usernames: dict[str, str] = {}  # username -> address, for lookup iqs
        self.throttle: dict[str, int] = {}  # stanza id -> how many sends to refuse with 429
        self.connections = 0
        self.refusals: list[ErrorInfo] = []
        self.live: dict[InternalId, tuple[web.WebSocketResponse, ServerChannel]] = {}
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/chat", self._chat)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"ws://127.0.0.1:{port}/chat"

    async def stop(self) -> None:
        for ws, _ in list(self.live.values()):
            with contextlib.suppress(Exception):
                await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def mailbox(self, login: InternalId) -> Mailbox:
        return self.mailboxes.setdefault(login, Mailbox())

    async def deliver(self, login: InternalId, node: Node) -> None:
        """Put a stanza in the login's mailbox; send it at once if connected."""
        self.mailbox(login).add(node)
        if login in self.live:
            ws, channel = self.live[login]
            await ws.send_bytes(channel.send_stanza(node))

    async def end_stream(self, login: InternalId, error: ErrorInfo) -> None:
        ws, channel = self.live[login]
        await ws.send_bytes(channel.stream_error(error))
        await ws.close()

    async def kick(self, login: InternalId) -> None:
        if login in self.live:
            await self.live[login][0].close()

    async def _lookup(self, login: InternalId) -> EnlistedClient | None:
        return self.enlisted.get(login)

    async def _chat(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.connections += 1
        channel = ServerChannel(static_private=self.static_private)
        login: InternalId | None = None
        try:
            async for message in ws:
                if message.type is not WSMsgType.BINARY:
                    break
                try:
                    out, events = channel.receive(message.data)
                except WireError:
                    break
                if out:
                    await ws.send_bytes(out)
                for event in events:
                    if isinstance(event, HelloReceived):
                        login = await self._admit(ws, channel, event)
                        if login is None:
                            return ws
                    elif isinstance(event, StanzaReceived) and login is not None:
                        await self._on_stanza(ws, channel, login, event.node)
        finally:
            if login is not None and self.live.get(login, (None,))[0] is ws:
                del self.live[login]
            await ws.close()
        return ws

    async def _admit(self, ws: web.WebSocketResponse, channel: ServerChannel,
                     event: HelloReceived) -> InternalId | None:
        try:
            if self.refusal is not None:
                raise HelloRefused(self.refusal)
            enlisted = await authenticate_hello(
                event, lookup_enlisted=self._lookup,
                fetch_partner_jwks=self.fetch_partner_jwks, gateway_audience=GATEWAY_ID)
        except HelloRefused as refused:
            self.refusals.append(refused.error)
            await ws.send_bytes(channel.refuse(refused.error, refused.extra_attrs))
            await ws.close()
            return None
        login = enlisted.login
        self.live[login] = (ws, channel)
        await ws.send_bytes(channel.accept({"login": login, "t": "1"}))
        entries = list(self.mailbox(login).entries)
        await ws.send_bytes(channel.send_stanza(
            Node("ib", {}, [Node("mailbox", {"count": str(len(entries))})])))
        for node in entries:
            await ws.send_bytes(channel.send_stanza(node))
        await ws.send_bytes(channel.send_stanza(
            Node("ib", {}, [Node("offline", {"count": str(len(entries))})])))
        return login

    async def _on_stanza(self, ws: web.WebSocketResponse, channel: ServerChannel,
                         login: InternalId, node: Node) -> None:
        if node.tag == "ack":
            self.client_acks.append(node)
            self.mailbox(login).remove((node.attrs.get("class", ""), node.attrs.get("id", ""),
                                        node.attrs.get("to", ""), node.attrs.get("type", "")))
        elif node.tag in ("message", "receipt") and self.throttle.get(node.attrs["id"], 0) > 0:
            self.throttle[node.attrs["id"]] -= 1
            await ws.send_bytes(channel.send_stanza(Node(
                "ack", {"class": node.tag, "id": node.attrs["id"]},
                [Node("error", {"code": "429", "text": "slow down", "retry-after": "0.2"})])))
        elif node.tag in ("message", "receipt"):
            key = (login, node.tag, node.attrs.get("id", ""), node.attrs.get("type", ""))
            if key not in self.seen:  # dedupe, but always ack again
                self.seen.add(key)
                self.received.append((login, node))
            attrs = {"class": node.tag, "id": node.attrs["id"], "t": "2"}
            if node.tag == "receipt" and "type" in node.attrs:
                attrs["type"] = node.attrs["type"]
            await ws.send_bytes(channel.send_stanza(Node("ack", attrs)))
        elif node.tag == "iq" and node.attrs.get("xmlns") == "ping":
            self.pings += 1
            if self.answer_pings:
                await ws.send_bytes(channel.send_stanza(
                    Node("iq", {"id": node.attrs["id"], "type": "result"})))
        elif node.tag == "iq" and node.attrs.get("xmlns") == "lookup":
            user = node.child("user")
            name = user.attrs.get("username", "") if user is not None else ""
            if name in self.usernames:
                answer = Node("iq", {"id": node.attrs["id"], "type": "result"}, [Node(
                    "user", {"username": name, "jid": self.usernames[name], "opted-in": "true"})])
            else:
                answer = Node("iq", {"id": node.attrs["id"], "type": "error"},
                              [Node("error", {"code": "404", "text": "unknown user"})])
            await ws.send_bytes(channel.send_stanza(answer))
        elif node.tag == "chatstate":
            self.received.append((login, node))
        elif node.tag == "iq":
            self.received.append((login, node))
            await ws.send_bytes(channel.send_stanza(
                Node("iq", {"id": node.attrs["id"], "type": "result"})))


async def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll a condition (loopback I/O is fast, but it is I/O)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)
