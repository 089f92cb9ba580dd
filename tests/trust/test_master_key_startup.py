"""A master key is never replaced silently (both engines): a new one is made only for a database
without wrapped keys; a missing or different key on a database that has them refuses the start,
naming the key id the database expects — also as the real process prints it."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

from bridge.config import load_config
from bridge.devstack.bridge_config import write_bridge_config
from bridge.devstack.ports import free_port
from bridge.storage import open_database
from bridge.trust import ENV_VAR, MasterKey, MasterKeyError, UserId, Vault
from bridge.trust.startup import MasterKeyMismatch, MasterKeyMissing, load_master_key


async def test_a_new_key_only_for_an_empty_database(db_url, tmp_path):
    db = await open_database(db_url)
    try:
        path = tmp_path / "master.key"
        made = await load_master_key(db, path, environ={})
        assert path.exists() and (path.stat().st_mode & 0o777) == 0o600
        async with db.acquire() as conn:
            await Vault(made).boundary(conn, UserId("@alice:localhost"))
        assert (await load_master_key(db, path, environ={})).key_id == made.key_id

        path.unlink()
        with pytest.raises(MasterKeyMissing) as missing:
            await load_master_key(db, path, environ={})
        assert made.key_id in str(missing.value) and "trust.master_key_file" in str(missing.value)
        assert not path.exists(), "a new key file was written for a database that has keys"

        other = MasterKey.generate()
        path.write_text(other.to_text())
        path.chmod(0o600)
        with pytest.raises(MasterKeyMismatch) as mismatch:
            await load_master_key(db, path, environ={})
        assert made.key_id in str(mismatch.value) and other.key_id in str(mismatch.value)
        with pytest.raises(MasterKeyMismatch):
            await load_master_key(db, path, environ={ENV_VAR: other.to_text()})
        assert (await load_master_key(db, None, environ={ENV_VAR: made.to_text()})
                ).key_id == made.key_id
        with pytest.raises(MasterKeyError):
            await load_master_key(db, None, environ={})
    finally:
        await db.stop()


async def test_the_bridge_refuses_to_start_without_its_key(db_url, tmp_path):
    config_path, _ = write_bridge_config(
        tmp_path / "bridge", homeserver=f"http://127.0.0.1:{free_port()}", domain="localhost",
        port=free_port(), database=db_url)
    config = load_config(config_path, environ={})
    key_path = config.resolve_path("trust.master_key_file")
    db = await open_database(db_url)
    try:
        key = await load_master_key(db, key_path, environ={})
        async with db.acquire() as conn:
            await Vault(key).boundary(conn, UserId("@alice:localhost"))
    finally:
        await db.stop()
    key_path.unlink()
    env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bridge", "-c", str(config_path), cwd=config_path.parent, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    printed = stderr.decode()
    assert process.returncode == 1, printed
    assert key.key_id in printed and "Traceback" not in printed, printed
    assert not key_path.exists()
