"""Puppets: one ghost Matrix user per gatekeeper user.

The ghost's Matrix ID comes from ``bridge.username_template`` over the gateway internal ID, its
display name from ``bridge.displayname_template`` over the user-visible username. The profile is
kept in the ``puppet`` table so that a name or avatar is set on the homeserver only when it
changes: an avatar is uploaded once per distinct image (by SHA-256), not on every message.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time

from attrs import define
from mautrix.appservice import AppService, IntentAPI
from mautrix.types import ContentURI, UserID
from mautrix.util.async_db import Database

from .ids import Address, ghost_mxid

_COLUMNS = ("contact_id, mxid, username, displayname, name_set, avatar_hash, avatar_mxc, "
            "avatar_set, created_at")


@define
class PuppetRecord:
    contact_id: Address
    mxid: UserID
    username: str
    displayname: str | None
    name_set: bool
    avatar_hash: str | None
    avatar_mxc: ContentURI | None
    avatar_set: bool
    created_at: int

    @classmethod
    def from_row(cls, row) -> PuppetRecord:
        return cls(contact_id=Address(row["contact_id"]), mxid=UserID(row["mxid"]),
                   username=row["username"], displayname=row["displayname"],
                   name_set=bool(row["name_set"]), avatar_hash=row["avatar_hash"],
                   avatar_mxc=row["avatar_mxc"], avatar_set=bool(row["avatar_set"]),
                   created_at=row["created_at"])


class Puppet:
    """A gatekeeper user's ghost: its stored profile and an ``IntentAPI`` acting as it."""

    def __init__(self, puppets: Puppets, record: PuppetRecord, intent: IntentAPI) -> None:
        self._puppets = puppets
        self.record = record
        self.intent = intent
        self.log = puppets.log.getChild(record.mxid)
        self._lock = asyncio.Lock()

    @property
    def contact_id(self) -> Address:
        return self.record.contact_id

    @property
    def mxid(self) -> UserID:
        return self.record.mxid

    @property
    def username(self) -> str:
        return self.record.username

    @property
    def displayname(self) -> str:
        return self.record.displayname or self._puppets.displayname_for(self.record)

    async def update_profile(self, *, username: str | None = None, avatar: bytes | None = None,
                             avatar_mime: str = "image/jpeg") -> bool:
        """Bring the ghost's profile up to date; returns whether anything changed on Matrix.

        ``username`` changes the display name (through the template); ``avatar`` is the image's
        bytes, uploaded and set only when its hash differs from the one set before.
        """
        async with self._lock:
            changed = False
            record = self.record
            if username is not None and username != record.username:
                record.username = username
                record.name_set = False
            name = self._puppets.displayname_for(record)
            if name != record.displayname or not record.name_set:
                await self.intent.set_displayname(name)
                record.displayname, record.name_set = name, True
                changed = True
            if avatar is not None:
                digest = hashlib.sha256(avatar).hexdigest()
                if digest != record.avatar_hash or not record.avatar_set:
                    if digest != record.avatar_hash or not record.avatar_mxc:
                        record.avatar_mxc = await self.intent.upload_media(
                            avatar, mime_type=avatar_mime, filename="avatar"
                        )
                        record.avatar_hash = digest
                    await self.intent.set_avatar_url(record.avatar_mxc)
                    record.avatar_set = True
                    changed = True
            if changed:
                await self._puppets._save(record)
                self.log.debug("Profile updated")
            return changed


class Puppets:
    """Finds or creates ghosts; one instance per bridge, with its own in-memory cache."""

    def __init__(self, appservice: AppService, db: Database, *, username_template: str,
                 displayname_template: str, domain: str,
                 log: logging.Logger | None = None) -> None:
        self.appservice = appservice
        self.db = db
        self.username_template = username_template
        self.displayname_template = displayname_template
        self.domain = domain
        self.log = log or logging.getLogger("bridge.matrix.puppet")
        self._cache: dict[Address, Puppet] = {}
        self._locks: dict[Address, asyncio.Lock] = {}

    def mxid_for(self, contact_id: Address) -> UserID:
        return ghost_mxid(self.username_template, contact_id, self.domain)

    def displayname_for(self, record: PuppetRecord) -> str:
        return self.displayname_template.format(username=record.username,
                                                internal_id=record.contact_id)

    def is_ghost(self, mxid: UserID) -> bool:
        before, after = self.username_template.split("{internal_id}", 1)
        return (mxid.startswith(f"@{before}") and mxid.endswith(f"{after}:{self.domain}")
                and mxid != self.appservice.bot_mxid)

    async def get(self, contact_id: Address) -> Puppet | None:
        """The ghost if it exists already (in memory or the database), without creating it."""
        if contact_id in self._cache:
            return self._cache[contact_id]
        row = await self.db.fetchrow(f"SELECT {_COLUMNS} FROM puppet WHERE contact_id=$1",
                                     contact_id)
        if row is None:
            return None
        return self._remember(PuppetRecord.from_row(row))

    async def by_mxid(self, mxid: UserID) -> Puppet | None:
        row = await self.db.fetchrow(f"SELECT {_COLUMNS} FROM puppet WHERE mxid=$1", mxid)
        if row is None:
            return None
        return self._cache.get(Address(row["contact_id"])) or self._remember(
            PuppetRecord.from_row(row))

    async def get_or_create(self, contact_id: Address, username: str) -> Puppet:
        """The ghost of ``contact_id``, registered on the homeserver and named on first use."""
        lock = self._locks.setdefault(contact_id, asyncio.Lock())
        async with lock:
            puppet = await self.get(contact_id)
            if puppet is None:
                record = PuppetRecord(
                    contact_id=contact_id, mxid=self.mxid_for(contact_id), username=username,
                    displayname=None, name_set=False, avatar_hash=None, avatar_mxc=None,
                    avatar_set=False, created_at=int(time.time() * 1000),
                )
                await self.db.execute(
                    f"INSERT INTO puppet ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                    " ON CONFLICT (contact_id) DO NOTHING",
                    record.contact_id, record.mxid, record.username, record.displayname,
                    record.name_set, record.avatar_hash, record.avatar_mxc, record.avatar_set,
                    record.created_at,
                )
                puppet = self._remember(record)
                self.log.info("New ghost %s", record.mxid)
            await puppet.intent.ensure_registered()
        # Outside the creation lock: a rename must not hold up other callers for this contact
        # longer than its own profile update.
        await puppet.update_profile(username=username)
        return puppet

    def _remember(self, record: PuppetRecord) -> Puppet:
        puppet = Puppet(self, record, self.appservice.intent.user(record.mxid))
        self._cache[record.contact_id] = puppet
        return puppet

    async def _save(self, record: PuppetRecord) -> None:
        await self.db.execute(
            "UPDATE puppet SET username=$2, displayname=$3, name_set=$4, avatar_hash=$5, "
            "avatar_mxc=$6, avatar_set=$7 WHERE contact_id=$1",
            record.contact_id, record.username, record.displayname, record.name_set,
            record.avatar_hash, record.avatar_mxc, record.avatar_set,
        )
