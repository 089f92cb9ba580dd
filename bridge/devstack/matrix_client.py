"""A person's Matrix client for tests and the scripted demo: matrix-nio with end-to-end
encryption (vodozemac), an implementation independent of the bridge's mautrix/python-olm stack.
matrix-nio comes with the ``test`` extra, like the local Synapse the devstack runs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from nio import (
    AsyncClient,
    AsyncClientConfig,
    JoinedMembersResponse,
    LoginResponse,
    MegolmEvent,
    ReceiptEvent,
    RoomCreateResponse,
    RoomMessageNotice,
    RoomMessageText,
    RoomPreset,
    RoomSendResponse,
    TypingNoticeEvent,
)

from .synapse import LocalSynapse

# Bursts of messages must not be cut to the default timeline window of 10.
SYNC_FILTER = {"room": {"timeline": {"limit": 500}}}


class PersonClient:
    def __init__(self, client: AsyncClient) -> None:
        self.client = client
        self.timeline: dict[str, list] = {}
        self.ephemeral: dict[str, list] = {}
        client.add_event_callback(self._record, (RoomMessageText, RoomMessageNotice, MegolmEvent))
        client.add_ephemeral_callback(self._record_ephemeral, (ReceiptEvent, TypingNoticeEvent))

    @classmethod
    async def create(cls, synapse: LocalSynapse, localpart: str, store: Path) -> PersonClient:
        password = f"{localpart}-password"
        await synapse.register_user(localpart, password)
        return await cls.login(synapse, localpart, password, store)

    @classmethod
    async def login(cls, synapse: LocalSynapse, localpart: str, password: str,
                    store: Path) -> PersonClient:
        """A new device of an existing account (its keys kept in ``store``)."""
        store.mkdir(parents=True, exist_ok=True)
        client = AsyncClient(synapse.address, f"@{localpart}:{synapse.server_name}",
                             store_path=str(store),
                             config=AsyncClientConfig(encryption_enabled=True,
                                                      store_sync_tokens=True))
        login = await client.login(password, device_name=f"{localpart}'s test device")
        assert isinstance(login, LoginResponse), login
        person = cls(client)
        await person.sync()
        return person

    @property
    def user_id(self) -> str:
        return self.client.user_id

    async def _record(self, room, event) -> None:
        self.timeline.setdefault(room.room_id, []).append(event)

    async def _record_ephemeral(self, room, event) -> None:
        self.ephemeral.setdefault(room.room_id, []).append(event)

    async def wait_for_ephemeral(self, room_id: str, predicate: Callable[[object], bool],
                                 timeout: float = 30) -> object:
        deadline = time.monotonic() + timeout
        while True:
            for event in self.ephemeral.get(room_id, []):
                if predicate(event):
                    return event
            assert time.monotonic() < deadline, f"no matching ephemeral event in {room_id}"
            await self.sync()
            await asyncio.sleep(0.2)

    async def wait_for_raw(self, room_id: str, predicate: Callable[[dict], bool],
                           timeout: float = 30) -> dict:
        """An event as the server stores it (any type, e.g. send statuses), newest first."""
        deadline = time.monotonic() + timeout
        while True:
            response = await self.client.room_messages(room_id, limit=100)
            for event in getattr(response, "chunk", []):
                source = getattr(event, "source", {})
                if predicate(source):
                    return source
            assert time.monotonic() < deadline, f"no matching event in {room_id}"
            await asyncio.sleep(0.3)

    async def sync(self) -> None:
        await self.client.sync(timeout=0, sync_filter=SYNC_FILTER, full_state=False)
        if self.client.should_upload_keys:
            await self.client.keys_upload()
        if self.client.should_query_keys:
            await self.client.keys_query()
        if self.client.should_claim_keys:
            await self.client.keys_claim(self.client.get_users_for_key_claiming())
        await self.client.send_to_device_messages()

    async def create_dm(self, other: str, *, encrypted: bool = True, trusted: bool = False
                        ) -> str:
        """``trusted``: with the "trusted private chat" preset (as Element makes direct chats),
        which gives the invited party the creator's power level."""
        initial_state = [{"type": "m.room.encryption", "state_key": "",
                          "content": {"algorithm": "m.megolm.v1.aes-sha2"}}] if encrypted else []
        preset = RoomPreset.trusted_private_chat if trusted else RoomPreset.private_chat
        response = await self.client.room_create(is_direct=True, invite=[other],
                                                 initial_state=initial_state, preset=preset)
        assert isinstance(response, RoomCreateResponse), response
        return response.room_id

    async def wait_for_member(self, room_id: str, user_id: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            members = await self.client.joined_members(room_id)
            if isinstance(members, JoinedMembersResponse) and any(
                m.user_id == user_id for m in members.members
            ):
                await self.sync()
                return
            assert time.monotonic() < deadline, f"{user_id} did not join {room_id}"
            await asyncio.sleep(0.2)

    async def send_text(self, room_id: str, body: str) -> str:
        await self.sync()
        response = await self.client.room_send(
            room_id, "m.room.message", {"msgtype": "m.text", "body": body},
            ignore_unverified_devices=True,
        )
        assert isinstance(response, RoomSendResponse), response
        return response.event_id

    async def wait_for(self, room_id: str, predicate: Callable[[object], bool],
                       timeout: float = 30) -> object:
        deadline = time.monotonic() + timeout
        while True:
            for event in self.timeline.get(room_id, []):
                if predicate(event):
                    return event
            assert time.monotonic() < deadline, (
                f"no matching event in {room_id}: {self._timeline_summary(room_id)}")
            await self.sync()
            await asyncio.sleep(0.2)

    def _timeline_summary(self, room_id: str) -> list[str]:
        return [type(e).__name__ + ":" + getattr(e, "body", "?")
                for e in self.timeline.get(room_id, [])]

    async def close(self) -> None:
        await self.client.close()
