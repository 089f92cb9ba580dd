"""The bridge process: owns the database, the appservice listener and the Matrix inbox, and stops
cleanly on SIGTERM/SIGINT without losing work the homeserver already handed over."""

from __future__ import annotations

import asyncio
import logging
import logging.config
import signal

from mautrix.appservice.state_store.asyncpg import PgASStateStore
from mautrix.types import EventType, Membership, StateEvent
from mautrix.util.async_db import Database

from . import __version__
from .config import Config
from .matrix.appservice import BridgeAppService
from .matrix.homeserver import check_registration, wait_for_homeserver
from .matrix.inbox import InboxItem, MatrixInbox
from .matrix.permissions import Level, permission_level
from .storage import open_database

log = logging.getLogger("bridge")


def configure_logging(config: Config) -> None:
    logging.config.dictConfig(config.as_plain_dict("logging"))


class Bridge:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.log = log
        self.db: Database | None = None
        self.appservice: BridgeAppService | None = None
        self.inbox: MatrixInbox | None = None
        self._stop_requested = asyncio.Event()

    async def start(self) -> None:
        config = self.config
        self.log.info("interop-bridge %s starting", __version__)
        self.db = await open_database(
            config["appservice.database"],
            log=self.log.getChild("db"),
            db_args=dict(config["appservice.database_opts"]) if not
            config["appservice.database"].startswith("sqlite") else None,
        )
        state_store = PgASStateStore(self.db)
        await state_store.upgrade_table.upgrade(self.db)
        self.inbox = MatrixInbox(self.db, self._handle_inbox_item, log=self.log.getChild("inbox"))
        self.appservice = BridgeAppService(
            inbox=self.inbox,
            server=config["homeserver.address"],
            domain=config["homeserver.domain"],
            verify_ssl=config["homeserver.verify_ssl"],
            as_token=config["appservice.as_token"],
            hs_token=config["appservice.hs_token"],
            bot_localpart=config["appservice.bot_username"],
            id=config["appservice.id"],
            log=self.log.getChild("appservice"),
            state_store=state_store,
            ephemeral_events=config["appservice.ephemeral_events"],
            bridge_name="interop",
            default_ua=f"interop-bridge/{__version__}",
        )
        host, port = config["appservice.hostname"], config["appservice.port"]
        await self.appservice.start(host, port)
        self.log.info("Listening for the homeserver on %s:%d", host, port)
        await wait_for_homeserver(self.appservice.http_session, config["homeserver.address"],
                                  self.log.getChild("homeserver"))
        bot = self.appservice.intent
        await check_registration(bot, self.log.getChild("homeserver"))
        await bot.ensure_registered()
        if config["appservice.bot_displayname"]:
            await bot.set_displayname(config["appservice.bot_displayname"])
        await self.inbox.start()
        self.appservice.ready = True
        self.log.info("Bridge bot %s is registered; the bridge is ready", bot.mxid)

    async def stop(self) -> None:
        """Refuse new transactions, let accepted ones finish or stay queued, close the database."""
        self.log.info("Stopping")
        if self.appservice:
            self.appservice.ready = False
            # Closes the listener and waits for requests in flight (their transactions get stored).
            await self.appservice.stop()
        if self.inbox:
            await self.inbox.stop()
        if self.db:
            await self.db.stop()
        self.log.info("Stopped")

    def request_stop(self) -> None:
        self._stop_requested.set()

    async def run(self) -> None:
        """Start, wait for SIGTERM or SIGINT, stop. A signal during start-up aborts the start."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        starting = asyncio.create_task(self.start())
        stop_waiter = asyncio.create_task(self._stop_requested.wait())
        try:
            await asyncio.wait({starting, stop_waiter}, return_when=asyncio.FIRST_COMPLETED)
            if not starting.done():
                self.log.info("Stop requested during start-up")
                starting.cancel()
                await asyncio.gather(starting, return_exceptions=True)
            else:
                starting.result()  # re-raises a start-up failure
                await stop_waiter
        finally:
            stop_waiter.cancel()
            await self.stop()

    async def _handle_inbox_item(self, item: InboxItem) -> None:
        """Route one stored Matrix event. The bridging core plugs in here."""
        if item.kind != "pdu":
            return
        event = item.event
        if "state_key" in event:
            state_event = StateEvent.deserialize(event)
            await self.appservice.state_store.update_state(state_event)
            if (state_event.type == EventType.ROOM_MEMBER
                    and state_event.state_key == self.appservice.bot_mxid
                    and state_event.content.membership == Membership.INVITE):
                await self._accept_bot_invite(state_event)

    async def _accept_bot_invite(self, event: StateEvent) -> None:
        bot = self.appservice.intent
        if permission_level(self.config["bridge.permissions"], event.sender) < Level.USER:
            self.log.info("Refusing invite from %s to %s: not allowed to use the bridge",
                          event.sender, event.room_id)
            await bot.leave_room(event.room_id, reason="You are not allowed to use this bridge.")
            return
        self.log.info("Invited by %s to %s; joining", event.sender, event.room_id)
        await bot.join_room(event.room_id)
