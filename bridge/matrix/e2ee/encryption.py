"""The bridge's Matrix end-to-end encryption: the bot's device and one device per speaking ghost.

Every event the bridge sends is Megolm-encrypted by a device of its sender: the bot's notices by
the bot's device, a ghost's messages by the ghost's own device. Element refuses a message whose
session came from another user's device ("mismatched sender") or from a device its owner has not
cross-signed (MSC4153), so each of these devices is cross-signed by its user (:mod:`.identity`).

Ghost devices are made lazily, on a ghost's first encrypted event; a ghost that never speaks in
an encrypted room has none. Decryption of what people send stays with the bot's device: the bot
is in every encrypted portal, so people's clients share their room keys with it.

Synapse does not let appservice users ``/sync``: to-device events, device-list changes and
one-time-key counts arrive in appservice transactions (MSC2409, MSC3202) and are routed here to
the device they are addressed to. Everything Olm/Megolm goes through this package, so the
library under it (libolm through mautrix today; see docs/e2ee.md) can change without portals
noticing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from attrs import frozen
from mautrix.appservice import AppService
from mautrix.client.state_store.asyncpg import PgStateStore
from mautrix.crypto import PgCryptoStore
from mautrix.errors import EncryptionError, SessionNotFound
from mautrix.types import (
    ASToDeviceEvent,
    DeviceLists,
    DeviceOTKCount,
    EncryptedEvent,
    Event,
    EventType,
    RoomID,
    StateEvent,
    UserID,
)
from mautrix.util.async_db import Database

from ...trust import MasterKey, Vault
from .device import GHOST_ONE_TIME_KEYS, MatrixDevice
from .records import DeviceRecords, devices_scope

#: mautrix's account id of the bot's Olm account: the empty one, as before ghosts had devices,
#: so that an upgraded installation keeps its bot device and identity.
BOT_ACCOUNT = ""
BOT_ONE_TIME_KEYS = 50


@frozen
class CrossSigningStatus:
    """What ``status`` tells an admin about the bot's identity."""

    device_id: str
    master_key: str | None
    device_signed: bool
    ghost_devices: int


class MatrixEncryption:
    def __init__(self, appservice: AppService, db: Database, state_store: PgStateStore, *,
                 vault: Vault, master_key: MasterKey, is_ghost: Callable[[str], bool],
                 device_name: str = "interop-bridge",
                 log: logging.Logger | None = None) -> None:
        self.appservice = appservice
        self.db = db
        self.state_store = state_store
        self.records = DeviceRecords(db, devices_scope(vault))
        self.is_ghost = is_ghost
        self.device_name = device_name
        self.log = log or logging.getLogger("bridge.matrix.e2ee")
        self._master_key = master_key
        self._pickle_key = ""
        self._bot: MatrixDevice | None = None
        self._ghosts: dict[UserID, MatrixDevice] = {}
        self._ghost_locks: dict[UserID, asyncio.Lock] = {}
        self._ghosts_with_devices: set[UserID] = set()

    @property
    def bot(self) -> MatrixDevice:
        if self._bot is None:
            raise RuntimeError("encryption is not started")
        return self._bot

    @property
    def device_id(self) -> str:
        return self._bot.device_id if self._bot else ""

    async def start(self) -> None:
        await PgCryptoStore.upgrade_table.upgrade(self.db)
        legacy = PgCryptoStore(account_id=BOT_ACCOUNT, pickle_key="", db=self.db)
        has_bot_account = bool(await legacy.get_device_id())
        self._pickle_key = await self.records.olm_pickle_key(self._master_key,
                                                             has_olm_account=has_bot_account)
        self._bot = await MatrixDevice.open(
            user_id=self.appservice.bot_mxid, account_id=BOT_ACCOUNT,
            appservice=self.appservice, db=self.db, state_store=self.state_store,
            records=self.records, pickle_key=self._pickle_key, device_name=self.device_name,
            one_time_keys=BOT_ONE_TIME_KEYS, log=self.log.getChild("bot"))
        await self._bot.ensure_identity()
        self._ghosts_with_devices = await self.records.user_ids() - {self.appservice.bot_mxid}
        self.log.info("End-to-end encryption ready (bot device %s, cross-signed; %d ghost "
                      "devices)", self._bot.device_id, len(self._ghosts_with_devices))

    async def stop(self) -> None:
        for device in (*self._ghosts.values(), *([self._bot] if self._bot else [])):
            await device.close()

    async def status(self) -> CrossSigningStatus:
        record = await self.records.get(self.appservice.bot_mxid)
        return CrossSigningStatus(device_id=self.device_id,
                                  master_key=record.master_key if record else None,
                                  device_signed=self.bot.identity_checked,
                                  ghost_devices=len(self._ghosts_with_devices))

    # --- devices -----------------------------------------------------------------------------

    async def device_of(self, user_id: UserID, *, create: bool = True) -> MatrixDevice | None:
        """The device that encrypts for ``user_id`` (the bot or a ghost), made on first use."""
        if user_id == self.appservice.bot_mxid:
            return self.bot
        device = self._ghosts.get(user_id)
        if device is not None:
            return device
        if not self.is_ghost(user_id):
            if create:
                raise ValueError(f"{user_id} is not one of the bridge's users")
            return None
        if not create and user_id not in self._ghosts_with_devices:
            return None
        async with self._ghost_locks.setdefault(user_id, asyncio.Lock()):
            device = self._ghosts.get(user_id)
            if device is None:
                device = await MatrixDevice.open(
                    user_id=user_id, account_id=user_id, appservice=self.appservice,
                    db=self.db, state_store=self.state_store, records=self.records,
                    pickle_key=self._pickle_key, device_name=self.device_name,
                    one_time_keys=GHOST_ONE_TIME_KEYS, log=self.log.getChild("ghost"))
                self._ghosts[user_id] = device
                self._ghosts_with_devices.add(user_id)
        return device

    # --- transaction data ----------------------------------------------------------------------

    async def handle_crypto_state(self, device_lists: DeviceLists | None,
                                  otk_counts: dict[UserID, dict[str, DeviceOTKCount]]) -> None:
        if device_lists:
            await self.bot.machine.handle_as_device_lists(device_lists)
            # The bot's machine rotates only its own outbound sessions when a person's devices
            # change; a ghost's session in a shared room must not skip the new device either.
            for user_id in device_lists.changed:
                if not self.is_ghost(user_id) and user_id != self.appservice.bot_mxid:
                    for room_id in await self.state_store.find_shared_rooms(user_id):
                        await self._rotate_ghost_sessions(room_id)
        for user_id, devices in otk_counts.items():
            for device_id, count in devices.items():
                if (user_id not in self._ghosts and user_id != self.appservice.bot_mxid
                        and count.signed_curve25519 >= GHOST_ONE_TIME_KEYS // 2):
                    continue  # a ghost device not in memory is loaded only to top up
                device = await self.device_of(UserID(user_id), create=False)
                if device is not None and device.device_id == device_id:
                    await device.handle_one_time_key_count(count)

    async def handle_to_device(self, raw: dict[str, Any]) -> None:
        event = ASToDeviceEvent.deserialize(raw)
        device = await self.device_of(event.to_user_id, create=False)
        if device is None or device.device_id != event.to_device_id:
            self.log.debug("To-device %s for %s/%s, a device the bridge does not have",
                           event.type, event.to_user_id, event.to_device_id)
            return
        await device.machine.handle_as_to_device_event(event)

    async def handle_member(self, event: StateEvent) -> None:
        # Ghosts and the bot never receive room keys, so their own joins change nobody's key
        # sharing; a person's join or leave starts new sessions for every sender in the room.
        if self.is_ghost(event.state_key) or event.state_key == self.appservice.bot_mxid:
            return
        await self.bot.machine.handle_member_event(event)
        if event.prev_content.membership != event.content.membership:
            await self._rotate_ghost_sessions(event.room_id)

    async def _rotate_ghost_sessions(self, room_id: RoomID) -> None:
        for member in await self.state_store.get_members(room_id):
            if member in self._ghosts_with_devices:
                store = PgCryptoStore(account_id=member, pickle_key=self._pickle_key,
                                      db=self.db)
                await store.remove_outbound_group_sessions([room_id])

    # --- events ----------------------------------------------------------------------------

    async def decrypt(self, event: EncryptedEvent, wait_for_keys: float = 5,
                      wait_for_answer: float = 20) -> Event:
        machine = self.bot.machine
        try:
            return await machine.decrypt_megolm_event(event)
        except SessionNotFound as e:
            if not wait_for_keys:
                raise
            # The room key travels as a to-device event and may arrive just after the message.
            if await machine.wait_for_session(event.room_id, e.session_id,
                                              timeout=wait_for_keys):
                return await machine.decrypt_megolm_event(event)
            # Or it never comes: the homeserver does not repeat to-device events it could not
            # deliver while the bridge was down (only room events are kept for it). Ask the
            # sender's device for the key, as clients do when they miss one.
            if not await self._request_key(event, e, timeout=wait_for_answer):
                raise
            return await machine.decrypt_megolm_event(event)

    async def decrypt_sent(self, event: EncryptedEvent) -> Event:
        """An event the bridge itself sent, decrypted with its sender's own device (each
        device keeps the inbound copy of the sessions it made; the bot has no key to a ghost's
        session). Before per-ghost devices the bot's device encrypted for every ghost, so that
        is tried last. Raises ``DecryptionError`` when no device here holds the session."""
        device = await self.device_of(event.sender, create=False)
        if device is not None and device is not self.bot:
            try:
                return await device.machine.decrypt_megolm_event(event)
            except SessionNotFound:
                pass
        return await self.bot.machine.decrypt_megolm_event(event)

    async def _request_key(self, event: EncryptedEvent, missing: SessionNotFound, *,
                           timeout: float) -> bool:
        device_id = getattr(event.content, "device_id", None)
        if device_id:
            devices = [device_id]
        else:
            devices = list((await self.bot.store.get_devices(event.sender) or {}).keys())
        if not devices:
            return False
        self.log.info("Asking %s (%s) for the room key %s of %s", event.sender,
                      ", ".join(devices), missing.session_id, event.event_id)
        # mautrix removes the device that answered by key, so the devices go in a dict.
        return await self.bot.machine.request_room_key(
            event.room_id, missing.sender_key, missing.session_id,
            from_devices={event.sender: dict.fromkeys(devices)}, timeout=timeout)

    async def encrypt(self, room_id: RoomID, event_type: EventType, content: Any, *,
                      sender: UserID) -> tuple[EventType, Any]:
        """``content`` encrypted by ``sender``'s own device (the bot's or the ghost's)."""
        device = await self.device_of(sender)
        assert device is not None
        await device.ensure_identity()
        machine = device.machine
        try:
            encrypted = await machine.encrypt_megolm_event(room_id, event_type, content)
        except EncryptionError:
            # No outbound session yet, or it rotated: share one with the room's people, once at
            # a time per device and room (concurrent shares raise SessionShareError).
            async with device.sharing.setdefault(room_id, asyncio.Lock()):
                try:
                    encrypted = await machine.encrypt_megolm_event(room_id, event_type, content)
                except EncryptionError:
                    await machine.share_group_session(room_id, await self._people(room_id))
                    encrypted = await machine.encrypt_megolm_event(room_id, event_type, content)
        return EventType.ROOM_ENCRYPTED, encrypted

    async def _people(self, room_id: RoomID) -> list[UserID]:
        """The members whose devices get room keys: everyone but the bridge's own users."""
        return [member for member in await self.state_store.get_members(room_id)
                if not self.is_ghost(member) and member != self.appservice.bot_mxid]
