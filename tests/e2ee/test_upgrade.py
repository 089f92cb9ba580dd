"""An installation made by the bridge before per-ghost devices upgrades in place (both engines).

The first half runs the previous release's code (commit ``BEFORE``, from this repository's own
history) as a real process against a registration without MSC4190, as an operator has it; the
second half runs this code on the same database, config and homeserver: the bot keeps its device
and gets its cross-signing identity, the ghost's next message comes from a device of its own, and
the Olm/Megolm state made before still opens (the bridge decrypts what the person's client keeps
encrypting with the session it shared before the upgrade)."""

from __future__ import annotations

import subprocess
import tarfile
import types
from pathlib import Path

import pytest
from nio import RoomMessageText
from ruamel.yaml import YAML

from bridge.app import Bridge
from bridge.config import load_config
from bridge.content import Text
from tests.e2e.helpers import (
    BOT,
    gatekeeper_inbox,
    join_invited_room,
    notice,
    send_as_gatekeeper,
    simulated_user,
)
from tests.element.client import ElementClient, register_user
from tests.support.bridge_process import BridgeProcess
from tests.support.matrix_client import PersonClient
from tests.support.stack import _configure

from .keys import cross_signing_chain, device_with_curve_key, devices_of, query_keys

pytestmark = pytest.mark.synapse

#: The last release whose ghosts had no devices (the bot's device encrypted everything).
BEFORE = "296fa7c"
REPOSITORY = Path(__file__).resolve().parents[2]


def previous_release(into: Path) -> Path:
    into.mkdir(parents=True)
    archive = into / "before.tar"
    subprocess.run(["git", "-C", str(REPOSITORY), "archive", "-o", str(archive), BEFORE,
                    "bridge", "config.example.yaml"], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into


def without_msc4190(registration: Path) -> None:
    yaml = YAML()
    data = yaml.load(registration)
    data.pop("io.element.msc4190", None)
    with registration.open("w") as file:
        yaml.dump(data, file)


class PreviousRelease:
    """Synapse (with the old registration), the sandbox, and the previous release's bridge as a
    process; :meth:`upgrade` stops it and starts this code's bridge on the same files."""

    def __init__(self, db_url: str, directory: Path) -> None:
        self.code = previous_release(directory / "before")
        self.synapse, self.sandbox, admin, self.config_path = _configure(db_url, directory, {})
        without_msc4190(self.synapse.registrations[0])
        self.stack = types.SimpleNamespace(admin=admin)
        self.old: BridgeProcess | None = None
        self.bridge: Bridge | None = None

    async def __aenter__(self) -> PreviousRelease:
        await self.sandbox.start()
        await self.synapse.start()
        self.old = BridgeProcess(self.config_path, env={"PYTHONPATH": str(self.code)})
        await self.old.wait_ready()
        assert "End-to-end encryption ready (device" in self.old.log, "not the previous release"
        return self

    async def internal_id(self, username: str) -> str:
        return (await self.sandbox.partners.get_by_visible_id(username)).internal_id

    async def upgrade(self) -> Bridge:
        assert self.old is not None
        self.old.process.terminate()
        assert await self.old.wait_exit() == 0
        self.bridge = Bridge(load_config(self.config_path, environ={}))
        await self.bridge.start()
        return self.bridge

    async def __aexit__(self, *_: object) -> None:
        if self.old is not None:
            self.old.kill()
        if self.bridge is not None:
            await self.bridge.stop()
        self.synapse.stop()
        await self.sandbox.stop()


def text(body: str):
    return lambda e: isinstance(e, RoomMessageText) and e.body == body


async def test_an_installation_from_before_upgrades_in_place(db_url, tmp_path):
    async with PreviousRelease(db_url, tmp_path) as release:
        synapse, stack = release.synapse, release.stack
        alice = await PersonClient.create(synapse, "alice", tmp_path / "alice")
        try:
            management = await alice.create_dm(BOT)
            await alice.wait_for_member(management, BOT)
            await alice.send_text(management, "opt-in")
            await alice.wait_for(management, notice("Before you turn on"), timeout=60)
            await alice.send_text(management, "opt-in confirm")
            await alice.wait_for(management, notice("third-party chats are on"), timeout=60)
            alice_id = await release.internal_id("alice")

            await simulated_user(stack, "gina")
            await send_as_gatekeeper(stack, "gina", alice_id, Text(text="before the upgrade"))
            portal = await join_invited_room(alice)
            before = await alice.wait_for(portal, text("before the upgrade"), timeout=60)
            ghost = before.sender
            await alice.send_text(portal, "alice before the upgrade")
            await gatekeeper_inbox(stack, "gina", 1, timeout=60)
            keys = await query_keys(synapse.address, alice.client.access_token, ghost, BOT)
            old_bot_device = device_with_curve_key(keys, BOT, before.sender_key)
            assert old_bot_device, "before the upgrade the bot's device encrypted ghost messages"
            assert ghost not in keys["master_keys"] and BOT not in keys["master_keys"]

            bridge = await release.upgrade()
            assert bridge.running.encryption is not None
            encryption = bridge.running.encryption
            assert encryption.device_id == old_bot_device, "the bot got a new device"

            await send_as_gatekeeper(stack, "gina", alice_id, Text(text="after the upgrade"))
            after = await alice.wait_for(portal, text("after the upgrade"), timeout=60)
            assert after.decrypted
            keys = await query_keys(synapse.address, alice.client.access_token, ghost, BOT)
            ghost_device = device_with_curve_key(keys, ghost, after.sender_key)
            assert ghost_device, "after the upgrade the ghost encrypts with its own device"
            cross_signing_chain(keys, ghost, ghost_device)
            cross_signing_chain(keys, BOT, old_bot_device)
            as_token = bridge.config["appservice.as_token"]
            assert await devices_of(synapse.address, as_token, BOT) == [old_bot_device]

            # Alice's client still encrypts with the Megolm session it shared before the
            # upgrade; the bridge opens it with the Olm store the previous release wrote.
            await alice.send_text(portal, "alice after the upgrade")
            messages = await gatekeeper_inbox(stack, "gina", 2, timeout=60)
            assert [content.text for _, content in messages] == [
                "alice before the upgrade", "alice after the upgrade"]
            # And what was bridged before stays readable where it is.
            assert before.decrypted and before.body == "before the upgrade"
        finally:
            await alice.close()


async def test_element_shows_the_upgrade(db_url, tmp_path):
    """The same upgrade through an Element-grade client: before it, with insecure devices
    allowed (they had to be), the bot's notices carry a red shield and the ghost's messages a red
    "mismatched sender"; after it, with insecure devices excluded, both decrypt without one."""
    async with PreviousRelease(db_url, tmp_path) as release:
        synapse, stack = release.synapse, release.stack
        user_id, token, device_id = await register_user(synapse.address, "alice", "pw-alice")
        alice = await ElementClient.start(
            synapse.address, user_id=user_id, access_token=token, device_id=device_id,
            password="pw-alice", exclude_insecure_devices=False,
            log_path=tmp_path / "alice-element.log")
        try:
            await alice.bootstrap_cross_signing()
            management = await alice.create_room(invite=[BOT], encrypted=True, is_direct=True)
            hello = await alice.wait_event(management, sender=BOT,
                                           body_contains="management room", timeout=60)
            assert hello.decrypted and hello.shield_colour == "RED", hello
            await alice.send_text(management, "opt-in")
            await alice.wait_event(management, sender=BOT, body_contains="Before you turn on",
                                   timeout=60)
            await alice.send_text(management, "opt-in confirm")
            await alice.wait_event(management, sender=BOT,
                                   body_contains="third-party chats are on", timeout=60)
            alice_id = await release.internal_id("alice")
            await simulated_user(stack, "gina")
            await send_as_gatekeeper(stack, "gina", alice_id, Text(text="before the upgrade"))
            portal = await alice.wait_invite(timeout=60)
            await alice.join(portal)
            before = await alice.wait_event(portal, body_contains="before the upgrade",
                                            timeout=60)
            assert before.decrypted and before.shield_colour == "RED", before
            assert before.shield_reason == "MISMATCHED_SENDER", before

            await release.upgrade()
            await alice.set_exclude_insecure_devices(True)
            await send_as_gatekeeper(stack, "gina", alice_id, Text(text="after the upgrade"))
            after = await alice.wait_event(portal, body_contains="after the upgrade", timeout=60)
            assert after.decrypted, (after.decryption_error, after.decryption_error_message)
            assert (after.shield_colour, after.shield_reason) == ("NONE", None), after
            await alice.send_text(management, "status")
            status = await alice.wait_event(management, sender=BOT,
                                            body_contains="cross-signed", timeout=60)
            assert (status.shield_colour, status.shield_reason) == ("NONE", None), status
            # What the person sends still reaches the contact: their client now shares room
            # keys with the bot's device, which is cross-signed.
            await alice.send_text(portal, "from alice, devices excluded")
            [(_, content)] = await gatekeeper_inbox(stack, "gina", 1, timeout=60)
            assert content.text == "from alice, devices excluded"
        finally:
            await alice.stop()
