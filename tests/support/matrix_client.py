"""The nio E2EE client the tests drive people with lives in the package (the scripted demo uses it
too); re-exported here for the tests, with what only tests need."""

from nio import AsyncClient, RoomKeyRequest, SyncResponse

from bridge.devstack.matrix_client import SYNC_FILTER, PersonClient

__all__ = ["SYNC_FILTER", "PersonClient", "share_requested_room_keys"]


def share_requested_room_keys(client: AsyncClient, response: SyncResponse) -> int:
    """Answer other users' requests for room keys this device created, when the requesting
    device belongs to a member of the room — as Element does (it re-shares a session with a
    device it was shared with). nio answers only its own user's devices, so tests that need a
    missed key to be recoverable call this after each sync. Returns how many were queued;
    ``send_to_device_messages`` sends them."""
    olm = client.olm
    own_key = olm.account.identity_keys["curve25519"]
    queued = 0
    for event in response.to_device_events:
        if not isinstance(event, RoomKeyRequest) or event.sender == client.user_id:
            continue
        room = client.rooms.get(event.room_id)
        if event.sender_key != own_key or room is None or event.sender not in room.users:
            continue
        group_session = olm.inbound_group_store.get(event.room_id, event.sender_key,
                                                    event.session_id)
        try:
            device = olm.device_store[event.sender][event.requesting_device_id]
        except KeyError:
            continue
        session = olm.session_store.get(device.curve25519)
        if group_session is None or session is None:
            continue
        olm.outgoing_to_device_messages.append(
            olm._encrypt_forwarding_key(event.room_id, group_session, session, device))
        queued += 1
    return queued
