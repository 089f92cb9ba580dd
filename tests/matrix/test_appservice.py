"""The appservice listener: hs_token checks with the spec's error codes, and durable transactions
that are stored before the homeserver is answered (both database engines)."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from mautrix.appservice.state_store.asyncpg import PgASStateStore

from bridge.devstack.ports import free_port
from bridge.matrix.appservice import BridgeAppService
from bridge.matrix.inbox import MatrixInbox
from bridge.storage import open_database

HS_TOKEN = "hs-token-for-tests"


@pytest.fixture
async def listener(db_url):
    db = await open_database(db_url)
    handled = []

    async def handler(item):
        handled.append(item)

    inbox = MatrixInbox(db)
    await inbox.start(handler)
    appservice = BridgeAppService(
        inbox=inbox, server="http://127.0.0.1:1", domain="localhost", as_token="as",
        hs_token=HS_TOKEN, bot_localpart="bot", id="test", state_store=PgASStateStore(db),
    )
    port = free_port()
    await appservice.start("127.0.0.1", port)
    try:
        yield f"http://127.0.0.1:{port}", db, inbox, handled
    finally:
        await appservice.stop()
        await inbox.stop()
        await db.stop()


def txn_body(*events):
    return {"events": list(events)}


def message(room: str, n: int) -> dict:
    return {"type": "m.room.message", "room_id": room, "event_id": f"$e{n}",
            "sender": "@u:localhost", "content": {"msgtype": "m.text", "body": f"message {n}"},
            "origin_server_ts": n}


@pytest.mark.parametrize("path", [
    "/_matrix/app/v1/transactions/1", "/transactions/1", "/_matrix/app/v1/users/@x:localhost",
    "/_matrix/app/v1/rooms/%23a:localhost", "/_matrix/app/v1/ping",
])
async def test_requests_without_or_with_a_wrong_hs_token_are_refused(listener, path):
    url, db, _, _ = listener
    method = "PUT" if "transactions" in path else "POST" if "ping" in path else "GET"
    async with aiohttp.ClientSession() as http:
        async with http.request(method, url + path, json=txn_body()) as resp:
            assert resp.status == 401
            assert (await resp.json())["errcode"] == "M_UNAUTHORIZED"
        for headers, params in (({"Authorization": "Bearer wrong"}, {}),
                                ({}, {"access_token": HS_TOKEN[:-1]}),
                                ({"Authorization": f"Bearer {HS_TOKEN}x"}, {})):
            async with http.request(method, url + path, json=txn_body(), headers=headers,
                                    params=params) as resp:
                assert resp.status == 403
                assert (await resp.json())["errcode"] == "M_FORBIDDEN"
    assert await db.fetchval("SELECT COUNT(*) FROM appservice_txn") == 0


async def test_transaction_is_stored_before_it_is_acknowledged(listener):
    url, db, inbox, handled = listener
    body = txn_body(message("!a:localhost", 1), message("!b:localhost", 2)) | {
        "de.sorunome.msc2409.ephemeral": [{"type": "m.typing", "room_id": "!a:localhost",
                                           "content": {"user_ids": []}}]}
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {HS_TOKEN}"}) as http:
        async with http.put(f"{url}/_matrix/app/v1/transactions/t1", json=body) as resp:
            assert resp.status == 200
        # Legacy query-string token, same transaction again (a retry): acknowledged, not stored
        # twice.
        async with http.put(f"{url}/transactions/t1", params={"access_token": HS_TOKEN},
                            json=body) as resp:
            assert resp.status == 200
    assert await db.fetchval("SELECT COUNT(*) FROM appservice_txn") == 1
    await inbox.wait_idle()
    assert sorted((i.kind, i.event.get("event_id")) for i in handled) == [
        ("edu", None), ("pdu", "$e1"), ("pdu", "$e2")]
    assert await inbox.pending_count() == 0


async def test_malformed_transactions_are_refused_without_storing(listener):
    url, db, _, _ = listener
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {HS_TOKEN}"}) as http:
        async with http.put(f"{url}/_matrix/app/v1/transactions/t2", data=b"{not json") as resp:
            assert resp.status == 400
            assert (await resp.json())["errcode"] == "M_NOT_JSON"
        async with http.put(f"{url}/_matrix/app/v1/transactions/t3", json={"evts": []}) as resp:
            assert resp.status == 400
            assert (await resp.json())["errcode"] == "M_BAD_JSON"
    assert await db.fetchval("SELECT COUNT(*) FROM appservice_txn") == 0


async def test_storage_failure_is_not_acknowledged(listener):
    url, db, _, _ = listener
    await db.execute("DROP TABLE matrix_inbox")
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {HS_TOKEN}"}) as http,
        http.put(f"{url}/_matrix/app/v1/transactions/t4",
                 json=txn_body(message("!a:localhost", 1))) as resp,
    ):
        assert resp.status == 500
    # The transaction ID was rolled back with the events, so the homeserver's retry is stored.
    assert await db.fetchval("SELECT COUNT(*) FROM appservice_txn") == 0


async def test_liveness_probe_needs_no_token(listener):
    url, *_ = listener
    async with aiohttp.ClientSession() as http, http.get(f"{url}/_matrix/mau/live") as resp:
        assert resp.status == 200
    await asyncio.sleep(0)


async def test_the_bearer_scheme_is_case_insensitive(listener):
    url, db, _, _ = listener
    async with aiohttp.ClientSession() as http:
        for scheme in ("bearer", "BEARER"):
            async with http.put(f"{url}/_matrix/app/v1/transactions/case-{scheme}",
                                json=txn_body(), headers={
                                    "Authorization": f"{scheme} {HS_TOKEN}"}) as resp:
                assert resp.status == 200, await resp.text()
    assert await db.fetchval("SELECT COUNT(*) FROM appservice_txn") == 2
