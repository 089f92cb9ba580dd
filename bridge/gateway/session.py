"""One open WebSocket channel to the gateway: the asyncio shell around :class:`ClientChannel`
(bytes ↔ stanzas) and :class:`StanzaSession` (the stanza rules). Lives exactly as long as one
connection.

Three tasks feed the session: :meth:`ChannelSession.serve` reads the socket, the handler task
runs deliveries one at a time in arrival order, the timer task sleeps until the session's next
deadline. Everything they do is an effect the session asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable, Coroutine

import aiohttp

from .codec import Node
from .connection_types import FAILED, ChannelEnd, ConnectionSettings, Handlers, Outbox
from .errors import GatewayError
from .noise_channel import (
    ChannelEvent,
    ChannelOpened,
    ChannelRefused,
    ChannelState,
    ClientChannel,
    StanzaReceived,
    StreamClosed,
)
from .stanza_session import (
    DEFAULT_RESEND_DELAY,
    AbandonRequest,
    AnswerRequest,
    CloseChannel,
    CloseReason,
    Deliver,
    Delivery,
    Effects,
    OutboxKey,
    ReportServerAck,
    ResendFromOutbox,
    SendPing,
    SessionState,
    StanzaSession,
    WriteAck,
)
from .stanzas import outbox_key

__all__ = ["DEFAULT_RESEND_DELAY", "ChannelSession", "SessionEnded"]


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
        self._clock = clock
        self._log = logger
        self._machine = StanzaSession(now=clock(), idle_timeout=settings.idle_timeout,
                                      ping_interval=settings.ping_interval,
                                      ping_timeout=settings.ping_timeout)
        # Looked up per delivered stanza, so built once.
        self._store_handlers: dict[str, Callable[[Node], Awaitable[None]] | None] = {
            "message": handlers.on_message, "receipt": handlers.on_receipt,
            "notification": handlers.on_notification}
        self._send_lock = asyncio.Lock()
        self._waiters: dict[str, asyncio.Future[Node]] = {}
        self._inbound: asyncio.Queue[Deliver] = asyncio.Queue()
        self._early_events: list[ChannelEvent] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._timer_wakeup = asyncio.Event()
        self._timer_deadline = math.inf

    @property
    def end(self) -> ChannelEnd | None:
        """How the channel ended, once that is decided."""
        return self._machine.end

    # -- sending ------------------------------------------------------------------------

    def touch(self) -> None:
        self._machine.activity(self._clock())

    async def send(self, node: Node, *, activity: bool = True) -> None:
        if self._machine.state is not SessionState.OPEN:
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
            self._machine.activity(self._clock())

    async def send_tracked(self, node: Node) -> None:
        """Send an outbox stanza; it counts as in flight until the gateway acks it."""
        self._machine.track(node)
        await self.send(node)

    async def request(self, node: Node, timeout: float) -> Node:
        stanza_id = node.attrs["id"]
        future: asyncio.Future[Node] = asyncio.get_running_loop().create_future()
        self._waiters[stanza_id] = future
        self._machine.request_started(stanza_id)
        try:
            await self.send(node)
            return await asyncio.wait_for(future, timeout)
        finally:
            self._waiters.pop(stanza_id, None)
            self._machine.request_finished(stanza_id)
            self._wake_timer_if_sooner()

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

    async def serve(self) -> ChannelEnd:
        self._spawn(self._handle_inbound())
        self._spawn(self._keep_time())
        machine = self._machine
        events: list[ChannelEvent] | None = self._early_events
        while events is not None and machine.state is SessionState.OPEN:
            for event in events:
                if isinstance(event, StanzaReceived):
                    self._carry_out_received(machine.stanza_received(event.node, self._clock()))
                elif isinstance(event, StreamClosed):
                    machine.stream_closed(event.error)
            if machine.state is not SessionState.OPEN:
                break
            self._wake_timer_if_sooner()  # an answer may have left nothing pending
            events = await self._next_events()
        return machine.end or FAILED

    def _carry_out_received(self, effects: Effects) -> None:
        for effect in effects:
            if isinstance(effect, Deliver):
                self._inbound.put_nowait(effect)
            elif isinstance(effect, AnswerRequest):
                future = self._waiters.get(effect.stanza_id)
                if future is not None and not future.done():
                    if effect.error is None:
                        future.set_result(effect.answer)
                    else:
                        future.set_exception(GatewayError(effect.error))

    # -- the ordered handler pipeline ---------------------------------------------------------

    async def _handle_inbound(self) -> None:
        """Handle stanzas strictly in arrival order (Signal sessions need that)."""
        machine = self._machine
        while True:
            delivery = await self._inbound.get()
            try:
                await self._handle_one(delivery)
            except SessionEnded:
                return
            except Exception:  # noqa: BLE001 - whatever a handler raises means "not stored"
                # Not stored: leave it unacked so the gateway redelivers on the next connection.
                self._log.exception("handler failed for a %s; reconnecting to get it again",
                                    delivery.node.tag)
                machine.failed()
                await self._abort()
                return
            finally:
                machine.delivery_done()
                self._wake_timer_if_sooner()

    async def _handle_one(self, delivery: Deliver) -> None:
        node = delivery.node
        if delivery.kind is Delivery.STORE:
            handler = self._store_handlers[node.tag]
            if handler is not None:
                await handler(node)
            effects = self._machine.stored(node)
        elif delivery.kind is Delivery.SERVER_ACK:
            effects = self._machine.server_ack(node, self._clock())
        else:
            if self._handlers.on_info is not None:
                try:
                    await self._handlers.on_info(node)
                except Exception:  # noqa: BLE001 - best effort: never worth a reconnect
                    self._log.exception("info handler failed for a %s", node.tag)
            return
        for effect in effects:
            if isinstance(effect, WriteAck):
                await self.send(effect.node)
            elif isinstance(effect, ReportServerAck):
                await self._handlers.on_server_ack(effect.ack)

    # -- timers ---------------------------------------------------------------------------

    def _wake_timer_if_sooner(self) -> None:
        if self._machine.next_deadline() < self._timer_deadline:
            self._timer_wakeup.set()

    async def _keep_time(self) -> None:
        machine = self._machine
        while machine.state is SessionState.OPEN:
            deadline = self._timer_deadline = machine.next_deadline()
            delay = deadline - self._clock()
            if delay > 0:
                self._timer_wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(None if math.isinf(delay) else delay):
                        await self._timer_wakeup.wait()
                continue  # the deadline may have moved meanwhile: read it again
            now = self._clock()
            for effect in machine.tick(now):
                if isinstance(effect, ResendFromOutbox):
                    self._spawn(self._resend(effect.key))
                elif isinstance(effect, SendPing):
                    try:
                        await self.send(effect.node, activity=False)
                    except SessionEnded:
                        self._log.info("keep-alive ping unanswered, reconnecting")
                        machine.failed()
                        await self._abort()
                        return
                elif isinstance(effect, CloseChannel):
                    if effect.reason is CloseReason.IDLE:
                        self._log.debug("idle for %.0fs, closing", now - machine.last_activity)
                    else:
                        self._log.info("keep-alive ping unanswered, reconnecting")
                    await self._abort()
                    return

    async def _resend(self, key: OutboxKey) -> None:
        for node in await self._outbox.unacknowledged():
            if outbox_key(node) == key:
                with contextlib.suppress(SessionEnded):
                    # A failed write: the next connection resends the whole outbox anyway.
                    await self.send(node)
                return
        self._machine.resend_dropped(key)  # the caller dropped it meanwhile
        self._wake_timer_if_sooner()

    # -- teardown -------------------------------------------------------------------------

    def _spawn(self, work: Coroutine[None, None, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _abort(self) -> None:
        with contextlib.suppress(Exception):
            await self._ws.close()

    async def close(self) -> None:
        abandoned = self._machine.close()
        current = asyncio.current_task()
        tasks = [task for task in self._tasks if task is not current]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for effect in abandoned:
            if isinstance(effect, AbandonRequest):
                future = self._waiters.get(effect.stanza_id)
                if future is not None and not future.done():
                    future.set_exception(SessionEnded("channel closed"))
        with contextlib.suppress(Exception):
            await self._ws.close()
