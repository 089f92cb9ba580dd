"""Restoring the bridge's database from a backup (both engines): a backup that holds a ghost's
cross-signing keys brings back the same identity; one from before they were made cannot, and
the bridge says so loudly, makes a new one and deletes the device whose keys were lost."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import asyncpg
import pytest
from nio import RoomMessageText

from bridge.content import Text
from tests.conftest import PG_ADMIN_URL
from tests.e2e.helpers import (
    join_invited_room,
    opted_in_person,
    send_as_gatekeeper,
    simulated_user,
)
from tests.support.stack import running_stack

from .keys import cross_signing_chain, device_with_curve_key, devices_of, query_keys

pytestmark = pytest.mark.synapse


class Backups:
    """Whole-database copies of a stopped bridge: the SQLite file, or a PostgreSQL database made
    from the bridge's as a template."""

    def __init__(self, db_url: str, directory: Path) -> None:
        self.db_url = db_url
        self.directory = directory
        self.made: list[str] = []

    async def _admin(self, sql: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def take(self, name: str) -> None:
        if self.db_url.startswith("sqlite:"):
            shutil.copyfile(self.db_url.removeprefix("sqlite:"), self.directory / name)
            return
        database = self.db_url.rsplit("/", 1)[1]
        await self._admin(f'CREATE DATABASE "{database}_{name}" TEMPLATE "{database}"')
        self.made.append(f"{database}_{name}")

    async def restore(self, name: str) -> None:
        if self.db_url.startswith("sqlite:"):
            live = Path(self.db_url.removeprefix("sqlite:"))
            for suffix in ("-wal", "-shm"):
                live.with_name(live.name + suffix).unlink(missing_ok=True)
            shutil.copyfile(self.directory / name, live)
            return
        database = self.db_url.rsplit("/", 1)[1]
        await self._admin(f'DROP DATABASE "{database}" WITH (FORCE)')
        await self._admin(f'CREATE DATABASE "{database}" TEMPLATE "{database}_{name}"')

    async def drop(self) -> None:
        for name in self.made:
            await self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def text(body: str):
    return lambda e: isinstance(e, RoomMessageText) and e.body == body


async def test_restores_keep_the_identity_unless_the_keys_are_lost(db_url, tmp_path, caplog):
    backups = Backups(db_url, tmp_path)
    async with running_stack(db_url, tmp_path) as stack:
        alice, management, alice_id = await opted_in_person(stack, "alice", tmp_path / "alice")
        homeserver = stack.synapse.address
        as_token = stack.bridge.config["appservice.as_token"]
        try:
            await simulated_user(stack, "gina")
            await alice.send_text(management, "start-chat gina")
            portal = await join_invited_room(alice)
            ghost = (await stack.bridge.running.portals.by_room(portal)).ghost.mxid
            await stack.bridge.stop()
            await backups.take("before-keys")
            await stack.restart_bridge()

            await send_as_gatekeeper(stack, "gina", alice_id, Text(text="one"))
            one = await alice.wait_for(portal, text("one"))
            keys = await query_keys(homeserver, alice.client.access_token, ghost)
            first_device = device_with_curve_key(keys, ghost, one.sender_key)
            first_master = cross_signing_chain(keys, ghost, first_device)
            await stack.bridge.stop()
            await backups.take("with-keys")

            await backups.restore("with-keys")
            await stack.restart_bridge()
            await send_as_gatekeeper(stack, "gina", alice_id, Text(text="two"))
            two = await alice.wait_for(portal, text("two"))
            keys = await query_keys(homeserver, alice.client.access_token, ghost)
            assert device_with_curve_key(keys, ghost, two.sender_key) == first_device
            assert cross_signing_chain(keys, ghost, first_device) == first_master

            await stack.bridge.stop()
            await backups.restore("before-keys")
            caplog.clear()
            with caplog.at_level(logging.ERROR, logger="bridge"):
                await stack.restart_bridge()
                await send_as_gatekeeper(stack, "gina", alice_id, Text(text="three"))
                three = await alice.wait_for(portal, text("three"))
            assert any("private keys are lost" in r.getMessage() and ghost in r.getMessage()
                       for r in caplog.records), caplog.text
            keys = await query_keys(homeserver, alice.client.access_token, ghost)
            new_device = device_with_curve_key(keys, ghost, three.sender_key)
            assert new_device and new_device != first_device
            assert cross_signing_chain(keys, ghost, new_device) != first_master
            assert await devices_of(homeserver, as_token, ghost) == [new_device]
        finally:
            await alice.close()
            await backups.drop()
