"""The conformance driver's protocol: ids, errors, persistence in --db across processes."""

from __future__ import annotations

import base64
import stat

from .peers import python_peer


def test_replies_carry_ids_and_errors_do_not_stop_the_driver(tmp_path):
    peer = python_peer(tmp_path / "state.db")
    try:
        bundle = peer.create("alice", pre_keys=3, start=7, spk_id=9, registration_id=1234)
        assert bundle["registrationId"] == 1234 and bundle["deviceId"] == 1
        assert [k["keyId"] for k in bundle["preKeys"]] == [7, 8, 9]
        assert bundle["signedPreKey"]["keyId"] == 9
        assert all(len(base64.b64decode(k["publicKey"])) == 33
                   for k in bundle["preKeys"])
        reply = peer.call("encrypt", party="alice", peer="nobody", plaintext="aGk=")
        assert reply["ok"] is False and "NoSessionError" in reply["error"]
        reply = peer.call("decrypt", party="alice", peer="nobody", type="msg", body="AAAA")
        assert reply["ok"] is False
        assert peer.call("frobnicate")["ok"] is False
        assert peer.ok("bundle", party="alice")["bundle"] == bundle
    finally:
        peer.close()


def test_state_survives_a_new_process_on_the_same_database(tmp_path):
    db = tmp_path / "state.db"
    first = python_peer(db)
    try:
        bob = first.create("bob", pre_keys=2)
        first.create("alice", pre_keys=2)
        first.ok("process_bundle", party="alice", peer="bob", bundle=bob, preKeyId=2)
        kind, body = first.encrypt("alice", "bob", b"across processes")
    finally:
        first.close()
    key_file = tmp_path / "state.db.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    second = python_peer(db)
    try:
        assert second.decrypt("bob", "alice", kind, body) == b"across processes"
        remaining = [k["keyId"] for k in second.ok("bundle", party="bob")["bundle"]["preKeys"]]
        assert remaining == [1]
    finally:
        second.close()
    assert b"across processes" not in db.read_bytes()


def test_without_db_the_state_lives_in_a_temporary_directory():
    peer = python_peer(None)
    try:
        bundle = peer.create("alice", pre_keys=1)
        assert peer.ok("restart")["ok"]
        assert peer.ok("bundle", party="alice")["bundle"]["identityKey"] == bundle["identityKey"]
    finally:
        peer.close()
