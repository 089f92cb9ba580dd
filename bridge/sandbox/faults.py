"""Faults the sandbox can be told to produce, so partners can test their reactions (protocol §13).

* ``unavailable``: enlistment answers ``503 unavailable`` and admission ``503`` (both with a
  retry-after), as a gatekeeper under maintenance would.
* admission rate: more than ``max_admissions`` connections of one login within ``window``
  seconds are refused with ``429`` and a retry-after (always on; generous by default).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class Faults:
    unavailable: bool = False
    retry_after: float = 5.0
    max_admissions: int = 30
    window: float = 60.0
    _admissions: dict[str, deque] = field(default_factory=dict)

    def admission_retry_after(self, login: str, now: float) -> float | None:
        """None if this login may be admitted now; else seconds until it may try again."""
        recent = self._admissions.setdefault(login, deque())
        while recent and now - recent[0] >= self.window:
            recent.popleft()
        if len(recent) >= self.max_admissions:
            return self.window - (now - recent[0])
        recent.append(now)
        return None

    def to_json(self) -> dict:
        return {"unavailable": self.unavailable, "retry_after": self.retry_after,
                "max_admissions": self.max_admissions, "window": self.window}
