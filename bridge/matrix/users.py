"""Matrix users of the bridge: who they are and where their management room is."""

from __future__ import annotations

import time

from attrs import define
from mautrix.types import RoomID, UserID
from mautrix.util.async_db import Database


@define
class MatrixUser:
    user_id: UserID
    management_room: RoomID | None
    created_at: int
    # "separate" or "main"; None means the config's default.
    inbox: str | None = None
    space_room: RoomID | None = None


_COLUMNS = "user_id, management_room, created_at, inbox, space_room"


class MatrixUsers:
    """Plain SQL access to ``matrix_user``; one instance per bridge, no class-level caches."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, mxid: UserID) -> MatrixUser | None:
        row = await self.db.fetchrow(
            f"SELECT {_COLUMNS} FROM matrix_user WHERE user_id=$1", mxid
        )
        return MatrixUser(**row) if row else None

    async def get_or_create(self, mxid: UserID) -> MatrixUser:
        await self.db.execute(
            "INSERT INTO matrix_user (user_id, created_at) VALUES ($1, $2) "
            "ON CONFLICT (user_id) DO NOTHING",
            mxid, int(time.time() * 1000),
        )
        user = await self.get(mxid)
        if user is None:  # only if the row was deleted in between, by an opt-out racing this
            raise LookupError(f"{mxid} was removed while being created")
        return user

    async def set_management_room(self, mxid: UserID, room_id: RoomID) -> None:
        await self.get_or_create(mxid)
        await self.db.execute("UPDATE matrix_user SET management_room=$1 WHERE user_id=$2",
                              room_id, mxid)

    async def by_management_room(self, room_id: RoomID) -> MatrixUser | None:
        row = await self.db.fetchrow(
            f"SELECT {_COLUMNS} FROM matrix_user WHERE management_room=$1",
            room_id,
        )
        return MatrixUser(**row) if row else None

    async def set_inbox(self, mxid: UserID, inbox: str) -> None:
        await self.get_or_create(mxid)
        await self.db.execute("UPDATE matrix_user SET inbox=$1 WHERE user_id=$2", inbox, mxid)

    async def set_space(self, mxid: UserID, room_id: RoomID) -> None:
        await self.get_or_create(mxid)
        await self.db.execute("UPDATE matrix_user SET space_room=$1 WHERE user_id=$2",
                              room_id, mxid)
