"""``python -m bridge.trust rotate --db URL --old-key-file OLD --new-key-file NEW``

Re-wraps every user's data key under the new master key (created with mode 0600 if missing).
Afterwards point the bridge at the new key file and keep the old one until a backup of the
database taken after the rotation exists.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from ..storage import open_database
from .master_key import MasterKey
from .rotation import rotate_master_key


async def _rotate(args: argparse.Namespace) -> int:
    old = MasterKey.load(args.old_key_file)
    new = MasterKey.load_or_create(args.new_key_file)
    db = await open_database(args.db)
    try:
        count = await rotate_master_key(db, old, new)
    finally:
        await db.stop()
    print(f"re-wrapped {count} data keys: master key {old.key_id} -> {new.key_id}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bridge.trust")
    sub = parser.add_subparsers(dest="command", required=True)
    rotate = sub.add_parser("rotate", help="re-wrap all data keys under a new master key")
    rotate.add_argument("--db", required=True, help="database URL, e.g. sqlite:bridge.db")
    rotate.add_argument("--old-key-file", required=True)
    rotate.add_argument("--new-key-file", required=True)
    args = parser.parse_args(argv)
    return asyncio.run(_rotate(args))


if __name__ == "__main__":
    sys.exit(main())
