"""Blast-radius breaker: at most N quarantines in a rolling hour, in the state table.

One item per breaker (``id = breaker#quarantine`` for the quarantine responder,
``breaker#audit-actions`` for the audit remediator) holds the epoch seconds of the quarantines admitted in the
last window and, once tripped, ``trippedAt``. Writes are conditional on a version number, so that
concurrent invocations never admit more than the limit. A tripped breaker holds every quarantine
until the window has passed since it tripped (it resets by itself) or an operator resets it:

    python -m iot_defender_runtime.remediation.breaker status|reset [quarantine|audit-actions]   (STATE_TABLE_NAME set)
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from iot_defender_runtime.adapters.breaker_store import BreakerState, BreakerStore

BREAKER_ID = "breaker#quarantine"
AUDIT_BREAKER_ID = "breaker#audit-actions"
_BREAKERS = {"quarantine": BREAKER_ID, "audit-actions": AUDIT_BREAKER_ID}
WINDOW_SECONDS = 3600
_MAX_WRITE_ATTEMPTS = 8


@dataclass(frozen=True)
class Admission:
    admitted: bool
    newly_tripped: bool
    count_in_window: int


def admit(
    state: BreakerState, now: float, limit: int, window: float = WINDOW_SECONDS
) -> tuple[Admission, BreakerState]:
    """Pure rule: admit while fewer than ``limit`` quarantines fall in the window; the first refusal trips."""
    events = tuple(t for t in state.events if t > now - window)
    tripped_at = state.tripped_at if state.tripped_at is not None and now - state.tripped_at < window else None
    if tripped_at is None and len(events) < limit:
        return Admission(True, False, len(events) + 1), BreakerState((*events, now), None, state.version + 1)
    newly_tripped = tripped_at is None
    return (
        Admission(False, newly_tripped, len(events)),
        BreakerState(events, now if newly_tripped else tripped_at, state.version + 1),
    )


class ConcurrentUpdateError(RuntimeError):
    """The breaker item kept changing under us; the record is retried later."""


class QuarantineBreaker:
    def __init__(
        self,
        table_name: str,
        limit: int,
        *,
        dynamodb: Any | None = None,
        clock: Callable[[], float] = time.time,
        window_seconds: float = WINDOW_SECONDS,
        breaker_id: str = BREAKER_ID,
    ) -> None:
        self._store = BreakerStore(table_name, breaker_id, dynamodb)
        self._limit = limit
        self._clock = clock
        self._window = window_seconds

    def state(self) -> BreakerState:
        return self._store.read()

    def acquire(self) -> Admission:
        """Take one quarantine slot, or learn that the breaker holds quarantines."""
        for _ in range(_MAX_WRITE_ATTEMPTS):
            current = self._store.read()
            admission, updated = admit(current, self._clock(), self._limit, self._window)
            if self._store.write_if_version(current.version, updated):
                return admission
        raise ConcurrentUpdateError("the quarantine breaker changed on every attempt; retrying the record later")

    def reset(self) -> None:
        """Operator reset: forget the window and the trip."""
        self._store.delete()


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1] not in ("status", "reset"):
        print(
            "usage: python -m iot_defender_runtime.remediation.breaker status|reset  (STATE_TABLE_NAME set)",
            file=sys.stderr,
        )
        return 2
    table = os.environ.get("STATE_TABLE_NAME")
    if not table:
        print("STATE_TABLE_NAME is required: the state table of the quarantine responder", file=sys.stderr)
        return 2
    breaker = QuarantineBreaker(table, limit=0, breaker_id=_BREAKERS[argv[2] if len(argv) == 3 else "quarantine"])
    if argv[1] == "reset":
        breaker.reset()
        print("quarantine breaker reset: the window is empty and held quarantines are admitted again")
        return 0
    state = breaker.state()
    now = time.time()
    in_window = [t for t in state.events if t > now - WINDOW_SECONDS]
    tripped = state.tripped_at is not None and now - state.tripped_at < WINDOW_SECONDS
    print(f"quarantines in the last hour: {len(in_window)}; tripped: {'yes' if tripped else 'no'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
