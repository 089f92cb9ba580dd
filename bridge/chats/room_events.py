"""Events of portal rooms, as the Matrix router hands them over (its ``RoomEvents``)."""

from __future__ import annotations

from mautrix.types import EncryptedEvent, Event, RoomID, UserID

from ..matrix.portals import Portals
from ..metrics import BridgeMetrics
from .contact_signals import ContactSignalsFlow
from .to_gateway import ToGatewayFlow


class PortalRoomEvents:
    def __init__(self, *, portals: Portals, to_gateway: ToGatewayFlow,
                 signals: ContactSignalsFlow, metrics: BridgeMetrics) -> None:
        self.portals = portals
        self.to_gateway = to_gateway
        self.signals = signals
        self.metrics = metrics

    async def event(self, event: Event) -> bool:
        portal = await self.portals.by_room(event.room_id)
        if portal is None:
            return False
        # Every event of the owner goes to the flow: what cannot be mapped (a poll, say) is
        # refused there visibly, never dropped here.
        await self.to_gateway.handle(portal, event)
        return True

    async def undecryptable(self, event: EncryptedEvent) -> bool:
        self.metrics.decrypt_failures.labels("matrix").inc()
        portal = await self.portals.by_room(event.room_id)
        if portal is None:
            return False
        await self.to_gateway.undecryptable(portal, event)
        return True

    async def ephemeral(self, edu: dict[str, object]) -> None:
        room_id = edu.get("room_id")
        portal = await self.portals.by_room(RoomID(room_id)) if isinstance(room_id, str) else None
        if portal is None:
            return
        content = edu.get("content")
        if not isinstance(content, dict):
            content = {}
        if edu.get("type") == "m.receipt":
            await self.signals.matrix_receipt(portal, content)
        elif edu.get("type") == "m.typing":
            user_ids = content.get("user_ids")
            await self.signals.matrix_typing(
                portal, [UserID(u) for u in user_ids] if isinstance(user_ids, list) else [])
