"""The bridge bot's Matrix end-to-end encryption device, in appservice mode.

Synapse does not let appservice users ``/sync``; to-device events, device-list changes and one-time
key counts arrive in appservice transactions instead (MSC2409, MSC3202). The bot logs in with
``m.login.application_service`` once, and its device ID is kept in the crypto store so each start
reuses the same device. The crypto tables live in the bridge's own database (mautrix reuses the
open transaction's connection for nested queries, so split databases break).

Messages sent by ghosts are encrypted with the bot's device for now. Everything that encrypts goes
through :meth:`BotEncryption.encrypt`, so a later per-ghost device (MSC4190 device management with
MSC3202 masquerading) changes this module only.
"""

from __future__ import annotations

import asyncio
import logging

from mautrix.appservice import AppService
from mautrix.client import Client
from mautrix.client.state_store.asyncpg import PgStateStore
from mautrix.crypto import OlmMachine, PgCryptoStore
from mautrix.errors import EncryptionError, SessionNotFound
from mautrix.types import (
    ASToDeviceEvent,
    DeviceLists,
    DeviceOTKCount,
    EncryptedEvent,
    EventType,
    LoginType,
    RoomID,
    StateEvent,
    UserID,
)
from mautrix.util.async_db import Database


class BotEncryption:
    def __init__(self, appservice: AppService, db: Database, state_store: PgStateStore, *,
                 pickle_key: str, ghost_prefix: str, ghost_suffix: str,
                 device_name: str = "interop-bridge", log: logging.Logger | None = None) -> None:
        self.appservice = appservice
        self.db = db
        self.state_store = state_store
        self.log = log or logging.getLogger("bridge.matrix.encryption")
        self.device_name = device_name
        self._ghost_prefix = ghost_prefix
        self._ghost_suffix = ghost_suffix
        self.crypto_store = PgCryptoStore(account_id="", pickle_key=pickle_key, db=db)
        self.client: Client | None = None
        self.machine: OlmMachine | None = None
        self._sharing: dict[RoomID, asyncio.Lock] = {}

    async def start(self) -> None:
        await PgCryptoStore.upgrade_table.upgrade(self.db)
        await self.crypto_store.open()
        self.client = Client(base_url=self.appservice.server, mxid=self.appservice.bot_mxid,
                             state_store=self.state_store, sync_store=self.crypto_store,
                             client_session=self.appservice.http_session,
                             log=self.log.getChild("client"))
        self.client.api.token = self.appservice.as_token
        device_id = await self.crypto_store.get_device_id()
        await self.client.login(login_type=LoginType.APPSERVICE, device_name=self.device_name,
                                device_id=device_id, store_access_token=True,
                                update_hs_url=False)
        self.machine = OlmMachine(self.client, self.crypto_store, self.state_store)
        await self.machine.load()
        if not device_id:
            await self.crypto_store.put_device_id(self.client.device_id)
            self.log.info("Created the bot's encryption device %s", self.client.device_id)
        if not device_id or not self.machine.account.shared:
            await self.machine.share_keys()
        self.log.info("End-to-end encryption ready (device %s)", self.client.device_id)

    async def stop(self) -> None:
        await self.crypto_store.close()

    @property
    def device_id(self) -> str:
        return self.client.device_id if self.client else ""

    # --- transaction data ------------------------------------------------------------------

    async def handle_crypto_state(self, device_lists: DeviceLists | None,
                                  otk_counts: dict[UserID, dict[str, DeviceOTKCount]]) -> None:
        if device_lists:
            await self.machine.handle_as_device_lists(device_lists)
        if otk_counts:
            await self.machine.handle_as_otk_counts(otk_counts)

    async def handle_to_device(self, raw: dict) -> None:
        await self.machine.handle_as_to_device_event(ASToDeviceEvent.deserialize(raw))

    async def handle_member(self, event: StateEvent) -> None:
        # Ghosts have no devices; tracking them would only cost key queries.
        if self._is_ghost(event.state_key):
            return
        await self.machine.handle_member_event(event)

    # --- events ---------------------------------------------------------------------------

    async def decrypt(self, event: EncryptedEvent, wait_for_keys: float = 5,
                      wait_for_answer: float = 20):
        try:
            return await self.machine.decrypt_megolm_event(event)
        except SessionNotFound as e:
            if not wait_for_keys:
                raise
            # The room key travels as a to-device event and may arrive just after the message.
            if await self.machine.wait_for_session(event.room_id, e.session_id,
                                                   timeout=wait_for_keys):
                return await self.machine.decrypt_megolm_event(event)
            # Or it never comes: the homeserver does not repeat to-device events it could not
            # deliver while the bridge was down (only room events are kept for it). Ask the
            # sender's device for the key, as clients do when they miss one.
            if not await self.request_key(event, e, timeout=wait_for_answer):
                raise
            return await self.machine.decrypt_megolm_event(event)

    async def request_key(self, event: EncryptedEvent, missing: SessionNotFound, *,
                          timeout: float) -> bool:
        device_id = getattr(event.content, "device_id", None)
        if device_id:
            devices = [device_id]
        else:
            devices = list((await self.crypto_store.get_devices(event.sender) or {}).keys())
        if not devices:
            return False
        self.log.info("Asking %s (%s) for the room key %s of %s", event.sender,
                      ", ".join(devices), missing.session_id, event.event_id)
        # mautrix removes the device that answered by key, so the devices go in a dict.
        return await self.machine.request_room_key(
            event.room_id, missing.sender_key, missing.session_id,
            from_devices={event.sender: dict.fromkeys(devices)}, timeout=timeout)

    async def encrypt(self, room_id: RoomID, event_type: EventType, content) -> tuple[EventType, object]:
        try:
            encrypted = await self.machine.encrypt_megolm_event(room_id, event_type, content)
        except EncryptionError:
            # No outbound session yet, or it rotated: share one with the room's people, once at a
            # time per room (concurrent shares raise SessionShareError).
            lock = self._sharing.setdefault(room_id, asyncio.Lock())
            async with lock:
                try:
                    encrypted = await self.machine.encrypt_megolm_event(room_id, event_type,
                                                                        content)
                except EncryptionError:
                    members = await self.state_store.get_members(room_id)
                    people = [m for m in members if not self._is_ghost(m)]
                    await self.machine.share_group_session(room_id, people)
                    encrypted = await self.machine.encrypt_megolm_event(room_id, event_type,
                                                                        content)
        return EventType.ROOM_ENCRYPTED, encrypted

    def _is_ghost(self, user_id: str) -> bool:
        return (user_id.startswith(self._ghost_prefix) and user_id.endswith(self._ghost_suffix)
                and user_id != self.appservice.bot_mxid)
