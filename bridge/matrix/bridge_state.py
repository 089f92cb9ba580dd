"""Bridge state (``com.beeper.bridge_state``): each user's connection status for clients and
dashboards, in the shape mautrix bridges use (``mautrix.util.bridge_state.BridgeState``).

It is published three ways:

* as a state event ``com.beeper.bridge_state`` in the user's management room (when the bot may
  set state there, e.g. in a direct chat its creator made with the "trusted private chat"
  preset, as Element does);
* pushed to ``homeserver.status_endpoint`` when that is set (``POST``, ``Authorization: Bearer
  <as_token>``), as mautrix bridges push it;
* answered on ``POST /_matrix/app/com.beeper.bridge_state?user_id=…`` (authenticated with the
  ``hs_token``), where the homeserver's side asks for the current states.
"""

from __future__ import annotations

import logging

from aiohttp import web
from mautrix.appservice import AppService
from mautrix.errors import IntentError, MatrixError
from mautrix.types import EventType, UserID
from mautrix.util.bridge_state import BridgeState, BridgeStateEvent, GlobalBridgeState

from ..gateway.connection import ConnectionState
from ..partner.connection_watch import Status, StatusChange
from ..partner.service import PartnerService
from .portals.room_setup import PROTOCOL_ID
from .users import MatrixUsers

BRIDGE_STATE_EVENT = EventType.find("com.beeper.bridge_state", EventType.Class.STATE)
BRIDGE_STATE_PATH = "/_matrix/app/com.beeper.bridge_state"
#: One state event per bridge in a management room, keyed like the portals' ``m.bridge``.
STATE_KEY = f"net.interop-bridge://{PROTOCOL_ID}"
SOURCE = "interop-bridge"

_CREDENTIALS_ERRORS = frozenset({"gateway-unenlisted", "gateway-credentials-refused"})


def state_event_for(change: StatusChange) -> BridgeStateEvent:
    if change.status is Status.CONNECTED:
        return BridgeStateEvent.CONNECTED
    if change.status is Status.DISCONNECTED:
        return BridgeStateEvent.TRANSIENT_DISCONNECT
    if change.status is Status.OPTED_OUT:
        return BridgeStateEvent.LOGGED_OUT
    if change.error in _CREDENTIALS_ERRORS:
        return BridgeStateEvent.BAD_CREDENTIALS
    return BridgeStateEvent.UNKNOWN_ERROR


_FROM_CONNECTION = {
    ConnectionState.OPEN: BridgeStateEvent.CONNECTED,
    # Closed while idle: a push or the next message reopens it; nothing is wrong.
    ConnectionState.IDLE: BridgeStateEvent.CONNECTED,
    ConnectionState.CONNECTING: BridgeStateEvent.CONNECTING,
    ConnectionState.BACKING_OFF: BridgeStateEvent.CONNECTING,
    ConnectionState.STOPPED: BridgeStateEvent.UNKNOWN_ERROR,
}


class BridgeStates:
    """The latest state of each user, and where it goes."""

    def __init__(self, *, appservice: AppService, users: MatrixUsers, partners: PartnerService,
                 status_endpoint: str, as_token: str,
                 log: logging.Logger | None = None) -> None:
        self.appservice = appservice
        self.users = users
        self.partners = partners
        self.status_endpoint = status_endpoint
        self.as_token = as_token
        self.log = log or logging.getLogger("bridge.matrix.bridge_state")
        self.latest: dict[UserID, BridgeState] = {}

    async def publish(self, mxid: UserID, change: StatusChange) -> BridgeState | None:
        """Publish a user's new status; None when it repeats the last one (not sent again)."""
        account = await self.partners.accounts.get(mxid)
        state = BridgeState(
            state_event=state_event_for(change), user_id=mxid, source=SOURCE,
            remote_id=account.internal_id if account and account.internal_id else None,
            remote_name=account.user_visible_id if account else None,
            error=change.error, message=change.text,
        ).fill()
        if state.remote_id is None and mxid in self.latest:
            state.remote_id = self.latest[mxid].remote_id  # already wiped (opt-out)
        if state.should_deduplicate(self.latest.get(mxid)):
            return None
        self.latest[mxid] = state
        await self._to_management_room(mxid, state)
        if self.status_endpoint:
            await state.send(self.status_endpoint, self.as_token, self.log)
        self.log.debug("Bridge state of %s: %s %s", mxid, state.state_event.value,
                       state.error or "")
        return state

    async def _to_management_room(self, mxid: UserID, state: BridgeState) -> None:
        user = await self.users.get(mxid)
        if user is None or not user.management_room:
            return
        try:
            await self.appservice.intent.send_state_event(user.management_room, BRIDGE_STATE_EVENT,
                                            state.serialize(), state_key=STATE_KEY)
        except (IntentError, MatrixError) as e:
            # The room's creator decides whether the bot may set state; the push and the
            # bridge_state endpoint still carry it.
            self.log.info("Bridge state not set in the management room of %s: %s", mxid, e)

    async def current(self, mxid: UserID) -> list[BridgeState]:
        """The user's remote states now (for the bridge_state endpoint)."""
        latest = self.latest.get(mxid)
        if latest is not None:
            return [latest]
        account = await self.partners.accounts.get(mxid)
        client = self.partners.client(mxid)
        if account is None or not account.is_active or client is None:
            return []
        return [BridgeState(state_event=_FROM_CONNECTION[client.connection.state],
                            user_id=mxid, remote_id=account.internal_id, source=SOURCE,
                            remote_name=account.user_visible_id).fill()]

    async def handle_request(self, request: web.Request) -> web.Response:
        """``POST /_matrix/app/com.beeper.bridge_state?user_id=…`` (the listener has already
        checked the hs_token)."""
        mxid = request.query.get("user_id", "")
        if not mxid:
            return web.json_response({"error": "user_id is required"}, status=400)
        if await self.users.get(UserID(mxid)) is None and \
                await self.partners.accounts.get(UserID(mxid)) is None:
            return web.json_response({"error": "User not found"}, status=404)
        states = await self.current(UserID(mxid))
        answer = GlobalBridgeState(
            remote_states={s.remote_id: s for s in states if s.remote_id},
            bridge_state=BridgeState(state_event=BridgeStateEvent.RUNNING, user_id=UserID(mxid),
                                     source=SOURCE).fill())
        return web.json_response(answer.serialize())


def register_bridge_state_route(app: web.Application, states: BridgeStates) -> None:
    app.router.add_post(BRIDGE_STATE_PATH, states.handle_request)
