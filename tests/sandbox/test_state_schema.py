"""The sandbox's own schema: fresh and step-by-step paths agree on SQLite and PostgreSQL."""

from __future__ import annotations

from bridge.sandbox.storage import create_sandbox_database
from bridge.sandbox.storage.state import StateStore
from bridge.sandbox.storage.upgrade import LATEST_VERSION, VERSION_TABLE
from tests.storage.test_schema import describe_schema


async def test_fresh_and_stepwise_schemas_match(db_url, db_url_factory):
    engine = "sqlite" if db_url.startswith("sqlite") else "postgres"
    fresh = create_sandbox_database(db_url)
    stepwise = create_sandbox_database(await db_url_factory(engine), fresh_shortcut=False)
    await fresh.start()
    await stepwise.start()
    try:
        for db in (fresh, stepwise):
            assert await db.fetchval(f"SELECT version FROM {VERSION_TABLE}") == LATEST_VERSION
        fresh_schema = await describe_schema(fresh)
        assert "table mailbox" in fresh_schema
        # Its own version table: the bridge's ``version`` table is never created here.
        assert "table version" not in fresh_schema
        assert fresh_schema == await describe_schema(stepwise)
    finally:
        await fresh.stop()
        await stepwise.stop()


async def test_counter_is_sequential(db_url):
    db = create_sandbox_database(db_url)
    await db.start()
    try:
        state = StateStore(db)
        assert [await state.next_counter("n") for _ in range(3)] == [1, 2, 3]
    finally:
        await db.stop()
