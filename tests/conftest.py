"""Fixtures shared by the whole suite: database engines (SQLite and a real PostgreSQL)."""

from __future__ import annotations

import os
import secrets

import asyncpg
import pytest

PG_ADMIN_URL = os.environ.get("BRIDGE_TEST_PG", "postgres://postgres@127.0.0.1:5432/postgres")


async def _create_pg_database() -> str:
    name = f"bridge_test_{secrets.token_hex(6)}"
    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name


async def _drop_pg_database(name: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def _pg_url(name: str) -> str:
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{name}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db_url(request, tmp_path):
    """A fresh, empty database on each engine: an SQLite file, then a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:{tmp_path / 'bridge.db'}"
        return
    name = await _create_pg_database()
    try:
        yield _pg_url(name)
    finally:
        await _drop_pg_database(name)


@pytest.fixture
async def db_url_factory(tmp_path):
    """Make more databases inside one test: ``await make("sqlite" | "postgres")``."""
    created: list[str] = []

    async def make(engine: str) -> str:
        if engine == "sqlite":
            return f"sqlite:{tmp_path / f'extra-{secrets.token_hex(4)}.db'}"
        name = await _create_pg_database()
        created.append(name)
        return _pg_url(name)

    yield make
    for name in created:
        await _drop_pg_database(name)
