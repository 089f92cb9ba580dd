"""A gateway's absurd ``retry-after`` must not become the reconnect delay (it once did: a
refusal with retry-after="inf" or "1e300" parked the connection for ever)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

from bridge.gateway.codec import Node
from bridge.gateway.errors import MAX_RETRY_AFTER, ErrorCode, ErrorInfo
from bridge.gateway.reconnect import RETRY_AFTER_LIMIT_FLOOR

from .fake_gateway import wait_for
from .support import make_connection


@dataclass(frozen=True, slots=True)
class RawRetryAfter(ErrorInfo):
    """An error whose retry-after goes on the wire exactly as written."""

    raw: str = ""

    def to_attrs(self) -> dict[str, str]:
        return {"code": str(int(self.code)), "text": self.text, "retry-after": self.raw}


@pytest.mark.parametrize("raw", ["inf", "1e300", "nan", "-5"])
async def test_a_refusal_with_an_absurd_retry_after_waits_a_bounded_time(
        gateway, http, raw: str) -> None:
    connection, _, _ = make_connection(gateway, http)  # backoff cap 0.2 s
    gateway.refusal = RawRetryAfter(ErrorCode.RATE_LIMITED, "slow down", raw=raw)
    connection.wake()
    await wait_for(lambda: connection.backoff_history != [])
    delay = connection.backoff_history[0]
    assert math.isfinite(delay) and 0 < delay <= RETRY_AFTER_LIMIT_FLOOR
    if raw in ("inf", "1e300"):
        assert delay == RETRY_AFTER_LIMIT_FLOOR  # "as long as we ever wait", not for ever
    await connection.close()


@pytest.mark.parametrize(("text", "expected"), [
    ("2.5", 2.5), ("-3", 0.0), ("inf", MAX_RETRY_AFTER), ("1e300", MAX_RETRY_AFTER),
    ("nan", None), ("soon", None)])
def test_retry_after_is_read_as_a_sane_number(text: str, expected: float | None) -> None:
    info = ErrorInfo.from_node(Node("error", {"code": "429", "retry-after": text}))
    assert info.retry_after == expected
