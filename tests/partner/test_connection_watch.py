"""What a user is told about their gateway connection, and when (pure: times are given)."""

from __future__ import annotations

from bridge.gateway.errors import ErrorCode, ErrorInfo
from bridge.partner.connection_watch import ConnectionWatch, Status, stop_error_code


def watch() -> ConnectionWatch:
    return ConnectionWatch(delay=60, min_interval=900)


def test_a_short_drop_is_not_mentioned_and_a_long_one_once_then_connected_again():
    w = watch()
    first = w.opened(0)
    assert (first.status, first.notify) == (Status.CONNECTED, False)  # e.g. after a restart
    assert w.opened(1) is None
    assert w.lost(10, "") == 70
    assert w.lost(12, "503 unavailable") is None  # still the same outage
    assert w.opened(20) is None  # back within the delay: nothing at all
    assert w.check(70) is None  # the old deadline finds it connected

    assert w.lost(100, "503 unavailable") == 160
    assert w.check(159) is None
    lost = w.check(160)
    assert (lost.status, lost.notify, lost.error) == (Status.DISCONNECTED, True,
                                                      "gateway-unreachable")
    assert "(503 unavailable)" in lost.text
    assert w.check(161) is None and w.lost(170) is None  # announced once
    back = w.opened(200)
    assert (back.status, back.notify) == (Status.CONNECTED, True)
    assert "again" in back.text


def test_a_flapping_connection_is_announced_at_most_once_per_interval():
    w = watch()
    w.opened(0)
    w.lost(0)
    assert w.check(60).notify
    assert w.opened(61).notify
    w.lost(100)
    second = w.check(160)
    # Published for dashboards, but not posted again so soon; nor is the reconnect then.
    assert (second.status, second.notify) == (Status.DISCONNECTED, False)
    assert w.opened(170).notify is False
    w.lost(1000)
    assert w.check(1060).notify  # the interval has passed


def test_idle_close_is_not_an_outage_and_stops_need_a_person():
    w = watch()
    w.opened(0)
    w.lost(10)
    w.idle()  # closed on purpose before the delay
    assert w.check(70) is None
    stopped = w.stopped("credentials refused", "gateway-credentials-refused", removed=False)
    assert (stopped.status, stopped.notify, stopped.text) == (Status.STOPPED, True,
                                                              "credentials refused")
    assert w.lost(100) is None  # nothing more to add while stopped
    assert w.opened(200).notify  # "connected" after the stop notice


def test_opt_in_announces_connected_and_opt_out_is_quiet():
    w = watch()
    opted_in = w.opted_in()
    assert (opted_in.status, opted_in.notify) == (Status.CONNECTED, True)
    assert w.opened(1) is None  # already said
    opted_out = w.opted_out()
    assert (opted_out.status, opted_out.notify) == (Status.OPTED_OUT, False)


def test_stop_codes():
    assert stop_error_code(ErrorInfo(ErrorCode.NOT_AUTHORIZED, "not enlisted"),
                           removed=True) == "gateway-unenlisted"
    assert stop_error_code(ErrorInfo(ErrorCode.NOT_AUTHORIZED), removed=False) == \
        "gateway-credentials-refused"
    assert stop_error_code(ErrorInfo(ErrorCode.CONNECTION_REPLACED), removed=False) == \
        "gateway-connection-replaced"
    assert stop_error_code(ErrorInfo(ErrorCode.VERSION_UNSUPPORTED), removed=False) == \
        "gateway-version-unsupported"
    assert stop_error_code(ErrorInfo(ErrorCode.BAD_REQUEST), removed=False) == \
        "gateway-stopped-400"
