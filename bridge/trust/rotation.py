"""Master key rotation: re-wrap every user's data key under a new master key.

Sealed records are untouched (they are sealed under data keys, which do not change), so rotation
costs one row per user and runs in one transaction: it either re-wraps every key or none.
"""

from __future__ import annotations

import logging

from mautrix.util.async_db import Database

from ..storage import acquire, transaction
from .master_key import MasterKey
from .vault import WrongMasterKeyError, unwrap_data_key, wrap_data_key

log = logging.getLogger("bridge.trust.rotation")


async def rotate_master_key(db: Database, old: MasterKey, new: MasterKey) -> int:
    """Re-wrap all data keys from ``old`` to ``new``; returns how many were re-wrapped.

    Rows already wrapped by ``new`` are skipped, so an interrupted rotation can simply be rerun.
    """
    count = 0
    async with acquire(db) as conn, transaction(conn):
        rows = await conn.fetch("SELECT user_id, wrapped_key, master_key_id FROM trust_user_key")
        for row in rows:
            if row["master_key_id"] == new.key_id:
                continue
            if row["master_key_id"] != old.key_id:
                raise WrongMasterKeyError(
                    f"data key of {row['user_id']} is wrapped by unknown master key "
                    f"{row['master_key_id']}")
            data_key = unwrap_data_key(old, row["user_id"], row["wrapped_key"])
            await conn.execute(
                "UPDATE trust_user_key SET wrapped_key=$2, master_key_id=$3 WHERE user_id=$1",
                row["user_id"], wrap_data_key(new, row["user_id"], data_key), new.key_id)
            count += 1
    log.info("Re-wrapped %d data keys from master key %s to %s", count, old.key_id, new.key_id)
    return count
