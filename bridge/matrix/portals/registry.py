"""Finding and creating portals: at most one room per (Matrix user, contact).

Within the process a lock per pair makes concurrent callers wait for the one creating the room;
across processes and restarts the ``portal`` table's primary key does, and the room ID is read
back from it. If another process stored a room for the pair first, the room made here is left
and the stored one returned.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from mautrix.api import Method, Path
from mautrix.appservice import AppService, IntentAPI
from mautrix.types import Membership, RoomCreatePreset, RoomID, UserID
from mautrix.util.async_db import Database

from ..ids import Address
from ..puppet import Puppet, Puppets
from ..sending import MatrixSender
from ..spaces import InboxSpaces
from .messages import MessageMap
from .portal import Portal, PortalRecord
from .room_setup import initial_state, power_levels_override, topic_for

_COLUMNS = ("user_id, contact_id, room_id, contact_name, encrypted, read_only_reason, "
            "blocked, created_at")
_PairKey = tuple[UserID, Address]


class Portals:
    """One instance per bridge; caches the portals it has seen in memory."""

    def __init__(self, appservice: AppService, db: Database, *, puppets: Puppets,
                 sender: MatrixSender, encrypt_new_rooms: bool,
                 spaces: InboxSpaces | None = None,
                 log: logging.Logger | None = None) -> None:
        self.appservice = appservice
        self.db = db
        self.puppets = puppets
        self.sender = sender
        self.messages = MessageMap(db)
        self.encrypt_new_rooms = encrypt_new_rooms
        self.log = log or logging.getLogger("bridge.matrix.portal")
        self._by_pair: dict[_PairKey, Portal] = {}
        self._by_room: dict[RoomID, Portal] = {}
        self._locks: dict[_PairKey, asyncio.Lock] = {}
        self._room_version: str | None = None
        # Files each new portal in its user's space (when they chose a separate inbox).
        self.spaces = spaces

    @property
    def bot(self) -> IntentAPI:
        return self.appservice.intent

    # --- lookups ---------------------------------------------------------------------------

    async def get(self, user_id: UserID, contact_id: Address) -> Portal | None:
        """The existing portal for the pair, without creating one."""
        cached = self._by_pair.get((user_id, contact_id))
        if cached:
            return cached
        row = await self.db.fetchrow(
            f"SELECT {_COLUMNS} FROM portal WHERE user_id=$1 AND contact_id=$2",
            user_id, contact_id,
        )
        return await self._load(row) if row else None

    async def by_room(self, room_id: RoomID) -> Portal | None:
        cached = self._by_room.get(room_id)
        if cached:
            return cached
        row = await self.db.fetchrow(f"SELECT {_COLUMNS} FROM portal WHERE room_id=$1", room_id)
        return await self._load(row) if row else None

    async def for_user(self, user_id: UserID) -> list[Portal]:
        """Every portal of a Matrix user, oldest first."""
        rows = await self.db.fetch(
            f"SELECT {_COLUMNS} FROM portal WHERE user_id=$1 ORDER BY created_at, contact_id",
            user_id,
        )
        return [await self._load(row) for row in rows]

    async def _load(self, row) -> Portal:
        record = PortalRecord.from_row(row)
        cached = self._by_room.get(record.room_id)
        if cached:
            return cached
        ghost = await self.puppets.get(record.contact_id)
        if ghost is None:
            raise LookupError(f"portal {record.room_id} names {record.contact_id}, "
                              "who has no puppet")
        return self._remember(Portal(self, record, ghost))

    def _remember(self, portal: Portal) -> Portal:
        self._by_pair[(portal.user_id, portal.contact_id)] = portal
        self._by_room[portal.room_id] = portal
        return portal

    # --- creation --------------------------------------------------------------------------

    async def get_or_create(self, user_id: UserID, contact_id: Address,
                            contact_username: str) -> Portal:
        """The portal for the pair, creating its room (and the contact's ghost) if needed."""
        key = (user_id, contact_id)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            portal = await self.get(user_id, contact_id)
            if portal is not None:
                await portal.update_contact(contact_username)
                # A user who left the room gets it back when the chat goes on.
                await portal.ensure_user_invited()
                return portal
            ghost = await self.puppets.get_or_create(contact_id, contact_username)
            room_id = await self._create_room(user_id, ghost)
            record = PortalRecord(user_id=user_id, contact_id=contact_id, room_id=room_id,
                                  contact_name=ghost.username,
                                  encrypted=self.encrypt_new_rooms, read_only_reason=None,
                                  blocked=False, created_at=int(time.time() * 1000))
            stored = await self.db.fetchval(
                f"INSERT INTO portal ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
                "ON CONFLICT (user_id, contact_id) DO NOTHING RETURNING room_id",
                record.user_id, record.contact_id, record.room_id, record.contact_name,
                record.encrypted,
                record.read_only_reason, record.blocked, record.created_at,
            )
            if stored is None:
                # Another process won the race for this pair: keep its room, drop ours.
                self.log.warning("A portal for this pair appeared meanwhile; leaving %s", room_id)
                await self._abandon(room_id, ghost)
                winner = await self.get(user_id, contact_id)
                if winner is None:
                    raise RuntimeError(f"the portal of {user_id} and {contact_id} vanished")
                return winner
            portal = self._remember(Portal(self, record, ghost))
            portal.log.info("Created portal for %s with %s", user_id, ghost.mxid)
            if self.spaces is not None:
                try:
                    await self.spaces.portal_created(user_id, room_id)
                except Exception:
                    portal.log.exception("Could not file the new portal in its user's space")
            return portal

    async def _create_room(self, user_id: UserID, ghost: Puppet) -> RoomID:
        bot = self.bot
        room_version = await self._default_room_version()
        room_id = await ghost.intent.create_room(
            preset=RoomCreatePreset.PRIVATE,
            topic=topic_for(ghost.username),
            invitees=[bot.mxid],
            initial_state=initial_state(bot=bot.mxid, ghost=ghost.mxid,
                                        contact_id=ghost.contact_id,
                                        contact_name=ghost.username,
                                        encrypted=self.encrypt_new_rooms),
            power_level_override=power_levels_override(bot=bot.mxid, ghost=ghost.mxid,
                                                       room_version=room_version),
        )
        state_store = self.appservice.state_store
        await state_store.set_membership(room_id, ghost.mxid, Membership.JOIN)
        try:
            # The bot joins before the user is invited, so that the user's client counts it
            # among the members it shares room keys with from the very first message.
            await bot.join_room_by_id(room_id)
            await ghost.intent.invite_user(room_id, user_id, extra_content={"is_direct": True})
        except Exception:
            # Not stored yet, so nothing would ever use this room: leave it rather than strand it.
            self.log.warning("Setting up room %s for %s failed; leaving it", room_id, user_id)
            await self._abandon(room_id, ghost)
            raise
        return room_id

    async def _abandon(self, room_id: RoomID, ghost: Puppet) -> None:
        for intent in (self.bot, ghost.intent):
            if await self.appservice.state_store.get_membership(room_id, intent.mxid) not in (
                    Membership.JOIN, Membership.INVITE):
                continue
            try:
                await intent.leave_room(room_id, reason="Not used as a portal")
            except Exception:
                self.log.exception("Could not leave unused room %s", room_id)

    async def _default_room_version(self) -> str:
        """The homeserver's default room version (decides who holds power, see room_setup)."""
        if self._room_version is None:
            capabilities: dict[str, Any] = await self.bot.api.request(Method.GET,
                                                                      Path.v3.capabilities)
            versions = capabilities.get("capabilities", {}).get("m.room_versions", {})
            self._room_version = str(versions.get("default", "1"))
        return self._room_version

    async def set_read_only_for_user(self, user_id: UserID, reason: str) -> list[Portal]:
        """Make every portal of a user read-only (e.g. when they opt out); returns them."""
        portals = [p for p in await self.for_user(user_id) if not p.read_only]
        for portal in portals:
            await portal.set_read_only(reason)
        return portals

    # --- updates ---------------------------------------------------------------------------

    async def update(self, record: PortalRecord, **changes: Any) -> None:
        """Change what may change of a stored portal."""
        allowed = {"contact_name", "read_only_reason", "blocked"}
        if not changes.keys() <= allowed:
            raise ValueError(f"cannot change {sorted(changes.keys() - allowed)}")
        for name, value in changes.items():
            setattr(record, name, value)
        await self.db.execute(
            "UPDATE portal SET contact_name=$3, read_only_reason=$4, blocked=$5 "
            "WHERE user_id=$1 AND contact_id=$2",
            record.user_id, record.contact_id, record.contact_name, record.read_only_reason,
            record.blocked,
        )
