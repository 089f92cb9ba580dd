"""The error the mapping raises for Matrix events it cannot send to the gateway."""

from __future__ import annotations


class Unmappable(ValueError):
    """A Matrix event that cannot become gateway content.

    `reason` is a sentence for people, safe to put in a notice to the sender:
    it names the problem ("polls are not supported"), never message content
    or key material. The core answers it with an ``m.notice``; nothing is
    dropped silently.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TooLargeToSend(Unmappable):
    """A file over the gateway's limit for its kind; the reason names its size and the limit.

    Its own class so that the send status can say "too large" rather than "unsupported".
    """
