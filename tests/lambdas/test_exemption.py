"""The exemption rules live once (``ThingFacts``) and both decisions apply them the same way."""

from __future__ import annotations

import json

import pytest

from iot_defender_runtime.audit_remediation.decision import decide as decide_audit
from iot_defender_runtime.model.audit_checks import AuditCheck
from iot_defender_runtime.model.audit_remediation_policy import policy_of
from iot_defender_runtime.model.remediation_policy import RemediationPolicy
from iot_defender_runtime.model.things import ThingFacts
from iot_defender_runtime.quarantine.decision import Outcome
from iot_defender_runtime.quarantine.decision import decide as decide_violation
from iot_defender_runtime.quarantine.intake import parse_violation_message
from tests.lambdas.conftest import load_event

GROUP = "quarantine"


@pytest.mark.parametrize(
    ("attributes", "groups", "expected"),
    [
        ({}, (), None),
        ({"quarantine_exempt": "true"}, (), "attribute quarantine_exempt=true"),
        ({"quarantine_exempt": " True "}, ("lab",), "attribute quarantine_exempt=true"),
        ({"quarantine_exempt": "false"}, (), None),
        ({"quarantine_exempt": "yes"}, (), None),
        ({}, ("zoo", "lab", "fleet"), "member of exempt group lab"),
        ({}, ("fleet",), None),
    ],
)
def test_exemption(attributes, groups, expected):
    thing = ThingFacts("t", exists=True, attributes=attributes, group_names=groups)
    assert thing.exemption(["zoo", "lab"]) == expected


def test_is_quarantined():
    assert ThingFacts("t", exists=True, group_names=("fleet", GROUP)).is_quarantined(GROUP)
    assert not ThingFacts("t", exists=True, group_names=("fleet",)).is_quarantined(GROUP)


@pytest.mark.parametrize(
    "thing",
    [
        ThingFacts("t", exists=True, attributes={"quarantine_exempt": "TRUE"}, group_names=("fleet",)),
        ThingFacts("t", exists=True, group_names=("lab",)),
    ],
    ids=["attribute", "group"],
)
def test_both_decisions_leave_an_exempt_thing_alone(thing):
    violation = parse_violation_message(json.dumps(load_event("violation_in_alarm_rule.json")))
    quarantine_policy = RemediationPolicy(RemediationPolicy.default().rules, exempt_groups=["lab"])
    assert decide_violation(violation, thing, quarantine_policy, GROUP).outcome is Outcome.EXEMPT
    audit_policy = policy_of({AuditCheck.DEVICE_CERTIFICATE_SHARED: ["quarantine-things", "notify"]}, ["lab"])
    finding = {"findingId": "f", "nonCompliantResource": {"resourceIdentifier": {"deviceCertificateId": "c"}}}
    audited = decide_audit(
        AuditCheck.DEVICE_CERTIFICATE_SHARED,
        finding,
        audit_policy,
        things=[thing],
        certificate_status=None,
        dry_run=False,
        quarantine_group_name=GROUP,
    )
    assert (audited.quarantine, audited.skipped) == ((), ("thing t is exempt; not quarantined",))


def test_an_exempt_group_holds_through_its_child_groups():
    thing = ThingFacts("t", exists=True, group_names=("lab-bench",), inherited_group_names=("lab", "site"))
    assert thing.exemption(["lab"]) == "member of exempt group lab through a child group"
    assert thing.exemption(["fleet"]) is None


def test_a_certificate_is_exempt_when_any_existing_thing_using_it_is():
    from iot_defender_runtime.model.things import certificate_exemption

    users = [
        ThingFacts("b", exists=True, group_names=("lab",)),
        ThingFacts("a", exists=False, attributes={"quarantine_exempt": "true"}),
        ThingFacts("c", exists=True),
    ]
    assert certificate_exemption(users, ["lab"]) == "used by exempt thing b (member of exempt group lab)"
    assert certificate_exemption(users, []) is None
