"""The newest sandbox schema, created in one go on a fresh database (must equal all steps applied)."""

from __future__ import annotations

from mautrix.util.async_db import Connection, Scheme

from .v01_initial import create_v01


async def create_latest(conn: Connection, scheme: Scheme) -> None:
    # While there is one step the latest revision is that step; later steps fold their DDL in here.
    await create_v01(conn, scheme)
