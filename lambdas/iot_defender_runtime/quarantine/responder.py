"""Carries out a decision: breaker, record, registry changes, then the notification."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from iot_defender_runtime.adapters.iot_registry import IotRegistry
from iot_defender_runtime.adapters.quarantine_records import QuarantineRecords
from iot_defender_runtime.adapters.sns_notifier import Notifier
from iot_defender_runtime.model.remediation_policy import RemediationAction
from iot_defender_runtime.model.things import ThingFacts
from iot_defender_runtime.model.violation import ViolationEvent
from iot_defender_runtime.quarantine.decision import Decision, decide
from iot_defender_runtime.quarantine.release import NoQuarantineRecordError, restore
from iot_defender_runtime.remediation.actions import (
    NOTIFICATION_SOURCE,
    QuarantineHeldError,
    admit_or_hold,
    deactivate_active,
    record_state,
)
from iot_defender_runtime.remediation.breaker import QuarantineBreaker
from iot_defender_runtime.remediation.config import QuarantineConfig

__all__ = ["QuarantineHeldError", "QuarantineResponder", "Result", "notification"]


@dataclass(frozen=True)
class Result:
    decision: Decision
    actions_taken: tuple[str, ...]
    dry_run: bool


class QuarantineResponder:
    def __init__(
        self,
        config: QuarantineConfig,
        registry: IotRegistry,
        notifier: Notifier,
        records: QuarantineRecords,
        breaker: QuarantineBreaker,
    ) -> None:
        self._config = config
        self._registry = registry
        self._notifier = notifier
        self._records = records
        self._breaker = breaker

    def handle(self, violation: ViolationEvent) -> Result:
        thing = self._registry.thing_facts(violation.thing_name)
        decision = decide(violation, thing, self._config.policy, self._config.quarantine_group_name)
        taken: list[str] = []
        if not self._config.dry_run:
            taken = self._act(violation, thing, decision)
            if taken:
                self._records.log_action(
                    thing_name=thing.name,
                    what=taken,
                    why=decision.reason,
                    violation_id=violation.violation_id,
                    event_type=violation.violation_event_type.value,
                    by=f"rule {decision.rule}",
                )
        result = Result(decision=decision, actions_taken=tuple(taken), dry_run=self._config.dry_run)
        if decision.takes(RemediationAction.NOTIFY):
            self._notifier.publish(_subject(violation, result), notification(violation, result))
        return result

    def _act(self, violation: ViolationEvent, thing: ThingFacts, decision: Decision) -> list[str]:
        taken: list[str] = []
        group = self._config.quarantine_group_name
        quarantine = decision.takes(RemediationAction.QUARANTINE)
        deactivate = decision.takes(RemediationAction.DEACTIVATE_CERTIFICATES)
        if quarantine:
            admit_or_hold(
                self._breaker,
                self._notifier,
                limit=self._config.max_quarantines_per_hour,
                held=thing.name,
                what="quarantine",
            )
        if quarantine or deactivate:
            certificates = record_state(
                self._records,
                self._registry,
                thing,
                quarantine_group_name=group,
                cause_id=violation.violation_id,
                source_name=violation.security_profile_name,
                detail_name=violation.behavior.name,
            )
            if quarantine:
                self._registry.add_thing_to_group(thing.name, group)
                taken.append(f"added to thing group {group}")
            if deactivate:
                taken.extend(deactivate_active(self._registry, certificates))
        if decision.takes(RemediationAction.RELEASE):
            try:
                changes = restore(thing.name, group, self._registry, self._records)
            except NoQuarantineRecordError as error:
                taken.append(f"not released: {error}")
            else:
                taken.extend(changes or ["released: nothing needed restoring"])
        return taken


def _subject(violation: ViolationEvent, result: Result) -> str:
    prefix = "[DRY RUN] " if result.dry_run else ""
    return (
        f"{prefix}Device Defender {violation.violation_event_type.value}: {violation.thing_name} "
        f"({result.decision.outcome.value})"
    )


def notification(violation: ViolationEvent, result: Result) -> dict[str, Any]:
    """The structured message operators receive: thing, violation, decision, actions, dry-run flag."""
    return {
        "source": NOTIFICATION_SOURCE,
        "thingName": violation.thing_name,
        "violation": violation.model_dump(mode="json", by_alias=True, exclude_none=True),
        "decision": {
            "outcome": result.decision.outcome.value,
            "rule": result.decision.rule,
            "actions": [action.value for action in result.decision.actions],
            "reason": result.decision.reason,
        },
        "actionsTaken": list(result.actions_taken),
        "dryRun": result.dry_run,
    }
