"""Carries out a decision: record first, then change the registry, then notify."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lambdas.quarantine.decision import Decision, decide
from lambdas.shared.config import QuarantineConfig
from lambdas.shared.iot_registry import IotRegistry
from lambdas.shared.notifications import Notifier
from lambdas.shared.quarantine_records import QuarantineRecord, QuarantineRecords
from lambdas.shared.violation import ViolationEvent

NOTIFICATION_SOURCE = "iot-device-defender-constructs/quarantine"


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
    ) -> None:
        self._config = config
        self._registry = registry
        self._notifier = notifier
        self._records = records

    def handle(self, violation: ViolationEvent) -> Result:
        thing = self._registry.thing_facts(violation.thing_name)
        decision = decide(violation, thing, self._config.quarantine_group_name)
        taken: list[str] = []
        if decision.quarantines and not self._config.dry_run:
            # The record is written before the change so that a crash in between leaves a
            # record a release can still use; the first record (the pre-quarantine state) wins.
            self._records.save_if_absent(
                QuarantineRecord(
                    thing_name=thing.name,
                    quarantine_group_name=self._config.quarantine_group_name,
                    groups_before=thing.group_names,
                    violation_id=violation.violation_id,
                    security_profile_name=violation.security_profile_name,
                    behavior_name=violation.behavior.name,
                    quarantined_at=datetime.now(tz=UTC),
                )
            )
            self._registry.add_thing_to_group(thing.name, self._config.quarantine_group_name)
            taken.append(f"added to thing group {self._config.quarantine_group_name}")
        result = Result(decision=decision, actions_taken=tuple(taken), dry_run=self._config.dry_run)
        self._notifier.publish(_subject(violation, result), notification(violation, result))
        return result


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
            "actions": [action.value for action in result.decision.actions],
            "reason": result.decision.reason,
        },
        "actionsTaken": list(result.actions_taken),
        "dryRun": result.dry_run,
    }
