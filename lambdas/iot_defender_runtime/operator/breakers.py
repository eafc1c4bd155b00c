"""``breaker status|reset``: both blast-radius breakers, their count in the rolling hour, the limit
the function recorded at its last admission, and when they reset."""

from __future__ import annotations

import argparse
import time
from typing import Any

from iot_defender_runtime.operator.results import Result, UsageError, iso
from iot_defender_runtime.operator.where import Where
from iot_defender_runtime.remediation.breaker import (
    BREAKER_IDS,
    LIMIT_VARIABLES,
    BreakerStatus,
    QuarantineBreaker,
    breaker_name,
    status_of,
)


def status(arguments: argparse.Namespace, where: Where) -> Result:
    """One breaker, or both when none is named."""
    [table] = where.need("table", purpose="breaker status")
    names = [_name(arguments.breaker)] if arguments.breaker else list(BREAKER_IDS)
    now = time.time()
    statuses = [
        status_of(name, QuarantineBreaker(table, 0, breaker_id=BREAKER_IDS[name]).state(), now) for name in names
    ]
    return Result({"breakers": [_data(s) for s in statuses]}, "\n".join(_text(s) for s in statuses))


def reset(arguments: argparse.Namespace, where: Where) -> Result:
    """Empty the window and clear the trip of the named breaker; held actions are admitted on replay."""
    if not arguments.breaker:
        raise UsageError("say which breaker to reset: quarantines or audit-actions")
    name = _name(arguments.breaker)
    [table] = where.need("table", purpose="breaker reset")
    before = status_of(name, QuarantineBreaker(table, 0, breaker_id=BREAKER_IDS[name]).reset(), time.time())
    text = (
        f"{name} breaker reset (it had {before.count_in_window} in the last hour, "
        f"{'tripped' if before.tripped else 'not tripped'}): the window is empty and held actions are admitted "
        "again; replay them with an SQS redrive from the dead-letter queue"
    )
    return Result({"reset": name, "before": _data(before)}, text)


def _name(text: str) -> str:
    try:
        return breaker_name(text)
    except ValueError as error:
        raise UsageError(str(error)) from error


def _data(status: BreakerStatus) -> dict[str, Any]:
    return {
        "name": status.name,
        "id": BREAKER_IDS[status.name],
        "countInWindow": status.count_in_window,
        "limit": status.limit,
        "windowSeconds": status.window_seconds,
        "tripped": status.tripped,
        "trippedAt": iso(status.tripped_at),
        "resetsAt": iso(status.resets_at),
        "nextSlotAt": iso(status.next_slot_at),
    }


def _text(status: BreakerStatus) -> str:
    limit = (
        f"limit {status.limit}"
        if status.limit is not None
        else f"limit not recorded yet (nothing admitted since deployment or a reset; {LIMIT_VARIABLES[status.name]})"
    )
    head = f"{status.name}: {status.count_in_window} in the last hour, {limit}"
    if status.tripped:
        return (
            f"{head}; TRIPPED at {iso(status.tripped_at)}: holds every action until {iso(status.resets_at)} "
            f"(or: iot-defender breaker reset {status.name})"
        )
    if status.next_slot_at is not None:
        return f"{head}; not tripped; the oldest leaves the window at {iso(status.next_slot_at)}"
    return f"{head}; not tripped"
