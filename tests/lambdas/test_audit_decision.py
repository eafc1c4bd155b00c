"""Audit remediation decisions, table-driven: pure logic, no AWS."""

from __future__ import annotations

from typing import Any

import pytest

from iot_defender_runtime.audit_remediation.decision import (
    NO_CERTIFICATE,
    AuditDecision,
    FactsNeeded,
    certificate_of,
    decide,
    facts_needed,
)
from iot_defender_runtime.model.audit_checks import AuditCheck
from iot_defender_runtime.model.audit_remediation_policy import AuditAction, AuditRemediationPolicy, policy_of
from iot_defender_runtime.model.things import ThingFacts

NOTIFY = AuditAction.NOTIFY
DEACTIVATE = AuditAction.DEACTIVATE_CERTIFICATE
QUARANTINE = AuditAction.QUARANTINE_THINGS
SHARED = AuditCheck.DEVICE_CERTIFICATE_SHARED
REVOKED = AuditCheck.REVOKED_DEVICE_CERTIFICATE_STILL_ACTIVE
PERMISSIVE = AuditCheck.IOT_POLICY_OVERLY_PERMISSIVE
GROUP = "quarantine"
CERT = "a" * 64

DEFAULT = AuditRemediationPolicy.default()
BOTH = policy_of({SHARED: [QUARANTINE, DEACTIVATE, NOTIFY], REVOKED: [DEACTIVATE]}, exempt_groups=["lab"])


def finding(certificate_id: str | None = CERT) -> dict[str, Any]:
    identifier = {"deviceCertificateId": certificate_id} if certificate_id else {"policyVersionIdentifier": {}}
    return {"findingId": "f1", "nonCompliantResource": {"resourceIdentifier": identifier}}


def thing(name: str, *groups: str, exists: bool = True, exempt: bool = False) -> ThingFacts:
    attributes = {"quarantine_exempt": "TRUE"} if exempt else {}
    return ThingFacts(name, exists=exists, attributes=attributes, group_names=groups)


def run(check, policy, things=(), status=None, *, dry_run=False, certificate_id=CERT) -> AuditDecision:
    return decide(
        check,
        finding(certificate_id),
        policy,
        things=things,
        certificate_status=status,
        dry_run=dry_run,
        quarantine_group_name=GROUP,
    )


@pytest.mark.parametrize(
    ("check", "policy", "things", "status", "expected"),
    [
        pytest.param(PERMISSIVE, DEFAULT, (), None, ((), False, ()), id="unnamed-check-notifies-only"),
        pytest.param(REVOKED, DEFAULT, (), "ACTIVE", ((), True, ()), id="revoked-active-is-deactivated"),
        pytest.param(REVOKED, DEFAULT, (), "INACTIVE", ((), False, ()), id="revoked-inactive-left-alone"),
        pytest.param(REVOKED, DEFAULT, (), "REVOKED", ((), False, ()), id="revoked-revoked-left-alone"),
        pytest.param(
            SHARED, DEFAULT, (thing("a", "fleet"), thing("b")), None, (("a", "b"), False, ()), id="shared-quarantines"
        ),
        pytest.param(SHARED, DEFAULT, (thing("gone", exists=False),), None, ((), False, ()), id="unknown-thing-silent"),
        pytest.param(
            SHARED,
            DEFAULT,
            (thing("bench", exempt=True), thing("a")),
            None,
            (("a",), False, ("thing bench is exempt; not quarantined",)),
            id="exempt-attribute",
        ),
        pytest.param(
            SHARED,
            BOTH,
            (thing("bench", "lab"),),
            "ACTIVE",
            (
                (),
                False,
                (
                    "thing bench is exempt; not quarantined",
                    f"certificate {CERT} not deactivated: used by exempt thing bench (member of exempt group lab)",
                ),
            ),
            id="certificate-of-an-exempt-thing-left-active",
        ),
        pytest.param(
            REVOKED,
            DEFAULT,
            (thing("bench", exempt=True),),
            "ACTIVE",
            (
                (),
                False,
                (f"certificate {CERT} not deactivated: used by exempt thing bench (attribute quarantine_exempt=true)",),
            ),
            id="revoked-certificate-of-an-exempt-thing-left-active",
        ),
        pytest.param(
            SHARED,
            DEFAULT,
            (thing("held", "fleet", GROUP),),
            None,
            ((), False, (f"thing held is already in quarantine group {GROUP}",)),
            id="already-quarantined",
        ),
        pytest.param(
            SHARED,
            BOTH,
            (thing("a"), thing("bench", exempt=True), thing("held", GROUP)),
            "ACTIVE",
            (
                ("a",),
                False,
                (
                    "thing bench is exempt; not quarantined",
                    f"thing held is already in quarantine group {GROUP}",
                    f"certificate {CERT} not deactivated: used by exempt thing bench "
                    "(attribute quarantine_exempt=true)",
                ),
            ),
            id="mixed",
        ),
    ],
)
def test_decision(check, policy, things, status, expected):
    decision = run(check, policy, things, status)
    assert (tuple(t.name for t in decision.quarantine), decision.deactivate, decision.skipped) == expected
    assert decision.actions == policy.actions_for(check)
    assert decision.changes_anything is bool(expected[0] or expected[1])


def test_dry_run_decides_to_change_nothing_and_skips_nothing():
    decision = run(SHARED, BOTH, (thing("a"), thing("bench", exempt=True)), "ACTIVE", dry_run=True)
    assert (decision.quarantine, decision.deactivate, decision.skipped) == ((), False, ())
    assert decision.notifies


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_finding_without_certificate_is_skipped_with_a_reason(dry_run):
    decision = run(REVOKED, DEFAULT, (), "ACTIVE", dry_run=dry_run, certificate_id=None)
    assert (decision.quarantine, decision.deactivate, decision.skipped) == ((), False, (NO_CERTIFICATE,))
    assert decision.certificate_id is None


def test_notify_only_check_without_certificate_skips_nothing():
    assert run(PERMISSIVE, DEFAULT, certificate_id=None).skipped == ()


def test_certificate_action_without_notify_does_not_notify():
    decision = run(REVOKED, BOTH, (), "ACTIVE")
    assert (decision.deactivate, decision.notifies) == (True, False)


@pytest.mark.parametrize(
    ("check", "policy", "dry_run", "certificate_id", "expected"),
    [
        (SHARED, DEFAULT, False, CERT, FactsNeeded(CERT, things=True, certificate_status=False)),
        # deactivation reads the things using the certificate too: one of them may be exempt
        (REVOKED, DEFAULT, False, CERT, FactsNeeded(CERT, things=True, certificate_status=True)),
        (SHARED, BOTH, False, CERT, FactsNeeded(CERT, things=True, certificate_status=True)),
        (SHARED, BOTH, True, CERT, FactsNeeded(CERT, things=False, certificate_status=False)),
        (SHARED, BOTH, False, None, FactsNeeded(None, things=False, certificate_status=False)),
        (PERMISSIVE, DEFAULT, False, CERT, FactsNeeded(CERT, things=False, certificate_status=False)),
    ],
    ids=["shared", "revoked", "both", "dry-run-reads-nothing", "no-certificate", "notify-only"],
)
def test_facts_needed(check, policy, dry_run, certificate_id, expected):
    assert facts_needed(check, finding(certificate_id), policy, dry_run) == expected


@pytest.mark.parametrize(
    ("found", "expected"),
    [
        ({"nonCompliantResource": {"resourceIdentifier": {"deviceCertificateId": CERT}}}, CERT),
        ({"nonCompliantResource": {"resourceIdentifier": {"deviceCertificateId": ""}}}, None),
        ({"nonCompliantResource": {"resourceIdentifier": {}}}, None),
        ({"nonCompliantResource": None}, None),
        ({}, None),
    ],
)
def test_certificate_of(found, expected):
    assert certificate_of(found) == expected
