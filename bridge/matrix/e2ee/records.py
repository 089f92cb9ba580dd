"""Where the bridge keeps its own Matrix devices: the ``matrix_device`` table and its secrets.

The bot and the ghosts are the bridge's users, not a person's, so their secrets live in one
boundary of their own (``MATRIX_DEVICES``), whose data key the master key wraps like every
user's: master key rotation re-wraps it, and a wrong master key refuses to open it.

The Olm pickle key (mautrix pickles every Olm account and session with it) is a random secret
sealed there too. Installations from before it existed pickled with a key derived from the
master key; that key is kept as the pickle key on first start, so nothing has to be re-pickled
and a later rotation of the master key no longer touches the Olm store.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

from attrs import define
from mautrix.types import DeviceID, UserID
from mautrix.util.async_db import Database

from ...trust import MasterKey, Purpose, UserId, UserScope, Vault
from .identity import CrossSigningSeeds

_PICKLE_KEY = Purpose.MATRIX_OLM_PICKLE_KEY

MATRIX_DEVICES = UserId("bridge:matrix-devices")
_PICKLE_KEY_STATE = "matrix.olm_pickle_key"
_LEGACY_PICKLE_LABEL = b"interop-bridge matrix bot olm pickle"


@define
class DeviceRecord:
    user_id: UserID
    device_id: DeviceID
    master_key: str | None
    created_at: int


def devices_scope(vault: Vault) -> UserScope:
    """The boundary the bridge's own Matrix secrets are sealed in."""
    return UserScope(vault, MATRIX_DEVICES)


class DeviceRecords:
    def __init__(self, db: Database, scope: UserScope) -> None:
        self.db = db
        self.scope = scope

    async def get(self, user_id: UserID) -> DeviceRecord | None:
        row = await self.db.fetchrow(
            "SELECT user_id, device_id, master_key, created_at FROM matrix_device "
            "WHERE user_id=$1", user_id)
        if row is None:
            return None
        return DeviceRecord(UserID(row["user_id"]), DeviceID(row["device_id"]),
                            row["master_key"], row["created_at"])

    async def add(self, user_id: UserID, device_id: DeviceID) -> DeviceRecord:
        """Keep the device before the homeserver hears of it: a crash in between leaves a device
        id that the next start creates again under the same id, never a second device."""
        record = DeviceRecord(user_id, device_id, None, int(time.time() * 1000))
        await self.db.execute(
            "INSERT INTO matrix_device (user_id, device_id, created_at) VALUES ($1, $2, $3) "
            "ON CONFLICT (user_id) DO NOTHING", user_id, device_id, record.created_at)
        return record

    async def user_ids(self) -> set[UserID]:
        return {UserID(row["user_id"]) for row in
                await self.db.fetch("SELECT user_id FROM matrix_device")}

    async def seeds(self, user_id: UserID) -> CrossSigningSeeds | None:
        async with self.db.acquire() as conn:
            sealed = await conn.fetchval(
                "SELECT cross_signing FROM matrix_device WHERE user_id=$1", user_id)
            if sealed is None:
                return None
            boundary = await self.scope.boundary(conn)
            return CrossSigningSeeds.from_bytes(
                boundary.open(Purpose.MATRIX_CROSS_SIGNING, user_id, bytes(sealed)))

    async def keep_seeds(self, user_id: UserID, seeds: CrossSigningSeeds) -> None:
        """Sealed and stored before they are published, so that a published identity is never
        one the bridge does not hold."""
        async with self.db.acquire() as conn, conn.transaction():
            boundary = await self.scope.boundary(conn)
            await conn.execute(
                "UPDATE matrix_device SET cross_signing=$2, master_key=$3 WHERE user_id=$1",
                user_id, boundary.seal(Purpose.MATRIX_CROSS_SIGNING, user_id, seeds.to_bytes()),
                seeds.signers().master_public)

    async def olm_pickle_key(self, master_key: MasterKey, *, has_olm_account: bool) -> str:
        """The key mautrix pickles Olm state with; made once, then read back."""
        async with self.db.acquire() as conn, conn.transaction():
            boundary = await self.scope.boundary(conn)
            stored = await conn.fetchval("SELECT value FROM bridge_state WHERE key=$1",
                                         _PICKLE_KEY_STATE)
            if stored is not None:
                return boundary.open(_PICKLE_KEY, "", base64.b64decode(stored)).decode()
            if has_olm_account:
                # An installation from before this key existed: its Olm state is pickled under
                # a key derived from the master key.
                key = hmac.new(master_key.secret, _LEGACY_PICKLE_LABEL,
                               hashlib.sha256).hexdigest()
            else:
                key = secrets.token_hex(32)
            sealed = boundary.seal(_PICKLE_KEY, "", key.encode())
            await conn.execute("INSERT INTO bridge_state (key, value) VALUES ($1, $2)",
                               _PICKLE_KEY_STATE, base64.b64encode(sealed).decode())
            return key
