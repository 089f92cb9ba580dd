"""Schema upgrades: the fresh path and the step-by-step path must agree, on both engines."""

from __future__ import annotations

import pytest
from mautrix.util.async_db import Database, Scheme

from bridge.storage import DatabaseTooNew, create_database, open_database
from bridge.storage.upgrade import LATEST_VERSION


async def describe_schema(db: Database) -> dict[str, object]:
    """Tables, columns (type, nullability, default, primary key) and indexes, engine-neutral."""
    schema: dict[str, object] = {}
    if db.scheme == Scheme.SQLITE:
        tables = await db.fetch(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
        )
        for (table,) in tables:
            cols = await db.fetch(f"PRAGMA table_info('{table}')")
            schema[f"table {table}"] = sorted(
                (c["name"], c["type"].upper(), bool(c["notnull"]), c["dflt_value"], c["pk"])
                for c in cols
            )
            for idx in await db.fetch(f"PRAGMA index_list('{table}')"):
                info = await db.fetch(f"PRAGMA index_info('{idx['name']}')")
                schema[f"index {table}.{idx['name']}"] = (
                    bool(idx["unique"]), [i["name"] for i in info]
                )
    else:
        cols = await db.fetch(
            """SELECT table_name, column_name, data_type, is_nullable, column_default,
                      is_identity
               FROM information_schema.columns WHERE table_schema='public'"""
        )
        for c in cols:
            schema.setdefault(f"table {c['table_name']}", []).append(
                (c["column_name"], c["data_type"], c["is_nullable"], c["column_default"],
                 c["is_identity"])
            )
        for key in list(schema):
            schema[key] = sorted(schema[key])
        for idx in await db.fetch(
            "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname='public'"
        ):
            schema[f"index {idx['tablename']}.{idx['indexname']}"] = idx["indexdef"]
        for con in await db.fetch(
            """SELECT conrelid::regclass::text AS tbl, conname, pg_get_constraintdef(oid) AS def
               FROM pg_constraint WHERE connamespace = 'public'::regnamespace"""
        ):
            schema[f"constraint {con['tbl']}.{con['conname']}"] = con["def"]
    return schema


async def test_fresh_and_stepwise_schemas_match(db_url, db_url_factory):
    engine = "sqlite" if db_url.startswith("sqlite") else "postgres"
    fresh = await open_database(db_url)
    stepwise = create_database(await db_url_factory(engine), fresh_shortcut=False)
    await stepwise.start()
    try:
        assert await fresh.fetchval("SELECT version FROM version") == LATEST_VERSION
        assert await stepwise.fetchval("SELECT version FROM version") == LATEST_VERSION
        fresh_schema = await describe_schema(fresh)
        assert "table matrix_inbox" in fresh_schema
        assert fresh_schema == await describe_schema(stepwise)
    finally:
        await fresh.stop()
        await stepwise.stop()


async def test_reopening_an_up_to_date_database_keeps_data(db_url):
    db = await open_database(db_url)
    await db.execute("INSERT INTO bridge_state (key, value) VALUES ('k', 'v')")
    await db.stop()
    db = await open_database(db_url)
    try:
        assert await db.fetchval("SELECT value FROM bridge_state WHERE key='k'") == "v"
    finally:
        await db.stop()


async def test_database_newer_than_code_is_refused(db_url):
    db = await open_database(db_url)
    await db.execute("UPDATE version SET version=$1", LATEST_VERSION + 5)
    await db.stop()
    with pytest.raises(DatabaseTooNew, match=r"newer version of interop-bridge.*downgrading"):
        await open_database(db_url)
