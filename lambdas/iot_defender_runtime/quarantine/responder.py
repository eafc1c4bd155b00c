"""Carries out a decision: breaker, record, registry changes, then the notification.

Reliability (README, "Reliability"): the breaker slot is keyed by the action and its thing, so a retry
takes no other slot; the record is the claim on the thing (a second violation of a thing being
quarantined is retried, not acted on twice); the notification is written as pending before the first
change and each change is logged right after it succeeds (action log and pending notification); a retry
that finds a pending notification delivers it with every change, whatever the retry itself decides.

IoT calls per violation event (the handler's idempotency comes first, so an event already handled,
the same ``violationId`` and ``violationEventType``, makes none):

- a newly quarantined thing, at most 3: ``DescribeThing`` (does it exist, is it exempt by attribute),
  ``ListThingGroupsForThing`` (exempt groups, already quarantined, the groups its record keeps for a
  release) and ``AddThingToThingGroup``. Its certificates are not read: this change leaves them alone,
  so a release has no certificate state to restore. With exempt groups in the policy, also one
  ``DescribeThingGroup`` per group of the thing (cached for a few minutes): exempt groups hold for
  their child groups;
- with ``deactivate-certificates`` also ``ListThingPrincipals``, one ``DescribeCertificate`` per
  certificate (their states are recorded before the change, so a release can restore them), one
  ``ListPrincipalThings`` per active certificate (with the two reads of each other thing using it: a
  certificate an exempt thing uses is left alone) and one ``UpdateCertificate`` per certificate changed;
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
from iot_defender_runtime.quarantine.decision import Decision, decide, decide_without_thing, decision_of
from iot_defender_runtime.remediation.actions import (
    INACTIVE,
    NOTIFICATION_SOURCE,
    ChangeLog,
    QuarantineHeldError,
    admit_or_hold,
    deactivatable,
    move_into_quarantine,
    record_state,
    slot_key,
)
from iot_defender_runtime.remediation.config import QuarantineConfig

if TYPE_CHECKING:  # types only: the adapters import boto3, which the handler imports at its first invocation
    from iot_defender_runtime.adapters.iot_registry import IotRegistry
    from iot_defender_runtime.adapters.quarantine_records import QuarantineRecords
    from iot_defender_runtime.adapters.sns_notifier import Notifier
    from iot_defender_runtime.remediation.breaker import QuarantineBreaker

__all__ = ["QuarantineHeldError", "QuarantineResponder", "Result", "decision_key", "notification"]


@dataclass(frozen=True)
class Result:
    decision: Decision
    actions_taken: tuple[str, ...]
    dry_run: bool
    skipped: tuple[str, ...] = ()


def decision_key(violation: ViolationEvent) -> str:
    """The key of one violation event's decision (its pending notification): as the handler's idempotency."""
    return f"quarantine-violation#{violation.violation_id}#{violation.violation_event_type.value}"


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
        if decision is not None:
            return self._notify(violation, Result(decision, (), self._config.dry_run))
        policy = self._config.policy
        thing = self._registry.thing_facts(violation.thing_name, ancestry=bool(policy.exempt_groups))
        decision = decide(violation, thing, policy, self._config.quarantine_group_name)
        if self._config.dry_run:
            return self._notify(violation, Result(decision, (), True))
        log = ChangeLog(
            self._records,
            decision_key(violation),
            by=f"rule {decision.rule}",
            why=decision.reason,
            cause={"violation_id": violation.violation_id, "event_type": violation.violation_event_type.value},
        )
        try:
            skipped = self._act(violation, thing, decision, log) if decision.changes_anything else []
        except QuarantineHeldError:
            log.announce_held(self._notifier)
            raise
        if log.notice is None:
            return self._notify(violation, Result(decision, tuple(log.taken), False, tuple(skipped)))
        result = Result(decision_of(log.notice.message["decision"]), tuple(log.all_taken()), False, tuple(skipped))
        log.deliver(self._notifier, _subject(violation, result), notification(violation, result), merged=["skipped"])
        return result

    def _notify(self, violation: ViolationEvent, result: Result) -> Result:
        if result.decision.takes(RemediationAction.NOTIFY):
            self._notifier.publish(_subject(violation, result), notification(violation, result))
        return result

    def _act(self, violation: ViolationEvent, thing: ThingFacts, decision: Decision, log: ChangeLog) -> list[str]:
        """Make the decision's changes, each logged as soon as it succeeds; returns what was left alone."""
        group = self._config.quarantine_group_name
        quarantine = decision.takes(RemediationAction.QUARANTINE)
        deactivate = decision.takes(RemediationAction.DEACTIVATE_CERTIFICATES)
        skipped: list[str] = []
        if quarantine:
            limit = self._config.max_quarantines_per_hour
            key = slot_key("quarantine", thing.name)
            admit_or_hold(self._breaker, self._notifier, limit=limit, held=thing.name, what="quarantine", key=key)
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
                claim=quarantine,
            )
            if quarantine:
                self._before_change(violation, decision, log)
                move_into_quarantine(self._registry, self._records, thing.name, group)
                log.changed(f"added to thing group {group}", thing_name=thing.name)
            if deactivate:
                allowed, skipped = deactivatable(self._registry, thing, certificates, self._config.policy.exempt_groups)
                for certificate_id in allowed:
                    self._before_change(violation, decision, log)
                    self._registry.set_certificate_status(certificate_id, INACTIVE)
                    log.changed(f"deactivated certificate {certificate_id}", thing_name=thing.name)
        if decision.takes(RemediationAction.RELEASE):
            self._release(violation, thing, decision, log)
        return skipped

    def _before_change(self, violation: ViolationEvent, decision: Decision, log: ChangeLog) -> None:
        """The notification is written as pending before the first change (when the decision notifies)."""
        if decision.takes(RemediationAction.NOTIFY):
            result = Result(decision, (), False)
            log.prepare(_subject(violation, result), notification(violation, result))

    def _release(self, violation: ViolationEvent, thing: ThingFacts, decision: Decision, log: ChangeLog) -> None:
        from iot_defender_runtime.quarantine.release import NoQuarantineRecordError, restore

        self._before_change(violation, decision, log)
        try:
            changes = restore(thing.name, self._config.quarantine_group_name, self._registry, self._records)
        except NoQuarantineRecordError as error:
            changes = [f"not released: {error}"]
        for change in changes or ["released: nothing needed restoring"]:
            log.changed(change, thing_name=thing.name)


def _subject(violation: ViolationEvent, result: Result) -> str:
    prefix = "[DRY RUN] " if result.dry_run else ""
    return (
        f"{prefix}Device Defender {violation.violation_event_type.value}: {violation.thing_name} "
        f"({result.decision.outcome.value})"
    )


def notification(violation: ViolationEvent, result: Result) -> dict[str, Any]:
    """The structured message operators receive: thing, violation, decision, actions, dry-run flag, and
    (when there are any) the certificates left alone and why (``skipped``)."""
    message: dict[str, Any] = {
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
    if result.skipped:
        message["skipped"] = list(result.skipped)
    return message
