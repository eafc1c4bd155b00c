"""What to do about one violation: pure logic, no I/O, no environment.

Default policy (DESIGN.md, runtime contracts): every ``in-alarm`` moves the thing into the
quarantine group and notifies; ``alarm-cleared`` and ``alarm-invalidated`` notify only (release is
an operator's decision); certificates are left alone; things whose attribute ``quarantine_exempt``
is ``true`` are never touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from lambdas.shared.things import EXEMPT_ATTRIBUTE, ThingFacts
from lambdas.shared.violation import ViolationEvent, ViolationEventType


class Action(str, Enum):
    QUARANTINE = "quarantine"
    NOTIFY = "notify"


class Outcome(str, Enum):
    """Why the decision is what it is; every path has a name, including the unknown thing."""

    QUARANTINE = "quarantine"
    EXEMPT = "exempt"
    ALREADY_QUARANTINED = "already-quarantined"
    THING_NOT_FOUND = "thing-not-found"
    NOTIFY_ONLY_EVENT = "notify-only-event"


@dataclass(frozen=True)
class Decision:
    actions: tuple[Action, ...]
    outcome: Outcome
    reason: str

    @property
    def quarantines(self) -> bool:
        return Action.QUARANTINE in self.actions


def decide(violation: ViolationEvent, thing: ThingFacts, quarantine_group_name: str) -> Decision:
    """Apply the default remediation policy to one violation."""
    if not thing.exists:
        return Decision(
            (Action.NOTIFY,),
            Outcome.THING_NOT_FOUND,
            f"thing '{thing.name}' is not in the registry; nothing to quarantine",
        )
    if thing.is_exempt:
        return Decision(
            (Action.NOTIFY,),
            Outcome.EXEMPT,
            f"thing '{thing.name}' has attribute {EXEMPT_ATTRIBUTE}=true and is never acted on",
        )
    if violation.violation_event_type is not ViolationEventType.IN_ALARM:
        return Decision(
            (Action.NOTIFY,),
            Outcome.NOTIFY_ONLY_EVENT,
            f"'{violation.violation_event_type.value}' is notified only; release is an operator's decision",
        )
    if quarantine_group_name in thing.group_names:
        return Decision(
            (Action.NOTIFY,),
            Outcome.ALREADY_QUARANTINED,
            f"thing '{thing.name}' is already in quarantine group '{quarantine_group_name}'",
        )
    return Decision(
        (Action.QUARANTINE, Action.NOTIFY),
        Outcome.QUARANTINE,
        f"behavior '{violation.behavior.name}' of security profile '{violation.security_profile_name}' is in alarm",
    )
