"""One Matrix E2EE device of the bridge's: the bot's, or one ghost's.

Each device is an ``OlmMachine`` of its own over the shared crypto store (mautrix keys Olm
accounts, Olm sessions and Megolm sessions by ``account_id``), and a client that acts as its user
and device through the appservice token (``user_id`` and ``device_id`` query parameters:
MSC4190 device management and MSC4326 device masquerading). Devices are made with
``PUT /devices/{id}`` (MSC4190), never with ``/login``.

:meth:`MatrixDevice.open` loads or creates the device; :meth:`MatrixDevice.ensure_identity`
makes sure its user's cross-signing identity is published and the device signed by it, once
per process, before the device first encrypts.
"""

from __future__ import annotations

import asyncio
import logging
import secrets

from mautrix.api import Method, Path
from mautrix.appservice import AppService
from mautrix.client import Client
from mautrix.client.state_store.asyncpg import PgStateStore
from mautrix.crypto import OlmMachine, PgCryptoStore
from mautrix.errors import MatrixRequestError
from mautrix.types import DeviceID, DeviceOTKCount, UserID
from mautrix.util.async_db import Database

from .identity import (
    CrossSigningSeeds,
    IdentityAction,
    PublishedIdentity,
    cross_signing_keys,
    decide,
    signed_device_keys,
)
from .records import DeviceRecords

#: mautrix keeps half of libolm's 100 one-time keys on the server for the bot. A ghost is in
#: one-contact portals: a few person devices ever start an Olm session with it.
GHOST_ONE_TIME_KEYS = 10
_OLM_TARGET = 50


class _PeopleWithoutCrossSigning(logging.Filter):
    """mautrix warns about every person's device that is not cross-signed, on every key share:
    that is the person's choice, not the bridge's problem, and it floods the log. Kept at
    DEBUG."""

    QUIET = ("isn't cross-signed", "Didn't find cross-signing key")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.WARNING and any(
                text in str(record.msg) for text in self.QUIET):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


_QUIET_FILTER = _PeopleWithoutCrossSigning()


class DeviceUnavailable(Exception):
    """The homeserver does not let the bridge make or use its device."""


class MatrixDevice:
    def __init__(self, *, user_id: UserID, client: Client, store: PgCryptoStore,
                 machine: OlmMachine, records: DeviceRecords, one_time_keys: int,
                 log: logging.Logger) -> None:
        self.user_id = user_id
        self.client = client
        self.store = store
        self.machine = machine
        self.records = records
        self.one_time_keys = one_time_keys
        self.log = log
        self.identity_checked = False
        self._identity_lock = asyncio.Lock()
        self.sharing: dict[str, asyncio.Lock] = {}

    @property
    def device_id(self) -> DeviceID:
        return DeviceID(self.client.device_id)

    @classmethod
    async def open(cls, *, user_id: UserID, account_id: str, appservice: AppService,
                   db: Database, state_store: PgStateStore, records: DeviceRecords,
                   pickle_key: str, device_name: str, one_time_keys: int,
                   log: logging.Logger) -> MatrixDevice:
        store = PgCryptoStore(account_id=account_id, pickle_key=pickle_key, db=db)
        await store.open()
        client = Client(base_url=appservice.server, mxid=user_id, state_store=state_store,
                        sync_store=store, client_session=appservice.http_session,
                        log=log.getChild("client"))
        client.api.token = appservice.as_token
        client.api.as_user_id = user_id
        olm_log = log.getChild("olm")
        if _QUIET_FILTER not in olm_log.filters:
            olm_log.addFilter(_QUIET_FILTER)
        machine = OlmMachine(client, store, state_store, log=olm_log)
        await machine.load()
        record = await records.get(user_id)
        stored_device_id = await store.get_device_id()
        device_id = record.device_id if record else stored_device_id
        created = False
        if not device_id:
            device_id = DeviceID("IB" + secrets.token_hex(5).upper())
            created = True
        if record is None:
            await records.add(user_id, device_id)
        if stored_device_id != device_id:
            await store.put_device_id(device_id)
        # An upsert: creates the device, or renames it; a device deleted on the homeserver
        # behind the bridge's back comes back under the same id (its keys are uploaded below).
        try:
            await client.create_device_msc4190(device_id, device_name)
        except MatrixRequestError as e:
            raise DeviceUnavailable(
                f"The homeserver refused to make the encryption device {device_id} of "
                f"{user_id} ({e.errcode}: {e.message}). The bridge needs appservice device "
                "management (MSC4190, Synapse 1.141 or newer) with `io.element.msc4190: true` "
                "in its registration file.") from e
        device = cls(user_id=user_id, client=client, store=store, machine=machine,
                     records=records, one_time_keys=one_time_keys, log=log)
        if created:
            log.info("Created the encryption device %s of %s", device_id, user_id)
        if not machine.account.shared:
            await device.upload_one_time_keys(server_count=0)
        return device

    async def ensure_identity(self) -> None:
        """Publish the cross-signing identity we hold (or make one) and sign the device."""
        if self.identity_checked:
            return
        async with self._identity_lock:
            if self.identity_checked:
                return
            await self._ensure_identity()
            self.identity_checked = True

    async def _ensure_identity(self) -> None:
        response = await self.client.query_keys([self.user_id])
        published = PublishedIdentity.from_query(response, self.user_id, self.device_id)
        if not published.device_published:
            # The homeserver lost the device's keys (the device was deleted and made again).
            self.log.warning("The homeserver has no keys for device %s of %s; uploading them",
                             self.device_id, self.user_id)
            self.machine.account.shared = False
            await self.upload_one_time_keys(server_count=0)
        seeds = await self.records.seeds(self.user_id)
        held_master = seeds.signers().master_public if seeds else None
        action = decide(held_master, published.master)
        if action is IdentityAction.REPLACE_LOST:
            self.log.error(
                "The cross-signing keys of %s are not in the database, but the homeserver "
                "publishes master key %s: the private keys are lost (a database restored from "
                "before they were made?). Making a new identity; people will see that %s's "
                "identity changed.", self.user_id, published.master, self.user_id)
        elif action is IdentityAction.REPUBLISH:
            self.log.warning(
                "The homeserver publishes master key %s for %s, not the one the bridge holds "
                "(%s); publishing the bridge's again", published.master, self.user_id,
                held_master)
        if seeds is None:
            seeds = CrossSigningSeeds.generate()
            await self.records.keep_seeds(self.user_id, seeds)
        signers = seeds.signers()
        if action is not IdentityAction.KEEP:
            await self.client.upload_cross_signing_keys(cross_signing_keys(
                self.user_id, signers, self.machine.account, self.device_id))
            if action is IdentityAction.REPLACE_LOST:
                await self._delete_other_devices()
            if action is IdentityAction.CREATE:
                self.log.info("Published the cross-signing identity of %s (master key %s)",
                              self.user_id, signers.master_public)
        if (action is not IdentityAction.KEEP
                or not published.device_signed_by_self_signing_key(
                    signers.self_signing_public)):
            await self.client.upload_one_signature(
                self.user_id, self.device_id,
                signed_device_keys(self.user_id, self.device_id, self.machine.account, signers))
            self.log.debug("Signed device %s of %s", self.device_id, self.user_id)

    async def _delete_other_devices(self) -> None:
        """Devices of this user whose keys went with the lost identity: people's clients would
        keep encrypting for them, and nothing can decrypt there any more."""
        listed = await self.client.api.request(Method.GET, Path.v3.devices)
        for device in listed.get("devices", []):
            device_id = device.get("device_id")
            if device_id and device_id != self.device_id:
                await self.client.api.request(Method.DELETE, Path.v3.devices[device_id], {})
                self.log.warning("Deleted device %s of %s: its keys were lost with the old "
                                 "identity", device_id, self.user_id)

    async def upload_one_time_keys(self, *, server_count: int) -> None:
        """Device keys (the first time) and one-time keys up to this device's target."""
        # mautrix tops up to half of libolm's maximum; telling it the server holds more than it
        # does makes it generate only what brings this device to its own target.
        pretended = max(0, _OLM_TARGET - (self.one_time_keys - server_count))
        await self.machine.share_keys(pretended)

    async def handle_one_time_key_count(self, count: DeviceOTKCount) -> None:
        if count.signed_curve25519 < max(1, self.one_time_keys // 2):
            await self.upload_one_time_keys(server_count=count.signed_curve25519)

    async def close(self) -> None:
        await self.store.close()
