"""Acts on one audit finding: reads the facts the decision needs, asks ``decision.decide`` (pure),
then carries the decision out through the adapters, logs each change and notifies.

Reliability (README, "Reliability"), as in the quarantine responder: each change takes the breaker
slot of its action and subject (a retry takes no other); a quarantine claims the thing's record; the
notification is written as pending before the first change, each change is logged right after it
succeeds, and a retry of the finding delivers the pending notification with every change."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from iot_defender_runtime.adapters.iot_registry import AuditFindings, IotRegistry
from iot_defender_runtime.adapters.quarantine_records import QuarantineRecords
from iot_defender_runtime.adapters.sns_notifier import Notifier
from iot_defender_runtime.audit_remediation.decision import AuditDecision, decide, facts_needed
from iot_defender_runtime.audit_remediation.finding_key import finding_key
from iot_defender_runtime.model.audit_checks import AuditCheck
from iot_defender_runtime.model.audit_remediation_policy import AuditAction
from iot_defender_runtime.model.things import ThingFacts
from iot_defender_runtime.remediation.actions import (
    INACTIVE,
    NOTIFICATION_SOURCE,
    ChangeLog,
    QuarantineHeldError,
    admit_or_hold,
    move_into_quarantine,
    record_state,
    slot_key,
)
from iot_defender_runtime.remediation.breaker import QuarantineBreaker
from iot_defender_runtime.remediation.config import AuditRemediationConfig

POLICY_CHECKS = frozenset({AuditCheck.IOT_POLICY_OVERLY_PERMISSIVE, AuditCheck.IOT_POLICY_POTENTIAL_MIS_CONFIGURATION})
AUDIT_SOURCE = NOTIFICATION_SOURCE.replace("quarantine", "audit")
BY = "audit remediator"


@dataclass(frozen=True)
class FindingResult:
    finding_id: str
    check: AuditCheck
    actions: tuple[AuditAction, ...]
    actions_taken: tuple[str, ...]
    skipped: tuple[str, ...]


class AuditRemediator:
    def __init__(
        self,
        config: AuditRemediationConfig,
        findings: AuditFindings,
        registry: IotRegistry,
        notifier: Notifier,
        records: QuarantineRecords,
        breaker: QuarantineBreaker,
    ) -> None:
        self._config = config
        self._findings = findings
        self._registry = registry
        self._notifier = notifier
        self._records = records
        self._breaker = breaker

    def handle(self, check: AuditCheck, finding: dict[str, Any], *, key: str | None = None) -> FindingResult:
        """Decide and act on one finding; ``key`` is its idempotency key (``finding_key``: its ``findingId``,
        or derived when it has none), which the action log and the notification name it by."""
        key = key or finding_key(finding, check_name=check.value)
        decision = self._decide(check, finding)
        subject = f"{'[DRY RUN] ' if self._config.dry_run else ''}Device Defender audit: {check.value}"
        if self._config.dry_run or not decision.may_change:
            result = FindingResult(key, check, decision.actions, (), decision.skipped)
            if decision.notifies:
                self._notifier.publish(subject, self._notification(result, finding))
            return result
        why = f"audit check {check.value}: {finding.get('reasonForNonCompliance', 'non-compliant')}"
        log = ChangeLog(
            self._records, f"audit-finding#{key}", by=BY, why=why, cause={"finding_id": key, "check_name": check.value}
        )
        if decision.changes_anything:
            try:
                self._act(decision, finding, key, log)
            except QuarantineHeldError:
                log.announce_held(self._notifier)
                raise
        skipped = tuple(_not_about_own_quarantines(decision.skipped, log.all_taken()))
        result = FindingResult(key, check, decision.actions, tuple(log.all_taken()), skipped)
        if log.notice is not None:
            log.deliver(self._notifier, subject, self._notification(result, finding), merged=["skipped"])
        elif decision.notifies:
            self._notifier.publish(subject, self._notification(result, finding))
        return result

    def _decide(self, check: AuditCheck, finding: dict[str, Any]) -> AuditDecision:
        policy = self._config.policy
        needed = facts_needed(check, finding, policy, self._config.dry_run)
        things: list[ThingFacts] = []
        status: str | None = None
        if needed.certificate_id is not None and (needed.things or needed.certificate_status):
            certificate = self._registry.certificate(needed.certificate_id)
            status = certificate.status
            if needed.things:
                ancestry = bool(policy.exempt_groups)
                names = self._registry.things_of(certificate.arn)
                things = [self._registry.thing_facts(name, ancestry=ancestry) for name in names]
        return decide(
            check,
            finding,
            policy,
            things=things,
            certificate_status=status,
            dry_run=self._config.dry_run,
            quarantine_group_name=self._config.quarantine_group_name,
        )

    def _act(self, decision: AuditDecision, finding: dict[str, Any], key: str, log: ChangeLog) -> None:
        """Each change takes its breaker slot first and is logged under its subject (thing or certificate)
        right after it succeeds; the notification is written as pending before the first change."""
        group = self._config.quarantine_group_name
        for thing in decision.quarantine:
            self._admit(thing.name, slot_key("quarantine", thing.name))
            record_state(
                self._records,
                self._registry,
                thing,
                quarantine_group_name=group,
                cause_id=key,
                source_name=finding.get("taskId", "audit"),
                detail_name=decision.check.value,
                claim=True,
            )
            self._before_change(decision, finding, key, log)
            move_into_quarantine(self._registry, self._records, thing.name, group)
            log.changed(f"thing {thing.name} added to thing group {group}", thing_name=thing.name)
        if decision.deactivate and decision.certificate_id is not None:
            certificate_id = decision.certificate_id
            self._admit(certificate_id, slot_key("deactivate", certificate_id))
            self._before_change(decision, finding, key, log)
            self._registry.set_certificate_status(certificate_id, INACTIVE)
            log.changed(f"certificate {certificate_id} set from ACTIVE to {INACTIVE}", certificate_id=certificate_id)

    def _before_change(self, decision: AuditDecision, finding: dict[str, Any], key: str, log: ChangeLog) -> None:
        if decision.notifies:
            subject = f"Device Defender audit: {decision.check.value}"
            pending = FindingResult(key, decision.check, decision.actions, (), decision.skipped)
            log.prepare(subject, self._notification(pending, finding))

    def _admit(self, held: str, key: str) -> None:
        limit = self._config.max_actions_per_hour
        admit_or_hold(self._breaker, self._notifier, limit=limit, held=held, what="audit", key=key)

    def _notification(self, result: FindingResult, finding: dict[str, Any]) -> dict[str, Any]:
        message: dict[str, Any] = {
            "source": AUDIT_SOURCE,
            "check": result.check.value,
            "finding": finding,
            **({} if finding.get("findingId") == result.finding_id else {"findingKey": result.finding_id}),
            "actions": [a.value for a in result.actions],
            "actionsTaken": list(result.actions_taken),
            "skipped": list(result.skipped),
            "dryRun": self._config.dry_run,
        }
        version = finding.get("nonCompliantResource", {}).get("resourceIdentifier", {}).get("policyVersionIdentifier")
        if result.check in POLICY_CHECKS and version:
            message["statementsAtFault"] = self._findings.policy_statements(
                version["policyName"], version["policyVersionId"]
            )
        return message


def _not_about_own_quarantines(skipped: tuple[str, ...], taken: list[str]) -> list[str]:
    """A retry finds the things an earlier attempt of the same finding quarantined already in the
    quarantine group: that is not a reason they were skipped, so it is not said."""
    own = {change.split(" ", 2)[1] for change in taken if change.startswith("thing ")}
    return [reason for reason in skipped if not (reason.split(" ", 2)[1] in own and "already in quarantine" in reason)]
