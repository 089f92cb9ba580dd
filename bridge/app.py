"""The bridge process: start-up order, signals, and a clean stop.

The services are built by :mod:`bridge.wiring`; this module opens what they need first (the
database, then the master key that must match it), starts them in order, and on SIGTERM/SIGINT
stops them without losing work the homeserver or the gateway already handed over.
"""

from __future__ import annotations

import asyncio
import logging
import logging.config
import signal

from . import __version__
from .config import Config
from .matrix.homeserver import (
    check_homeserver_reaches_bridge,
    check_registration,
    wait_for_homeserver,
)
from .metrics import BridgeMetrics, MetricsServer
from .storage import open_database
from .trust.startup import load_master_key
from .wiring import Services, build_services

log = logging.getLogger("bridge")


def configure_logging(config: Config) -> None:
    logging.config.dictConfig(config.as_plain_dict("logging"))


class Bridge:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.log = log
        #: set once start() has opened the database and built them
        self.services: Services | None = None
        self._metrics_server: MetricsServer | None = None
        self._stop_requested = asyncio.Event()

    @property
    def running(self) -> Services:
        """The services of a started bridge."""
        if self.services is None:
            raise RuntimeError("the bridge has not started")
        return self.services

    async def start(self) -> None:
        config = self.config
        self.log.info("interop-bridge %s starting", __version__)
        db = await open_database(
            config["appservice.database"],
            log=self.log.getChild("db"),
            db_args=dict(config["appservice.database_opts"]) if not
            config["appservice.database"].startswith("sqlite") else None,
        )
        try:
            master_key = await load_master_key(
                db, config.resolve_path("trust.master_key_file"))
        except BaseException:
            await db.stop()
            raise
        self.log.info("Master key %s loaded", master_key.key_id)
        services = self.services = build_services(config, db, master_key)
        await services.state_store.upgrade_table.upgrade(db)
        host, port = config["appservice.hostname"], config["appservice.port"]
        await services.appservice.start(host, port)
        self.log.info("Listening for the homeserver on %s:%d", host, port)
        await wait_for_homeserver(services.appservice.http_session, config["homeserver.address"],
                                  self.log.getChild("homeserver"))
        bot = services.appservice.intent
        await check_registration(bot, self.log.getChild("homeserver"))
        await bot.ensure_registered()
        if config["appservice.bot_displayname"]:
            await bot.set_displayname(config["appservice.bot_displayname"])
        if services.encryption is not None:
            await services.encryption.start()
            services.inbox.start_crypto_state(services.encryption.handle_crypto_state)
        services.partner_events.start(services.partner_event_handler)
        await services.partners.start(config["gateway.server_static_key"])
        if services.provisioning is not None:
            await services.provisioning.start(config["provisioning.hostname"],
                                              config["provisioning.port"])
        if config["metrics.enabled"]:
            self._metrics_server = MetricsServer(services.metrics, self._refresh_metrics)
            await self._metrics_server.start(config["metrics.hostname"], config["metrics.port"])
        await services.inbox.start(services.router.handle)
        await check_homeserver_reaches_bridge(bot, config["appservice.id"],
                                              config["appservice.address"],
                                              self.log.getChild("homeserver"))
        services.appservice.ready = True
        self.log.info("Bridge bot %s is registered; the bridge is ready", bot.mxid)

    async def _refresh_metrics(self, metrics: BridgeMetrics) -> None:
        services = self.running
        metrics.queue_depth.labels("matrix_inbox").set(await services.inbox.pending_count())
        for name, depth in (await services.partners.queue_depths()).items():
            metrics.queue_depth.labels(name).set(depth)
        for state, count in services.partners.connection_states().items():
            metrics.connections.labels(state).set(count)

    async def stop(self) -> None:
        """Refuse new transactions, let accepted ones finish or stay queued, close the database."""
        self.log.info("Stopping")
        services = self.services
        if services is None:
            self.log.info("Stopped")
            return
        services.appservice.ready = False
        # Requests in flight finish first, so every acknowledged transaction is stored.
        await services.appservice.stop_listening()
        # Workers may still talk to the homeserver, so the HTTP session outlives them.
        await services.inbox.stop()
        if services.provisioning is not None:
            await services.provisioning.stop()
        if self._metrics_server is not None:
            await self._metrics_server.stop()
        await services.partners.stop()
        await services.partner_events.stop()
        await services.connection_notices.stop()
        await services.gateway_http.close()
        await services.appservice.stop()
        if services.encryption is not None:
            await services.encryption.stop()
        await services.db.stop()
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
