"""Which changes of a user's gateway connection are worth telling them about (pure; time is
passed in).

A connection that drops and comes back within ``delay`` seconds is not mentioned at all; one that
stays down longer is announced once, and then "connected" again when it is back. At most one
"connection lost" notice per ``min_interval``, so a connection that keeps flapping does not fill
the management room (the status is still published each time, for dashboards). "Connected" is
announced only after a "lost" notice, or at opt-in. Stops that need a person (credentials, an
un-enlistment, …) are always announced at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ..gateway.errors import ErrorCode, ErrorInfo


class Status(str, Enum):
    CONNECTED = "connected"
    #: Down for longer than the delay; the bridge keeps reconnecting by itself.
    DISCONNECTED = "disconnected"
    #: Stopped until a person acts (credentials refused, version, connection replaced).
    STOPPED = "stopped"
    #: The gatekeeper removed the account (un-enlisted); the user must opt in again.
    REMOVED = "removed"
    #: The user turned third-party chats off.
    OPTED_OUT = "opted-out"


@dataclass(frozen=True)
class StatusChange:
    status: Status
    #: Post ``text`` to the user's management room (else only publish the status).
    notify: bool
    text: str
    #: A short stable code for dashboards (``None`` when all is well).
    error: str | None = None


CONNECTED_AT_OPT_IN = "🟢 Connected to the gatekeeper."
RECONNECTED = ("🟢 Connected to the gatekeeper again. Messages flow again, including what you "
               "sent meanwhile.")
DISCONNECTED = ("🔴 The connection to the gatekeeper is lost{cause}. The bridge keeps trying to "
                "reconnect; messages you send meanwhile are kept and go out once it is back.")
OPTED_OUT = "Third-party chats are turned off."


class ConnectionWatch:
    """One user's connection as far as notices and published status are concerned."""

    def __init__(self, *, delay: float, min_interval: float) -> None:
        self.delay = delay
        self.min_interval = min_interval
        self._reset()

    def _reset(self) -> None:
        #: The status last published (None: nothing yet, e.g. after a restart).
        self.published: Status | None = None
        #: When the current outage began (None while connected, idle or stopped).
        self.down_since: float | None = None
        self._down_cause = ""
        #: A "lost" or "stopped" notice was posted and no "connected" one since.
        self.announced_down = False
        self._last_lost_notice: float | None = None

    def opened(self, now: float) -> StatusChange | None:
        self.down_since = None
        self._down_cause = ""
        if self.published is Status.CONNECTED:
            return None
        notify, self.announced_down = self.announced_down, False
        self.published = Status.CONNECTED
        return StatusChange(Status.CONNECTED, notify, RECONNECTED)

    def lost(self, now: float, cause: str = "") -> float | None:
        """The connection failed or dropped and is being retried: when to :meth:`check`, or None
        when nothing more is to be said (already announced, or already waiting)."""
        if cause:
            self._down_cause = cause  # the latest reason is the one worth telling
        if self.published in (Status.DISCONNECTED, Status.STOPPED, Status.REMOVED):
            return None
        if self.down_since is None:
            self.down_since = now
            return now + self.delay
        return None

    def check(self, now: float) -> StatusChange | None:
        """The delay after a loss has passed: announce it if the connection is still down."""
        if self.down_since is None or now - self.down_since < self.delay:
            return None
        if self.published in (Status.DISCONNECTED, Status.STOPPED, Status.REMOVED):
            return None
        self.published = Status.DISCONNECTED
        notify = (self._last_lost_notice is None
                  or now - self._last_lost_notice >= self.min_interval)
        if notify:
            self._last_lost_notice = now
            self.announced_down = True
        cause = f" ({self._down_cause})" if self._down_cause else ""
        return StatusChange(Status.DISCONNECTED, notify, DISCONNECTED.format(cause=cause),
                            "gateway-unreachable")

    def idle(self) -> None:
        """Closed on purpose (idle, or the bridge stopping): no outage to announce."""
        self.down_since = None
        self._down_cause = ""

    def stopped(self, explanation: str, error: str, *, removed: bool) -> StatusChange:
        self.down_since = None
        self.announced_down = True
        self.published = Status.REMOVED if removed else Status.STOPPED
        return StatusChange(self.published, True, explanation, error)

    def opted_in(self) -> StatusChange:
        self._reset()
        self.published = Status.CONNECTED
        return StatusChange(Status.CONNECTED, True, CONNECTED_AT_OPT_IN)

    def opted_out(self) -> StatusChange:
        self.down_since = None
        self.announced_down = False
        self.published = Status.OPTED_OUT
        return StatusChange(Status.OPTED_OUT, False, OPTED_OUT)


def stop_error_code(error: ErrorInfo, *, removed: bool) -> str:
    """The dashboards' code for a connection the gateway stopped."""
    if removed:
        return "gateway-unenlisted"
    codes: dict[ErrorCode | int, str] = {
        ErrorCode.NOT_AUTHORIZED: "gateway-credentials-refused",
        ErrorCode.VERSION_UNSUPPORTED: "gateway-version-unsupported",
        ErrorCode.CONNECTION_REPLACED: "gateway-connection-replaced",
    }
    return codes.get(error.code, f"gateway-stopped-{int(error.code)}")
