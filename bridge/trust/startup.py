"""Loading the master key at start without ever replacing one the database still needs.

A new master key is made only for a database that holds no wrapped key. With keys in the
database, a missing key file refuses the start, and so does a key other than the one the
database's keys are wrapped by: both name the key id the database expects, so an operator
restoring a backup knows which key file belongs with it (docs/operations.md, "Restore drill").
"""

from __future__ import annotations

import os
from pathlib import Path

from mautrix.util.async_db import Database

from .master_key import ENV_VAR, MasterKey, MasterKeyError


class MasterKeyMissing(MasterKeyError):
    """The key file is gone but the database holds keys wrapped by it."""


class MasterKeyMismatch(MasterKeyError):
    """The loaded key is not the one the database's keys are wrapped by."""


async def expected_master_key_ids(db: Database) -> set[str]:
    rows = await db.fetch("SELECT DISTINCT master_key_id FROM trust_user_key")
    return {row["master_key_id"] for row in rows}


async def load_master_key(db: Database, path: Path | None,
                          environ: dict[str, str] | None = None) -> MasterKey:
    env = os.environ if environ is None else environ
    expected = await expected_master_key_ids(db)
    if env.get(ENV_VAR):
        key, source = MasterKey.from_env(dict(env)), ENV_VAR
    elif path is None:
        raise MasterKeyError(f"neither {ENV_VAR} nor trust.master_key_file is configured")
    elif path.exists() or not expected:  # noqa: ASYNC240 - one stat, at start-up
        key, source = MasterKey.load_or_create(path), str(path)
    else:
        raise MasterKeyMissing(
            f"the master key file {path} (trust.master_key_file) is missing, but the database "
            f"holds keys wrapped by master key {', '.join(sorted(expected))}. Restore that file "
            f"from your backup (or set {ENV_VAR}); the bridge makes a new master key only for "
            "an empty database.")
    if expected and expected != {key.key_id}:
        raise MasterKeyMismatch(
            f"the master key from {source} is {key.key_id}, but the database's keys are wrapped "
            f"by master key {', '.join(sorted(expected))}. Use the key file that belongs to "
            "this database (see docs/operations.md, \"Restore drill\").")
    return key
