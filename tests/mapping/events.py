"""Matrix events as a homeserver would deliver them, parsed by mautrix."""

from __future__ import annotations

import itertools
from typing import Any

from mautrix.types import Event

from .fakes import USER_MXID

_counter = itertools.count(1)


def event(content: dict[str, Any], event_type: str = "m.room.message", **extra: Any) -> Any:
    return Event.deserialize({
        "type": event_type,
        "event_id": f"$event{next(_counter)}",
        "sender": str(USER_MXID),
        "room_id": "!portal:example.org",
        "origin_server_ts": 1_700_000_000_000,
        "content": content,
        **extra,
    })


def text(body: str, formatted_body: str | None = None, msgtype: str = "m.text",
         **extra: Any) -> Any:
    content: dict[str, Any] = {"msgtype": msgtype, "body": body, **extra}
    if formatted_body is not None:
        content["format"] = "org.matrix.custom.html"
        content["formatted_body"] = formatted_body
    return event(content)


def reply(body: str, to: str, **extra: Any) -> Any:
    return text(body, **{"m.relates_to": {"m.in_reply_to": {"event_id": to}}}, **extra)


def reaction(to: str, key: str) -> Any:
    return event(
        {"m.relates_to": {"rel_type": "m.annotation", "event_id": to, "key": key}},
        "m.reaction",
    )


def redaction(redacts: str) -> Any:
    # Room versions up to 10 put `redacts` at the top; 11 and later in the content.
    return event({"redacts": redacts}, "m.room.redaction", redacts=redacts)


def edit(target: str, new_content: dict[str, Any]) -> Any:
    return event({
        **new_content,
        "body": "* " + new_content.get("body", ""),
        "m.new_content": new_content,
        "m.relates_to": {"rel_type": "m.replace", "event_id": target},
    })
