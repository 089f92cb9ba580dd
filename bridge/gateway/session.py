"""One open WebSocket channel to the gateway: reading, ordered handling with acks, requests,
keep-alive pings and the idle timer. Lives exactly as long as one connection."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import aiohttp

from .codec import Node
from .errors import ErrorInfo, GatewayError
from .noise_channel import (
    ChannelEvent,
    ChannelOpened,
    ChannelRefused,
    ChannelState,
    ClientChannel,
    StanzaReceived,
    StreamClosed,
)
from .stanzas import (
    ACKED_CLASSES,
    ack_for,
    iq_error,
    new_stanza_id,
    outbox_key,
    parse_server_ack,
    ping,
    server_ack_key,
)

if TYPE_CHECKING:
    from .connection import ConnectionSettings, Handlers, Outbox

#: Resend delay after a 429/503 ack that did not say how long to wait.
DEFAULT_RESEND_DELAY = 5.0

Outcome = tuple[str, ErrorInfo | None]


class SessionEnded(Exception):
    """The channel closed while something was waiting on it."""


class ChannelSession:
    def __init__(
        self,
        ws: aiohttp.ClientWebSocketResponse,
        channel: ClientChannel,
        handlers: Handlers,
        settings: ConnectionSettings,
        clock: Callable[[], float],
        logger: logging.Logger,
        outbox: Outbox,
    ) -> None:
        self._ws = ws
        self._outbox = outbox
        self._channel = channel
        self._handlers = handlers
        self._settings = settings
        self._clock = clock
        self._log = logger
        self._send_lock = asyncio.Lock()
        self._pending_requests: dict[str, asyncio.Future[Node]] = {}
        self._in_flight: set[tuple[str, str, str | None]] = set()
        self._inbound: asyncio.Queue[Node] = asyncio.Queue()
        self._early_events: list[ChannelEvent] = []
        self._handling = False
        self._tasks: list[asyncio.Task[None]] = []
        self._ended = False
        self.outcome: Outcome | None = None
        self.last_activity = clock()
        self.last_received = clock()

    # -- sending ------------------------------------------------------------------------

    def touch(self) -> None:
        self.last_activity = self._clock()

    async def send(self, node: Node, *, activity: bool = True) -> None:
        if self._ended:
            raise SessionEnded("channel closed")
        # One lock across encrypt and write: Noise nonces must reach the wire in order.
        async with self._send_lock:
            if self._channel.state is not ChannelState.OPEN:
                # The gateway ended the stream (a stream-error was read) before this session
                # noticed: for a sender that is the same as a closed socket.
                raise SessionEnded("channel closed")
            frame = self._channel.send_stanza(node)
            try:
                await self._ws.send_bytes(frame)
            except (ConnectionError, aiohttp.ClientError, RuntimeError) as exc:
                raise SessionEnded("write failed") from exc
        if activity:
            self.touch()

    async def send_tracked(self, node: Node) -> None:
        """Send an outbox stanza; it counts as in flight until the gateway acks it."""
        self._in_flight.add(outbox_key(node))
        await self.send(node)

    async def request(self, node: Node, timeout: float, *, activity: bool = True) -> Node:
        stanza_id = node.attrs["id"]
        future: asyncio.Future[Node] = asyncio.get_running_loop().create_future()
        self._pending_requests[stanza_id] = future
        try:
            await self.send(node, activity=activity)
            return await asyncio.wait_for(future, timeout)
        finally:
            self._pending_requests.pop(stanza_id, None)

    # -- receiving ----------------------------------------------------------------------

    async def _next_events(self) -> list[ChannelEvent] | None:
        message = await self._ws.receive()
        if message.type is aiohttp.WSMsgType.BINARY:
            outgoing, events = self._channel.receive(message.data)
            if outgoing:
                await self._ws.send_bytes(outgoing)
            return events
        if message.type is aiohttp.WSMsgType.TEXT:
            self._log.warning("gateway sent a text message; closing")
        return None  # closed, closing or error

    async def handshake(self) -> ChannelOpened | ChannelRefused:
        while True:
            events = await self._next_events()
            if events is None:
                raise SessionEnded("closed during handshake")
            for index, event in enumerate(events):
                if isinstance(event, ChannelOpened | ChannelRefused):
                    self._early_events = events[index + 1:]
                    return event

    async def serve(self) -> Outcome:
        self._tasks = [asyncio.create_task(self._handle_inbound()),
                       asyncio.create_task(self._watch_idle_and_keepalive())]
        events: list[ChannelEvent] | None = self._early_events
        while events is not None and self.outcome is None:
            for event in events:
                self._dispatch(event)
            if self.outcome is not None:
                break
            events = await self._next_events()
        return self.outcome or ("failed", None)

    def _dispatch(self, event: ChannelEvent) -> None:
        if isinstance(event, StreamClosed):
            self.outcome = ("ended", event.error)
            return
        if not isinstance(event, StanzaReceived):
            return
        node = event.node
        self.last_received = self._clock()
        if node.tag == "iq" and node.attrs.get("type") in ("result", "error"):
            future = self._pending_requests.get(node.attrs.get("id", ""))
            if future is not None and not future.done():
                error = iq_error(node)
                if error is None:
                    future.set_result(node)
                else:
                    future.set_exception(GatewayError(error))
            return
        self.touch()
        self._inbound.put_nowait(node)

    async def _handle_inbound(self) -> None:
        """Handle stanzas strictly in arrival order (Signal sessions need that)."""
        while True:
            node = await self._inbound.get()
            self._handling = True
            try:
                await self._handle_one(node)
            except SessionEnded:
                return
            except Exception:
                # Not stored: leave it unacked so the gateway redelivers on the next connection.
                self._log.exception("handler failed for a %s; reconnecting to get it again",
                                    node.tag)
                self.outcome = self.outcome or ("failed", None)
                await self._abort()
                return
            finally:
                self._handling = False

    async def _handle_one(self, node: Node) -> None:
        handlers = self._handlers
        if node.tag in ACKED_CLASSES:
            handler = {"message": handlers.on_message, "receipt": handlers.on_receipt,
                       "notification": handlers.on_notification}[node.tag]
            if handler is not None:
                await handler(node)
            await self.send(ack_for(node))
        elif node.tag == "ack":
            ack = parse_server_ack(node)
            key = server_ack_key(ack)
            if ack.error is not None and ack.error.transient:
                # Not stored by the gateway: keep it in flight and resend it later ourselves.
                delay = ack.error.retry_after or DEFAULT_RESEND_DELAY
                self._tasks.append(asyncio.create_task(self._resend_later(key, delay)))
                return
            self._in_flight.discard(key)
            await handlers.on_server_ack(ack)
        elif handlers.on_info is not None:
            try:
                await handlers.on_info(node)
            except Exception:  # best effort: never worth a reconnect
                self._log.exception("info handler failed for a %s", node.tag)

    async def _resend_later(self, key: tuple[str, str, str | None], delay: float) -> None:
        await asyncio.sleep(delay)
        for node in await self._outbox.unacknowledged():
            if outbox_key(node) == key:
                try:
                    await self.send(node)
                except SessionEnded:
                    pass  # the next connection resends the whole outbox anyway
                return
        self._in_flight.discard(key)  # the caller dropped it meanwhile

    def _busy(self) -> bool:
        return bool(self._in_flight or self._pending_requests or self._handling
                    or not self._inbound.empty())

    async def _watch_idle_and_keepalive(self) -> None:
        settings = self._settings
        tick = max(0.01, min(settings.ping_interval, settings.idle_timeout) / 4)
        while self.outcome is None:
            await asyncio.sleep(tick)
            now = self._clock()
            if now - self.last_activity >= settings.idle_timeout and not self._busy():
                self._log.debug("idle for %.0fs, closing", now - self.last_activity)
                self.outcome = ("idle", None)
                await self._abort()
                return
            if now - self.last_received >= settings.ping_interval:
                try:
                    await self.request(ping(new_stanza_id()), settings.ping_timeout,
                                       activity=False)
                except (TimeoutError, SessionEnded):
                    self._log.info("keep-alive ping unanswered, reconnecting")
                    self.outcome = self.outcome or ("failed", None)
                    await self._abort()
                    return
                except GatewayError:
                    pass  # an answer all the same: the channel is alive
                self.last_received = self._clock()

    async def _abort(self) -> None:
        self._ended = True
        with contextlib.suppress(Exception):
            await self._ws.close()

    async def close(self) -> None:
        self._ended = True
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        for task in self._tasks:
            if task is not current:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        for future in self._pending_requests.values():
            if not future.done():
                future.set_exception(SessionEnded("channel closed"))
        with contextlib.suppress(Exception):
            await self._ws.close()
