"""Acts on one audit finding according to the audit remediation policy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lambdas.adapters.iot_registry import AuditFindings, IotRegistry
from lambdas.adapters.quarantine_records import QuarantineRecords
from lambdas.adapters.sns_notifier import Notifier
from lambdas.model.audit_checks import AuditCheck
from lambdas.model.audit_remediation_policy import AuditAction
from lambdas.remediation.actions import (
    ACTIVE,
    INACTIVE,
    NOTIFICATION_SOURCE,
    admit_or_hold,
    record_state,
)
from lambdas.remediation.breaker import QuarantineBreaker
from lambdas.remediation.config import AuditRemediationConfig

POLICY_CHECKS = frozenset({AuditCheck.IOT_POLICY_OVERLY_PERMISSIVE, AuditCheck.IOT_POLICY_POTENTIAL_MIS_CONFIGURATION})


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

    def handle(self, check: AuditCheck, finding: dict[str, Any]) -> FindingResult:
        actions = self._config.policy.actions_for(check)
        identifier = finding.get("nonCompliantResource", {}).get("resourceIdentifier", {})
        certificate_id = identifier.get("deviceCertificateId")
        taken: list[str] = []
        skipped: list[str] = []
        changing = [a for a in actions if a is not AuditAction.NOTIFY]
        if changing and not certificate_id:
            skipped.append("the finding names no device certificate; nothing to act on")
        elif changing and not self._config.dry_run:
            if AuditAction.QUARANTINE_THINGS in actions:
                self._quarantine_things(check, finding, certificate_id, taken, skipped)
            if AuditAction.DEACTIVATE_CERTIFICATE in actions:
                self._deactivate(finding, certificate_id, taken)
        result = FindingResult(finding["findingId"], check, actions, tuple(taken), tuple(skipped))
        if taken:
            self._records.log_action(
                thing_name=f"certificate-{certificate_id}",
                what=taken,
                why=f"audit check {check.value}: {finding.get('reasonForNonCompliance', 'non-compliant')}",
                violation_id=finding["findingId"],
                event_type=check.value,
                by="audit remediator",
            )
        if AuditAction.NOTIFY in actions:
            self._notifier.publish(
                f"{'[DRY RUN] ' if self._config.dry_run else ''}Device Defender audit: {check.value}",
                self._notification(result, finding),
            )
        return result

    def _quarantine_things(
        self, check: AuditCheck, finding: dict[str, Any], certificate_id: str, taken: list[str], skipped: list[str]
    ) -> None:
        group = self._config.quarantine_group_name
        for thing_name in self._findings.things_of(self._findings.certificate_arn(certificate_id)):
            thing = self._registry.thing_facts(thing_name)
            exempt_groups = set(thing.group_names) & set(self._config.policy.exempt_groups)
            if not thing.exists:
                continue
            if thing.is_exempt or exempt_groups:
                skipped.append(f"thing {thing_name} is exempt; not quarantined")
                continue
            if group in thing.group_names:
                skipped.append(f"thing {thing_name} is already in quarantine group {group}")
                continue
            admit_or_hold(
                self._breaker, self._notifier, limit=self._config.max_actions_per_hour, held=thing_name, what="audit"
            )
            record_state(
                self._records,
                self._registry,
                thing,
                quarantine_group_name=group,
                cause_id=finding["findingId"],
                source_name=finding.get("taskId", "audit"),
                detail_name=check.value,
            )
            self._registry.add_thing_to_group(thing_name, group)
            taken.append(f"thing {thing_name} added to thing group {group}")

    def _deactivate(self, finding: dict[str, Any], certificate_id: str, taken: list[str]) -> None:
        status = self._registry.certificates_status(certificate_id)
        if status != ACTIVE:
            return
        admit_or_hold(
            self._breaker, self._notifier, limit=self._config.max_actions_per_hour, held=certificate_id, what="audit"
        )
        self._registry.set_certificate_status(certificate_id, INACTIVE)
        taken.append(f"certificate {certificate_id} set from {status} to {INACTIVE}")

    def _notification(self, result: FindingResult, finding: dict[str, Any]) -> dict[str, Any]:
        message: dict[str, Any] = {
            "source": NOTIFICATION_SOURCE.replace("quarantine", "audit"),
            "check": result.check.value,
            "finding": finding,
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
