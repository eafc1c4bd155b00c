"""Acts on one audit finding: reads the facts the decision needs, asks ``decision.decide`` (pure),
then carries the decision out through the adapters, logs each change and notifies."""

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
    admit_or_hold,
    record_state,
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
        taken = self._act(decision, finding, key) if decision.changes_anything else []
        result = FindingResult(key, check, decision.actions, tuple(taken), decision.skipped)
        if decision.notifies:
            self._notifier.publish(
                f"{'[DRY RUN] ' if self._config.dry_run else ''}Device Defender audit: {check.value}",
                self._notification(result, finding),
            )
        return result

    def _decide(self, check: AuditCheck, finding: dict[str, Any]) -> AuditDecision:
        policy = self._config.policy
        needed = facts_needed(check, finding, policy, self._config.dry_run)
        things: list[ThingFacts] = []
        status: str | None = None
        if needed.certificate_id is not None and needed.things:
            arn = self._findings.certificate_arn(needed.certificate_id)
            things = [self._registry.thing_facts(name) for name in self._findings.things_of(arn)]
        if needed.certificate_id is not None and needed.certificate_status:
            status = self._registry.certificates_status(needed.certificate_id)
        return decide(
            check,
            finding,
            policy,
            things=things,
            certificate_status=status,
            dry_run=self._config.dry_run,
            quarantine_group_name=self._config.quarantine_group_name,
        )

    def _act(self, decision: AuditDecision, finding: dict[str, Any], key: str) -> list[str]:
        """Each change takes a breaker slot first and is logged under its subject (thing or certificate)."""
        group = self._config.quarantine_group_name
        why = f"audit check {decision.check.value}: {finding.get('reasonForNonCompliance', 'non-compliant')}"
        logged = {"finding_id": key, "check_name": decision.check.value, "why": why, "by": BY}
        taken: list[str] = []
        for thing in decision.quarantine:
            self._admit(thing.name)
            record_state(
                self._records,
                self._registry,
                thing,
                quarantine_group_name=group,
                cause_id=key,
                source_name=finding.get("taskId", "audit"),
                detail_name=decision.check.value,
            )
            self._registry.add_thing_to_group(thing.name, group)
            change = f"thing {thing.name} added to thing group {group}"
            self._records.log_action(thing_name=thing.name, what=[change], **logged)
            taken.append(change)
        if decision.deactivate and decision.certificate_id is not None:
            certificate_id = decision.certificate_id
            self._admit(certificate_id)
            self._registry.set_certificate_status(certificate_id, INACTIVE)
            change = f"certificate {certificate_id} set from ACTIVE to {INACTIVE}"
            self._records.log_action(certificate_id=certificate_id, what=[change], **logged)
            taken.append(change)
        return taken

    def _admit(self, held: str) -> None:
        admit_or_hold(self._breaker, self._notifier, limit=self._config.max_actions_per_hour, held=held, what="audit")

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
