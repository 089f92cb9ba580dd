"""One chat connection: a WebSocket carrying the Noise byte stream (thin I/O shell).

The protocol work is done by :class:`bridge.gateway.noise_channel.ServerChannel` (handshake,
framing, transport encryption, codec) and :func:`bridge.gateway.hello_auth.authenticate_hello`
(admission); the stanzas go to the :class:`Router`. This class only moves bytes, keeps the
Noise send order (one lock around encrypt + send), and pumps the mailbox to the client.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from aiohttp import WSMsgType, web

from bridge.gateway.codec import Node, WireError
from bridge.gateway.errors import ErrorCode, ErrorInfo
from bridge.gateway.hello_auth import EnlistedClient, HelloRefused, authenticate_hello
from bridge.gateway.ids import InternalId, UserVisibleId
from bridge.gateway.noise_channel import ChannelState, HelloReceived, ServerChannel, StanzaReceived

from .. import stored_stanza
from ..clock import millis
from ..tokens import partner_jwks_for
from .stanzas import ib

if TYPE_CHECKING:
    from ..server import SandboxGateway

log = logging.getLogger("bridge.sandbox.chat")

# WebSocket close codes (4000-4999 are for applications): why the socket went away.
CLOSE_MALFORMED = 4400
CLOSE_NORMAL = 1000
DRAIN_BATCH = 200


class ChatConnection:
    def __init__(self, gateway: SandboxGateway, ws: web.WebSocketResponse, peer_ip: str,
                 transport: asyncio.Transport | None = None) -> None:
        self.gw = gateway
        self.ws = ws
        self.peer_ip = peer_ip
        self.transport = transport
        self.channel = ServerChannel(static_private=gateway.noise_private, codec=gateway.codec)
        self.login = ""
        self.log = log.getChild("pending")
        self._send_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._pump: asyncio.Task | None = None
        self._ended = False

    # --- byte I/O ---------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            async for message in self.ws:
                if message.type != WSMsgType.BINARY:
                    await self._close(CLOSE_MALFORMED, "binary messages only")
                    break
                try:
                    outgoing, events = self.channel.receive(message.data)
                except WireError as e:
                    await self._malformed(e)
                    break
                if outgoing:
                    await self._send_raw(outgoing)
                for event in events:
                    if isinstance(event, HelloReceived):
                        await self._admit(event)
                    elif isinstance(event, StanzaReceived):
                        await self._on_stanza(event.node)
                if self._ended:
                    break
        finally:
            await self._cleanup()

    async def _send_raw(self, data: bytes) -> None:
        async with self._send_lock:
            if not self.ws.closed:
                await self.ws.send_bytes(data)

    async def _send_stanza(self, node: Node) -> None:
        # Encrypt under the lock: Noise nonces must reach the wire in the order they were used.
        async with self._send_lock:
            if self.ws.closed or self.channel.state is not ChannelState.OPEN:
                return
            try:
                await self.ws.send_bytes(self.channel.send_stanza(node))
            except ConnectionError:
                # The client vanished mid-write: what it missed stays in the mailbox (or it
                # resends what it did not get an ack for), so there is nothing to report.
                self._ended = True

    async def _close(self, code: int, reason: str) -> None:
        self._ended = True
        if not self.ws.closed:
            await self.ws.close(code=code, message=reason.encode()[:120])

    async def _malformed(self, error: WireError) -> None:
        """A malformed frame or stanza ends this connection only, with an error if possible."""
        self.log.info("Closing connection after malformed input: %s", type(error).__name__)
        if self.channel.state is ChannelState.OPEN:
            async with self._send_lock:
                if not self.ws.closed:
                    await self.ws.send_bytes(self.channel.stream_error(
                        ErrorInfo(ErrorCode.BAD_REQUEST, "malformed frame")))
        await self._close(CLOSE_MALFORMED, "malformed frame")

    # --- admission --------------------------------------------------------------------------

    async def _lookup(self, login: InternalId) -> EnlistedClient | None:
        user = await self.gw.partners.get(login)
        if user is None:
            return None
        return EnlistedClient(InternalId(user.internal_id), user.noise_key,
                              UserVisibleId(user.visible_id), self.gw.config.partner_base_url)

    async def _fetch_partner_jwks(self, partner_base: str) -> dict:
        return await partner_jwks_for(self._hello_token, self.gw.partner_keys)

    def _check_faults(self, login: str) -> None:
        """Overload (503) and per-login admission rate (429), after the hello checks passed."""
        faults = self.gw.faults
        if faults.unavailable:
            raise HelloRefused(ErrorInfo(ErrorCode.UNAVAILABLE, "unavailable",
                                         faults.retry_after))
        wait = faults.admission_retry_after(login, asyncio.get_running_loop().time())
        if wait is not None:
            raise HelloRefused(ErrorInfo(ErrorCode.RATE_LIMITED, "too many connections",
                                         max(1.0, wait)))

    async def _admit(self, event: HelloReceived) -> None:
        self._hello_token = event.hello.token
        try:
            enlisted = await authenticate_hello(
                event, lookup_enlisted=self._lookup, fetch_partner_jwks=self._fetch_partner_jwks,
                gateway_audience=self.gw.config.effective_gateway_id, now=self.gw.clock.now())
            self._check_faults(enlisted.login)
        except HelloRefused as refused:
            self.log.info("Refused %s: %d %s", event.hello.login, int(refused.error.code),
                          refused.error.text)
            await self._send_raw(self.channel.refuse(refused.error, refused.extra_attrs))
            await self._close(CLOSE_NORMAL, "refused")
            return
        except Exception:
            self.log.exception("Admission failed")
            await self._send_raw(self.channel.refuse(ErrorInfo(ErrorCode.UNAVAILABLE,
                                                               "try again later")))
            await self._close(CLOSE_NORMAL, "refused")
            return
        self.login = enlisted.login
        self.log = log.getChild(self.login)
        await self.gw.partners.touch(self.login, millis(self.gw.clock))
        # Registered before ``success`` goes out: once the client hears it is admitted, anything
        # addressed to it (or any admin action on it) finds this connection.
        await self.gw.router.attach(self)
        await self._send_raw(self.channel.accept({"t": str(int(self.gw.clock.now())),
                                                  "login": self.login}))
        self.log.info("Connected (from %s)", event.hello.client_ip or self.peer_ip)
        self._pump = asyncio.create_task(self._pump_mailbox(), name=f"pump:{self.login}")

    # --- stanzas ----------------------------------------------------------------------------

    async def _on_stanza(self, node: Node) -> None:
        if not self.login or self._ended:
            return
        reply = await self.gw.router.handle(self.login, node)
        if reply is not None:
            await self._send_stanza(reply)
        ending = self.gw.router.end_after_reply.pop(self.login, None)
        if ending is not None:
            await self.end(ending)

    # --- the LiveConnection interface used by the router ------------------------------------

    def wake(self) -> None:
        self._wake.set()

    async def send_live(self, node: Node) -> None:
        await self._send_stanza(node)

    async def end(self, info: ErrorInfo) -> None:
        """End an open channel with a ``stream-error`` and close (replaced, deleted, …)."""
        if self._ended:
            return
        self._ended = True
        try:
            async with self._send_lock:
                if not self.ws.closed and self.channel.state is ChannelState.OPEN:
                    await self.ws.send_bytes(self.channel.stream_error(info))
            if not self.ws.closed:
                await self.ws.close(code=CLOSE_NORMAL, message=info.text.encode()[:120])
        except ConnectionError:
            # The peer vanished first (a crashed client): it is gone either way. Raising here
            # would fail whoever ended it — e.g. the admission of its replacement.
            self.log.info("Connection was already gone when ending it (%s)", info.text)

    async def drop(self) -> None:
        """Close the socket without a goodbye, like a broken network."""
        self._ended = True
        if self.transport is not None:
            self.transport.abort()
        elif not self.ws.closed:
            await self.ws.close(code=CLOSE_NORMAL)

    # --- mailbox pump -----------------------------------------------------------------------

    async def _pump_mailbox(self) -> None:
        """Drain what waited (between two ``ib``s), then deliver new entries as they arrive."""
        mailbox = self.gw.mailbox
        try:
            snapshot = await mailbox.last_seq(self.login)
            cutoff = self.gw.retention_cutoff_ms()
            waiting = await mailbox.count(self.login, cutoff, until_seq=snapshot)
            await self._send_stanza(ib(Node("mailbox", {"count": str(waiting)})))
            cursor, delivered = 0, 0
            while True:
                batch = await mailbox.pending(self.login, after_seq=cursor, until_seq=snapshot,
                                              not_before_ms=cutoff, limit=DRAIN_BATCH)
                if not batch:
                    break
                for entry in batch:
                    node = stored_stanza.loads(entry.stanza)
                    if node.tag == "message":
                        node = Node(node.tag, {**node.attrs, "offline": "1"}, node.content)
                    await self._send_stanza(node)
                    cursor, delivered = entry.seq, delivered + 1
            cursor = max(cursor, snapshot)
            await self._send_stanza(ib(Node("offline", {"count": str(delivered)})))
            while not self._ended:
                await self._wake.wait()
                self._wake.clear()
                while True:
                    batch = await mailbox.pending(self.login, after_seq=cursor,
                                                  not_before_ms=self.gw.retention_cutoff_ms(),
                                                  limit=DRAIN_BATCH)
                    if not batch:
                        break
                    for entry in batch:
                        await self._send_stanza(stored_stanza.loads(entry.stanza))
                        cursor = entry.seq
        except (ConnectionError, asyncio.CancelledError):
            pass
        except Exception:
            self.log.exception("Mailbox pump failed; closing the connection")
            await self._close(CLOSE_NORMAL, "internal error")

    async def _cleanup(self) -> None:
        self._ended = True
        if self._pump is not None:
            self._pump.cancel()
            await asyncio.gather(self._pump, return_exceptions=True)
        if self.login:
            self.gw.router.detach(self)
            if await self.gw.partners.get(self.login) is not None:
                await self.gw.partners.touch(self.login, millis(self.gw.clock))
            self.log.info("Disconnected")
        if not self.ws.closed:
            await self.ws.close()


async def chat_endpoint(gateway: SandboxGateway, request: web.Request) -> web.WebSocketResponse:
    # Frames are ≤ 65538 bytes; a WebSocket message may carry a few of them.
    ws = web.WebSocketResponse(max_msg_size=1 << 20, heartbeat=None)
    await ws.prepare(request)
    conn = ChatConnection(gateway, ws, request.remote or "", request.transport)
    gateway.track_connection_task(asyncio.current_task())
    await conn.run()
    return ws
