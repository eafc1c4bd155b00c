"""Carries out a decision: breaker, record, registry changes, then the notification.

IoT calls per violation event (the handler's idempotency comes first, so an event already handled,
the same ``violationId`` and ``violationEventType``, makes none):

- a newly quarantined thing, at most 3: ``DescribeThing`` (does it exist, is it exempt by attribute),
  ``ListThingGroupsForThing`` (exempt groups, already quarantined, the groups its record keeps for a
  release) and ``AddThingToThingGroup``. Its certificates are not read: this change leaves them alone,
  so a release has no certificate state to restore;
- with ``deactivate-certificates`` also ``ListThingPrincipals``, one ``DescribeCertificate`` per
  certificate (their states are recorded before the change, so a release can restore them) and one
  ``UpdateCertificate`` per active certificate;
- a thing already quarantined, exempt or unknown: the two reads (one if unknown), no change;
- a rule that only notifies, or no matching rule: none (the thing's facts cannot change the decision);
- ``release``: the two reads, then those of the release itself (``iot_defender_runtime.remediation.release``).

Dry run makes the same reads and no change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from iot_defender_runtime.model.remediation_policy import RemediationAction
from iot_defender_runtime.model.things import ThingFacts
from iot_defender_runtime.model.violation import ViolationEvent
from iot_defender_runtime.quarantine.decision import Decision, decide, decide_without_thing
from iot_defender_runtime.remediation.actions import (
    NOTIFICATION_SOURCE,
    QuarantineHeldError,
    admit_or_hold,
    deactivate_active,
    record_state,
)
from iot_defender_runtime.remediation.config import QuarantineConfig

if TYPE_CHECKING:  # types only: the adapters import boto3, which the handler imports at its first invocation
    from iot_defender_runtime.adapters.iot_registry import IotRegistry
    from iot_defender_runtime.adapters.quarantine_records import QuarantineRecords
    from iot_defender_runtime.adapters.sns_notifier import Notifier
    from iot_defender_runtime.remediation.breaker import QuarantineBreaker

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
        decision = decide_without_thing(violation, self._config.policy)
        taken: list[str] = []
        if decision is None:
            thing = self._registry.thing_facts(violation.thing_name)
            decision = decide(violation, thing, self._config.policy, self._config.quarantine_group_name)
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
                with_certificates=deactivate,
            )
            if quarantine:
                self._registry.add_thing_to_group(thing.name, group)
                taken.append(f"added to thing group {group}")
            if deactivate:
                taken.extend(deactivate_active(self._registry, certificates))
        if decision.takes(RemediationAction.RELEASE):
            from iot_defender_runtime.quarantine.release import NoQuarantineRecordError, restore

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
