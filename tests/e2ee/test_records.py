"""The bridge's own Matrix secrets at rest: cross-signing seeds sealed under the master key, and
an Olm pickle key that an upgrade keeps and a master key rotation does not change (both engines,
no homeserver)."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from mautrix.types import DeviceID, UserID

from bridge.matrix.e2ee.identity import CrossSigningSeeds
from bridge.matrix.e2ee.records import DeviceRecords, devices_scope
from bridge.storage import open_database
from bridge.trust import MasterKey, Vault, VaultError, WrongMasterKeyError, rotate_master_key

GHOST = UserID("@interop_abc:localhost")


async def test_seeds_are_sealed_and_bound_to_their_user(db_url):
    db = await open_database(db_url)
    try:
        records = DeviceRecords(db, devices_scope(Vault(MasterKey.generate())))
        await records.add(GHOST, DeviceID("IBGHOST"))
        seeds = CrossSigningSeeds.generate()
        await records.keep_seeds(GHOST, seeds)
        assert await records.seeds(GHOST) == seeds
        record = await records.get(GHOST)
        assert record is not None and record.master_key == seeds.signers().master_public
        raw = await db.fetchval("SELECT cross_signing FROM matrix_device WHERE user_id=$1",
                                GHOST)
        assert seeds.master not in bytes(raw) and seeds.self_signing not in bytes(raw)
        # A sealed value copied onto another user's row does not open.
        other = UserID("@interop_other:localhost")
        await records.add(other, DeviceID("IBOTHER"))
        await db.execute("UPDATE matrix_device SET cross_signing=$2 WHERE user_id=$1", other, raw)
        with pytest.raises(VaultError):
            await records.seeds(other)
        # A wrong master key is refused, not taken for missing keys.
        with pytest.raises(WrongMasterKeyError):
            await DeviceRecords(db, devices_scope(Vault(MasterKey.generate()))).seeds(GHOST)
    finally:
        await db.stop()


async def test_the_olm_pickle_key_survives_upgrade_and_rotation(db_url):
    db = await open_database(db_url)
    try:
        old, new = MasterKey.generate(), MasterKey.generate()
        upgraded = await DeviceRecords(db, devices_scope(Vault(old))).olm_pickle_key(
            old, has_olm_account=True)
        # What bridges before per-ghost devices pickled the bot's Olm account with.
        assert upgraded == hmac.new(old.secret, b"interop-bridge matrix bot olm pickle",
                                    hashlib.sha256).hexdigest()
        assert await DeviceRecords(db, devices_scope(Vault(old))).olm_pickle_key(
            old, has_olm_account=True) == upgraded
        await rotate_master_key(db, old, new)
        assert await DeviceRecords(db, devices_scope(Vault(new))).olm_pickle_key(
            new, has_olm_account=True) == upgraded
    finally:
        await db.stop()


async def test_a_fresh_installation_gets_a_random_pickle_key(db_url):
    db = await open_database(db_url)
    try:
        master = MasterKey.generate()
        key = await DeviceRecords(db, devices_scope(Vault(master))).olm_pickle_key(master,
                                                                   has_olm_account=False)
        assert len(key) == 64 and key != hmac.new(
            master.secret, b"interop-bridge matrix bot olm pickle", hashlib.sha256).hexdigest()
    finally:
        await db.stop()
