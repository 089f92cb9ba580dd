"""The newest sandbox schema, created in one go on a fresh database (must equal all steps
applied)."""

from __future__ import annotations

from mautrix.util.async_db import Connection, Scheme

from .v01_initial import create_v01
from .v02_simulated_users import create_v02
from .v03_reports import create_v03


async def create_latest(conn: Connection, scheme: Scheme) -> None:
    # Every step so far only adds tables, so the latest revision is the steps' DDL in order.
    await create_v01(conn, scheme)
    await create_v02(conn, scheme)
    await create_v03(conn, scheme)
