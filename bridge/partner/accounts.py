"""Partner accounts: the opt-in state of each Matrix user, in plain SQL."""

from __future__ import annotations

import time
from collections.abc import Mapping
from enum import Enum
from typing import Any

from attrs import define
from mautrix.types import UserID
from mautrix.util.async_db import Database

from ..gateway.ids import InternalId, UserVisibleId, internal_id


class AccountState(str, Enum):
    #: The disclosure was shown; waiting for the user's confirmation.
    DISCLOSED = "disclosed"
    #: Keys created and enlisted: reachable by gatekeeper users.
    ACTIVE = "active"
    #: The gateway un-enlisted the account (e.g. 30 days without connecting); opt in again.
    UNENLISTED = "unenlisted"
    #: The user opted out: keys and sessions wiped, not reachable.
    OPTED_OUT = "opted_out"


@define
class PartnerAccount:
    user_id: UserID
    state: AccountState
    user_visible_id: UserVisibleId | None
    internal_id: InternalId | None
    sealed_noise_key: bytes | None
    disclosure_shown_at: int | None
    opted_in_at: int | None
    opted_out_at: int | None
    last_error: str | None

    @property
    def is_active(self) -> bool:
        return self.state == AccountState.ACTIVE


_COLUMNS = ("user_id, state, user_visible_id, internal_id, sealed_noise_key, disclosure_shown_at, "
            "opted_in_at, opted_out_at, last_error")


def _now() -> int:
    return int(time.time() * 1000)


def _account(row: Mapping[str, Any]) -> PartnerAccount:
    data = dict(row)
    data["state"] = AccountState(data["state"])
    if data["user_visible_id"] is not None:
        data["user_visible_id"] = UserVisibleId(data["user_visible_id"])
    if data["internal_id"] is not None:
        data["internal_id"] = internal_id(data["internal_id"])
    return PartnerAccount(**data)


def _from_row(row: Mapping[str, Any] | None) -> PartnerAccount | None:
    return None if row is None else _account(row)


class PartnerAccounts:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, user_id: UserID, conn=None) -> PartnerAccount | None:
        return _from_row(await (conn or self.db).fetchrow(
            f"SELECT {_COLUMNS} FROM partner_account WHERE user_id=$1", user_id))

    async def by_user_visible_id(self, user_visible_id: str) -> PartnerAccount | None:
        return _from_row(await self.db.fetchrow(
            f"SELECT {_COLUMNS} FROM partner_account WHERE user_visible_id=$1", user_visible_id))

    async def active(self) -> list[PartnerAccount]:
        rows = await self.db.fetch(f"SELECT {_COLUMNS} FROM partner_account WHERE state=$1",
                                   AccountState.ACTIVE.value)
        return [_account(row) for row in rows]

    async def all(self) -> list[PartnerAccount]:
        rows = await self.db.fetch(f"SELECT {_COLUMNS} FROM partner_account ORDER BY user_id")
        return [_account(row) for row in rows]

    async def record_disclosure(self, user_id: UserID) -> None:
        await self.db.execute(
            "INSERT INTO partner_account (user_id, state, disclosure_shown_at)"
            " VALUES ($1, $2, $3) ON CONFLICT (user_id) DO UPDATE SET"
            " disclosure_shown_at=excluded.disclosure_shown_at, "
            "state=CASE WHEN partner_account.state=$4 THEN partner_account.state "
            "ELSE excluded.state END",
            user_id, AccountState.DISCLOSED.value, _now(), AccountState.ACTIVE.value,
        )

    async def user_visible_id_taken(self, user_visible_id: str, by_other_than: UserID) -> bool:
        owner = await self.db.fetchval(
            "SELECT user_id FROM partner_account WHERE user_visible_id=$1", user_visible_id)
        return owner is not None and owner != by_other_than

    async def activate(self, conn, user_id: UserID, *, user_visible_id: str, internal_id: str,
                       sealed_noise_key: bytes) -> None:
        await conn.execute(
            "UPDATE partner_account SET state=$2, user_visible_id=$3, internal_id=$4, "
            "sealed_noise_key=$5, opted_in_at=$6, opted_out_at=NULL, last_error=NULL "
            "WHERE user_id=$1",
            user_id, AccountState.ACTIVE.value, user_visible_id, internal_id, sealed_noise_key,
            _now(),
        )

    async def deactivate(self, conn, user_id: UserID, state: AccountState,
                         error: str | None = None) -> None:
        """Opted out or un-enlisted: the keys are gone, the identifiers are released."""
        await conn.execute(
            "UPDATE partner_account SET state=$2, internal_id=NULL, user_visible_id=NULL, "
            "sealed_noise_key=NULL, opted_out_at=$3, last_error=$4 WHERE user_id=$1",
            user_id, state.value, _now(), error,
        )

    async def set_error(self, user_id: UserID, error: str | None) -> None:
        await self.db.execute("UPDATE partner_account SET last_error=$2 WHERE user_id=$1",
                              user_id, error)
