"""What to do about one audit finding: the audit remediation policy applied to the finding's device
certificate and the things attached to it. Pure: no I/O.

The remediator first asks ``facts_needed`` what to read (nothing in a dry run, nothing without a
certificate), reads it through the adapters, then asks ``decide`` and carries the decision out.
The exemption rules are those of the quarantine decision (``ThingFacts.exemption``): an exempt thing is
never quarantined, and a certificate an exempt thing uses (``certificate_exemption``) is never deactivated,
so deactivation reads the things attached to the certificate as quarantine does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from iot_defender_runtime.model.audit_checks import AuditCheck
from iot_defender_runtime.model.audit_remediation_policy import AuditAction, AuditRemediationPolicy
from iot_defender_runtime.model.things import ACTIVE, ThingFacts, certificate_exemption

NO_CERTIFICATE = "the finding names no device certificate; nothing to act on"


@dataclass(frozen=True)
class FactsNeeded:
    """What the remediator must read before it can decide."""

    certificate_id: str | None
    things: bool
    certificate_status: bool


@dataclass(frozen=True)
class AuditDecision:
    check: AuditCheck
    actions: tuple[AuditAction, ...]
    certificate_id: str | None
    quarantine: tuple[ThingFacts, ...] = ()
    deactivate: bool = False
    skipped: tuple[str, ...] = ()

    @property
    def notifies(self) -> bool:
        return AuditAction.NOTIFY in self.actions

    @property
    def changes_anything(self) -> bool:
        return bool(self.quarantine) or self.deactivate

    @property
    def may_change(self) -> bool:
        """The policy gives the check an action other than ``notify`` (a change is possible, now or
        in an earlier attempt of the same finding)."""
        return any(action is not AuditAction.NOTIFY for action in self.actions)


def certificate_of(finding: Mapping[str, Any]) -> str | None:
    """The device certificate id a finding names (``nonCompliantResource.resourceIdentifier``), if any."""
    identifier = (finding.get("nonCompliantResource") or {}).get("resourceIdentifier") or {}
    return identifier.get("deviceCertificateId") or None


def facts_needed(
    check: AuditCheck, finding: Mapping[str, Any], policy: AuditRemediationPolicy, dry_run: bool
) -> FactsNeeded:
    actions = policy.actions_for(check)
    certificate_id = certificate_of(finding)
    reads = certificate_id is not None and not dry_run
    return FactsNeeded(
        certificate_id=certificate_id,
        things=reads and bool({AuditAction.QUARANTINE_THINGS, AuditAction.DEACTIVATE_CERTIFICATE} & set(actions)),
        certificate_status=reads and AuditAction.DEACTIVATE_CERTIFICATE in actions,
    )


def decide(
    check: AuditCheck,
    finding: Mapping[str, Any],
    policy: AuditRemediationPolicy,
    *,
    things: Sequence[ThingFacts],
    certificate_status: str | None,
    dry_run: bool,
    quarantine_group_name: str,
) -> AuditDecision:
    """Which things sharing the certificate to quarantine (and which are skipped, with why), and
    whether to deactivate the certificate. A dry run decides to change nothing; things no longer in
    the registry are passed over silently; a certificate that is not ACTIVE is left as it is, and so is
    one an exempt thing uses (said in ``skipped``)."""
    actions = policy.actions_for(check)
    certificate_id = certificate_of(finding)
    decision = AuditDecision(check, actions, certificate_id)
    if all(a is AuditAction.NOTIFY for a in actions):
        return decision
    if certificate_id is None:
        return AuditDecision(check, actions, None, skipped=(NO_CERTIFICATE,))
    if dry_run:
        return decision
    quarantine: list[ThingFacts] = []
    skipped: list[str] = []
    if AuditAction.QUARANTINE_THINGS in actions:
        for thing in things:
            if not thing.exists:
                continue  # it left the registry since the audit: nothing to quarantine, nothing to say
            reason = _why_not_quarantined(thing, policy, quarantine_group_name)
            if reason is None:
                quarantine.append(thing)
            else:
                skipped.append(reason)
    deactivate = AuditAction.DEACTIVATE_CERTIFICATE in actions and certificate_status == ACTIVE
    exemption = certificate_exemption(things, policy.exempt_groups) if deactivate else None
    if exemption is not None:
        deactivate = False
        skipped.append(f"certificate {certificate_id} not deactivated: {exemption}")
    return AuditDecision(check, actions, certificate_id, tuple(quarantine), deactivate, tuple(skipped))


def _why_not_quarantined(thing: ThingFacts, policy: AuditRemediationPolicy, quarantine_group_name: str) -> str | None:
    """Why an existing thing is not quarantined, or None: quarantine it."""
    if thing.exemption(policy.exempt_groups) is not None:
        return f"thing {thing.name} is exempt; not quarantined"
    if thing.is_quarantined(quarantine_group_name):
        return f"thing {thing.name} is already in quarantine group {quarantine_group_name}"
    return None
