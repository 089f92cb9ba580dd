"""A throw-away bridge database for a benchmark: an SQLite file in a new temporary folder, or a
new PostgreSQL database on the local server that is dropped afterwards."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg

PG_SERVER = "postgres://postgres@127.0.0.1:5432"


@asynccontextmanager
async def scratch_database(engine: str, directory: Path) -> AsyncIterator[str]:
    """The database URL; ``directory`` holds the SQLite file."""
    if engine != "postgres":
        yield f"sqlite:{directory / 'bridge.db'}"
        return
    name = f"bridge_bench_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(f"{PG_SERVER}/postgres")
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield f"{PG_SERVER}/{name}"
    finally:
        conn = await asyncpg.connect(f"{PG_SERVER}/postgres")
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()
