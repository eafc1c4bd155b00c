"""Blast-radius breaker: at most N actions in a rolling hour, in the state table.

One item per breaker (``id = breaker#quarantine`` for the quarantine responder,
``breaker#audit-actions`` for the audit remediator) holds the epoch seconds of the actions admitted in
the last window with the slot key of each (``keys``: a digest of the action and its subject, e.g. the
quarantine of one thing: ``remediation.actions.slot_key``), once tripped ``trippedAt``, and the
function's limit at its last admission (``limit``, so that operators see it next to the count). Writes
are conditional on a version number, so that concurrent invocations never admit more than the limit. A
tripped breaker holds every action until the window has passed since it tripped (it resets by itself)
or an operator resets it.

The breaker counts actions, not attempts: an admission with a key whose slot is already in the window
takes no other slot and is admitted even when the breaker has tripped since (that action was counted
within the limit). So a retry of a record that failed after its admission (throttled, or its
notification failed), and two violations of one thing handled at once, count one quarantine. A slot
whose action never happens (its record ends in the dead-letter queue) stays counted until it leaves
the window: the breaker errs on the side of holding.

    iot-defender breaker status|reset [quarantines|audit-actions]      (iot_defender_runtime.operator)
    python -m iot_defender_runtime.remediation.breaker status|reset [quarantines|audit-actions]
                                                                        (STATE_TABLE_NAME set)
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
QUARANTINES = "quarantines"
AUDIT_ACTIONS = "audit-actions"
BREAKER_IDS = {QUARANTINES: BREAKER_ID, AUDIT_ACTIONS: AUDIT_BREAKER_ID}
# What each function's environment calls its limit (the constructs' max_actions_per_hour).
LIMIT_VARIABLES = {QUARANTINES: "MAX_QUARANTINES_PER_HOUR", AUDIT_ACTIONS: "MAX_ACTIONS_PER_HOUR"}
_ALIASES = {"quarantine": QUARANTINES, QUARANTINES: QUARANTINES, "audit": AUDIT_ACTIONS, AUDIT_ACTIONS: AUDIT_ACTIONS}
WINDOW_SECONDS = 3600
_MAX_WRITE_ATTEMPTS = 8


@dataclass(frozen=True)
class Admission:
    admitted: bool
    newly_tripped: bool
    count_in_window: int


def admit(
    state: BreakerState, now: float, limit: int, window: float = WINDOW_SECONDS, key: str = ""
) -> tuple[Admission, BreakerState | None]:
    """Pure rule: a ``key`` (``remediation.actions.slot_key``) whose slot is in the window is admitted
    again without another slot (the state is unchanged: None); otherwise admit while fewer than ``limit``
    actions fall in the window; the first refusal trips. The updated state records ``limit``."""
    slots = [(t, k) for t, k in state.slots() if t > now - window]
    if key and any(k == key for _, k in slots):
        return Admission(True, False, len(slots)), None
    events, keys = tuple(t for t, _ in slots), tuple(k for _, k in slots)
    tripped_at = state.tripped_at if state.tripped_at is not None and now - state.tripped_at < window else None
    if tripped_at is None and len(events) < limit:
        admitted = BreakerState((*events, now), None, state.version + 1, limit, (*keys, key))
        return Admission(True, False, len(events) + 1), admitted
    newly_tripped = tripped_at is None
    return (
        Admission(False, newly_tripped, len(events)),
        BreakerState(events, now if newly_tripped else tripped_at, state.version + 1, limit, keys),
    )


@dataclass(frozen=True)
class BreakerStatus:
    """What an operator asks of a breaker, at ``now``."""

    name: str
    count_in_window: int
    limit: int | None  # None: nothing admitted since deployment or the last reset recorded it
    tripped_at: float | None  # None: not tripped (or its trip is older than the window)
    resets_at: float | None  # when a tripped breaker admits again by itself
    next_slot_at: float | None  # when the oldest action in the window leaves it (the count drops)
    window_seconds: float = WINDOW_SECONDS

    @property
    def tripped(self) -> bool:
        return self.tripped_at is not None


def status_of(name: str, state: BreakerState, now: float, window: float = WINDOW_SECONDS) -> BreakerStatus:
    """Pure: the count in the window, the limit recorded at the last admission, and when it resets."""
    events = sorted(t for t in state.events if t > now - window)
    tripped_at = state.tripped_at if state.tripped_at is not None and now - state.tripped_at < window else None
    return BreakerStatus(
        name=name,
        count_in_window=len(events),
        limit=state.limit,
        tripped_at=tripped_at,
        resets_at=tripped_at + window if tripped_at is not None else None,
        next_slot_at=events[0] + window if events else None,
        window_seconds=window,
    )


def breaker_name(text: str) -> str:
    """``quarantines`` (or ``quarantine``) or ``audit-actions`` (or ``audit``); ValueError otherwise."""
    try:
        return _ALIASES[text]
    except KeyError:
        raise ValueError(f"no breaker '{text}': one of {QUARANTINES}, {AUDIT_ACTIONS}") from None


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
        self.name = next((name for name, found in BREAKER_IDS.items() if found == breaker_id), breaker_id)
        self._limit = limit
        self._clock = clock
        self._window = window_seconds

    def state(self) -> BreakerState:
        return self._store.read()

    def acquire(self, key: str = "") -> Admission:
        """Take one slot, or reuse the one ``key`` (``remediation.actions.slot_key``) took in the window,
        or learn that the breaker holds actions. Without a key every call takes a slot."""
        for _ in range(_MAX_WRITE_ATTEMPTS):
            current = self._store.read()
            admission, updated = admit(current, self._clock(), self._limit, self._window, key)
            if updated is None or self._store.write_if_version(current.version, updated):
                return admission
        raise ConcurrentUpdateError("the breaker changed on every attempt; retrying the record later")

    def reset(self) -> BreakerState:
        """Operator reset: forget the window and the trip (the recorded limit stays); returns the state before."""
        for _ in range(_MAX_WRITE_ATTEMPTS):
            current = self._store.read()
            if current.version == 0:
                return current
            if self._store.write_if_version(
                current.version, BreakerState((), None, current.version + 1, current.limit)
            ):
                return current
        raise ConcurrentUpdateError("the breaker changed on every attempt; run the reset again")


def main(argv: list[str]) -> int:
    """``python -m iot_defender_runtime.remediation.breaker status|reset [quarantines|audit-actions]``
    (``argv[0]`` is the program); ``iot-defender breaker`` does the same with stack outputs and ``--json``."""
    usage = "usage: python -m iot_defender_runtime.remediation.breaker status|reset [quarantines|audit-actions]"
    if len(argv) not in (2, 3) or argv[1] not in ("status", "reset"):
        print(f"{usage}  (STATE_TABLE_NAME set)", file=sys.stderr)
        return 2
    try:
        name = breaker_name(argv[2]) if len(argv) == 3 else QUARANTINES
    except ValueError as error:
        print(f"{error}\n{usage}", file=sys.stderr)
        return 2
    table = os.environ.get("STATE_TABLE_NAME")
    if not table:
        print(
            "STATE_TABLE_NAME is required: the state table of the responder (stack output StateTableName)",
            file=sys.stderr,
        )
        return 2
    breaker = QuarantineBreaker(table, limit=0, breaker_id=BREAKER_IDS[name])
    if argv[1] == "reset":
        breaker.reset()
        print(f"{name} breaker reset: the window is empty and held actions are admitted again")
        return 0
    status = status_of(name, breaker.state(), time.time())
    limit = status.limit if status.limit is not None else f"not recorded yet (the function's {LIMIT_VARIABLES[name]})"
    tripped = "yes" if status.tripped else "no"
    print(f"{name} in the last hour: {status.count_in_window}; limit: {limit}; tripped: {tripped}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
