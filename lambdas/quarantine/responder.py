"""Carries out a decision: breaker, record, registry changes, then the notification."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lambdas.quarantine.decision import Decision, decide
from lambdas.quarantine.release import NOTIFICATION_SOURCE, NoQuarantineRecordError, restore
from lambdas.shared.config import QuarantineConfig
from lambdas.shared.iot_registry import IotRegistry
from lambdas.shared.notifications import Notifier
from lambdas.shared.quarantine_breaker import QuarantineBreaker
from lambdas.shared.quarantine_records import QuarantineRecord, QuarantineRecords
from lambdas.shared.remediation_policy import RemediationAction
from lambdas.shared.things import ThingFacts
from lambdas.shared.violation import ViolationEvent

ACTIVE = "ACTIVE"
INACTIVE = "INACTIVE"


class QuarantineHeldError(RuntimeError):
    """The blast-radius breaker is open: the record is failed so that SQS keeps it for replay."""

    def __init__(self, message: str, *, newly_tripped: bool) -> None:
        super().__init__(message)
        self.newly_tripped = newly_tripped


@dataclass(frozen=True)
class Result:
    decision: Decision
    actions_taken: tuple[str, ...]
    dry_run: bool
    breaker_tripped: bool = False


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
        if decision.takes(RemediationAction.QUARANTINE):
            admission = self._breaker.acquire()
            if not admission.admitted:
                if admission.newly_tripped:
                    self._announce_trip(violation, admission.count_in_window)
                raise QuarantineHeldError(
                    f"quarantine of '{thing.name}' held: the breaker allows {self._config.max_quarantines_per_hour} "
                    "quarantines per rolling hour",
                    newly_tripped=admission.newly_tripped,
                )
        if decision.takes(RemediationAction.QUARANTINE) or decision.takes(RemediationAction.DEACTIVATE_CERTIFICATES):
            certificates = self._registry.certificates_of(thing.name)
            # Written before any change, so that a crash in between leaves a record a release can use;
            # the first record (the state before any action) wins.
            self._records.save_if_absent(
                QuarantineRecord(
                    thing_name=thing.name,
                    quarantine_group_name=group,
                    groups_before=thing.group_names,
                    violation_id=violation.violation_id,
                    security_profile_name=violation.security_profile_name,
                    behavior_name=violation.behavior.name,
                    quarantined_at=datetime.now(tz=UTC),
                    certificates_before=certificates,
                )
            )
            if decision.takes(RemediationAction.QUARANTINE):
                self._registry.add_thing_to_group(thing.name, group)
                taken.append(f"added to thing group {group}")
            if decision.takes(RemediationAction.DEACTIVATE_CERTIFICATES):
                for certificate_id, status in sorted(certificates.items()):
                    if status == ACTIVE:
                        self._registry.set_certificate_status(certificate_id, INACTIVE)
                        taken.append(f"deactivated certificate {certificate_id}")
        if decision.takes(RemediationAction.RELEASE):
            try:
                changes = restore(thing.name, group, self._registry, self._records)
            except NoQuarantineRecordError as error:
                taken.append(f"not released: {error}")
            else:
                taken.extend(changes or ["released: nothing needed restoring"])
        return taken

    def _announce_trip(self, violation: ViolationEvent, count: int) -> None:
        limit = self._config.max_quarantines_per_hour
        self._notifier.publish(
            "[ACTION NEEDED] Device Defender quarantine breaker tripped",
            {
                "source": NOTIFICATION_SOURCE,
                "breaker": {
                    "tripped": True,
                    "limit": limit,
                    "quarantinesInWindow": count,
                    "heldThing": violation.thing_name,
                    "what": (
                        f"{count} quarantines in the last hour reached the limit of {limit}; further quarantines "
                        "are held (their records return to the queue and then the dead-letter queue for "
                        "replay). The breaker resets an hour after tripping, or now with "
                        "'python -m lambdas.shared.quarantine_breaker reset'."
                    ),
                },
            },
        )


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
