"""The per-user trust boundary: sealing, binding to user/purpose/record, master key handling."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.signal.party import SignalParty
from bridge.signal.store import SqlSignalStores
from bridge.storage import open_database
from bridge.trust import (
    ENV_VAR,
    MasterKey,
    MasterKeyError,
    Vault,
    VaultError,
    WrongMasterKeyError,
    rotate_master_key,
)
from bridge.trust.vault import unwrap_data_key

from ..signal.helpers import start_session

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def db(db_url):
    database = await open_database(db_url)
    try:
        yield database
    finally:
        await database.stop()


async def test_seal_and_open_are_bound_to_user_purpose_and_name(db):
    vault = Vault(MasterKey.generate())
    async with db.acquire() as conn, conn.transaction():
        alice = await vault.boundary(conn, "@alice:x")
        bob = await vault.boundary(conn, "@bob:x")
    sealed = alice.seal("signal.session", "peer-1", b"state")
    assert b"state" not in sealed
    assert alice.open("signal.session", "peer-1", sealed) == b"state"
    with pytest.raises(VaultError):
        bob.open("signal.session", "peer-1", sealed)
    with pytest.raises(VaultError):
        alice.open("signal.pre-key", "peer-1", sealed)
    with pytest.raises(VaultError):
        alice.open("signal.session", "peer-2", sealed)
    tampered = sealed[:-1] + bytes((sealed[-1] ^ 1,))
    with pytest.raises(VaultError):
        alice.open("signal.session", "peer-1", tampered)


async def test_a_session_row_copied_to_another_user_does_not_open(db):
    vault = Vault(MasterKey.generate())
    stores = SqlSignalStores(vault)
    alice = SignalParty(stores.for_user("@alice:x"))
    bob = SignalParty(stores.for_user("@bob:x"))
    mallory = SignalParty(stores.for_user("@mallory:x"))
    await start_session(db, alice, bob)
    async with db.acquire() as conn, conn.transaction():
        await mallory.ensure_identity(conn, pre_key_count=1)
    sealed = await db.fetchval(
        "SELECT sealed FROM signal_session WHERE user_id='@alice:x' AND peer='bob'")
    await db.execute(
        "INSERT INTO signal_session (user_id, peer, sealed, updated_at) VALUES ($1, $2, $3, 0)",
        "@mallory:x", "bob", sealed)
    async with db.acquire() as conn:
        with pytest.raises(VaultError):
            await mallory.store.load_session(conn, "bob")
        assert await alice.store.load_session(conn, "bob") is not None
    # an identity row moved between users does not open either
    alice_identity = await db.fetchval(
        "SELECT sealed FROM signal_identity WHERE user_id='@alice:x'")
    await db.execute("UPDATE signal_identity SET sealed=$1 WHERE user_id='@mallory:x'",
                     alice_identity)
    async with db.acquire() as conn:
        with pytest.raises(VaultError):
            await mallory.store.load_identity(conn)


async def test_nothing_secret_is_stored_in_the_clear(db):
    master = MasterKey.generate()
    vault = Vault(master)
    stores = SqlSignalStores(vault)
    alice = SignalParty(stores.for_user("@alice:x"))
    bob = SignalParty(stores.for_user("@bob:x"))
    await start_session(db, alice, bob)
    async with db.acquire() as conn:
        identity, _ = await alice.store.load_identity(conn)
        pre_keys = await bob.store.load_pre_keys(conn)
        wrapped = await conn.fetchval(
            "SELECT wrapped_key FROM trust_user_key WHERE user_id='@alice:x'")
    data_key = unwrap_data_key(master, "@alice:x", wrapped)
    secrets = [identity.identity.private, data_key, master.secret] + [
        k.key_pair.private for k in pre_keys]
    for table in ("trust_user_key", "signal_identity", "signal_pre_key", "signal_signed_pre_key",
                  "signal_session"):
        for row in await db.fetch(f"SELECT * FROM {table}"):
            for value in row.values() if hasattr(row, "values") else tuple(row):
                if isinstance(value, (bytes, bytearray, memoryview)):
                    raw = bytes(value)
                    for secret in secrets:
                        assert secret not in raw, f"a secret is in the clear in {table}"


async def test_forget_user_crypto_shreds_their_records(db):
    vault = Vault(MasterKey.generate())
    async with db.acquire() as conn, conn.transaction():
        boundary = await vault.boundary(conn, "@gone:x")
    sealed = boundary.seal("signal.identity", "", b"secret")
    async with db.acquire() as conn, conn.transaction():
        await vault.forget_user(conn, "@gone:x")
    assert await db.fetchval("SELECT COUNT(*) FROM trust_user_key WHERE user_id='@gone:x'") == 0
    async with db.acquire() as conn, conn.transaction():
        fresh = await vault.boundary(conn, "@gone:x")
    with pytest.raises(VaultError):
        fresh.open("signal.identity", "", sealed)


async def test_rotation_rewraps_every_data_key(db):
    old, new = MasterKey.generate(), MasterKey.generate()
    vault = Vault(old)
    sealed = {}
    async with db.acquire() as conn, conn.transaction():
        for user in ("@a:x", "@b:x", "@c:x"):
            sealed[user] = (await vault.boundary(conn, user)).seal("p", "n", user.encode())
    assert await rotate_master_key(db, old, new) == 3
    assert await rotate_master_key(db, old, new) == 0  # rerunnable
    async with db.acquire() as conn:
        with pytest.raises(WrongMasterKeyError):
            await Vault(old).boundary(conn, "@a:x")
        rotated = Vault(new)
        for user, value in sealed.items():
            assert (await rotated.boundary(conn, user)).open("p", "n", value) == user.encode()
    with pytest.raises(WrongMasterKeyError):
        await rotate_master_key(db, MasterKey.generate(), MasterKey.generate())


def test_key_file_is_created_0600_and_reloaded(tmp_path):
    path = tmp_path / "keys" / "master.key"
    key = MasterKey.load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert MasterKey.load_or_create(path).key_id == key.key_id
    assert key.secret.hex() not in repr(key)
    os.chmod(path, 0o644)
    with pytest.raises(MasterKeyError, match="chmod 600"):
        MasterKey.load(path)


def test_master_key_from_environment():
    key = MasterKey.generate()
    assert MasterKey.from_env({ENV_VAR: key.to_text()}).key_id == key.key_id
    with pytest.raises(MasterKeyError):
        MasterKey.from_env({ENV_VAR: "not base64!"})
    with pytest.raises(MasterKeyError):
        MasterKey.from_env({})


async def test_rotation_command_line(tmp_path):
    db_path = tmp_path / "bridge.db"
    old_path, new_path = tmp_path / "old.key", tmp_path / "new.key"
    old = MasterKey.load_or_create(old_path)
    db = await open_database(f"sqlite:{db_path}")
    try:
        async with db.acquire() as conn, conn.transaction():
            sealed = (await Vault(old).boundary(conn, "@u:x")).seal("p", "n", b"kept")
    finally:
        await db.stop()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-m", "bridge.trust", "rotate", "--db", f"sqlite:{db_path}",
         "--old-key-file", str(old_path), "--new-key-file", str(new_path)],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert "re-wrapped 1 data keys" in out.stdout
    assert stat.S_IMODE(new_path.stat().st_mode) == 0o600
    db = await open_database(f"sqlite:{db_path}")
    try:
        async with db.acquire() as conn:
            boundary = await Vault(MasterKey.load(new_path)).boundary(conn, "@u:x")
            assert boundary.open("p", "n", sealed) == b"kept"
    finally:
        await db.stop()
