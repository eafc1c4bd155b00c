"""The audit remediator on moto plus a fake ListAuditFindings: paging, default mapping, idempotency,
dry run, breaker, exemptions, policy statements and bad records."""

from __future__ import annotations

import json
from typing import Any

import pytest

from iot_defender_runtime.audit_remediation import handler
from iot_defender_runtime.model.audit_remediation_policy import AuditRemediationPolicy, policy_of
from iot_defender_runtime.remediation.config import ConfigurationError
from tests.fakes.audit_api import FakeAuditFindings
from tests.lambdas.conftest import FLEET_GROUP, QUARANTINE_GROUP, LambdaContext, load_event
from tests.lambdas.test_quarantine_handler import sqs_record

TASK = "4e2bcd1ccbc2a5dd15292a82ab80c380"
REVOKED = "REVOKED_DEVICE_CERTIFICATE_STILL_ACTIVE_CHECK"
SHARED = "DEVICE_CERTIFICATE_SHARED_CHECK"
PERMISSIVE = "IOT_POLICY_OVERLY_PERMISSIVE_CHECK"


@pytest.fixture
def audit(world, monkeypatch) -> FakeAuditFindings:
    fake = FakeAuditFindings()
    fake.install(monkeypatch)
    return fake


def notification(*checks: str, status: str = "COMPLETED") -> str:
    event = load_event("audit_completed_legacy_names.json")
    event["taskStatus"] = status
    event["auditDetails"] = [
        {
            "checkName": c,
            "checkRunStatus": "COMPLETED_NON_COMPLIANT",
            "nonCompliantResourcesCount": 1,
            "totalResourcesCount": 2,
        }
        for c in checks
    ]
    return json.dumps(event)


def invoke(*bodies: str) -> dict[str, Any]:
    records = [sqs_record(body, f"m{i}") for i, body in enumerate(bodies)]
    return handler.lambda_handler({"Records": records}, LambdaContext())


def test_default_policy_deactivates_revoked_certificates_read_from_every_page(world, audit, monkeypatch):
    # Given 5 findings of the revoked-certificate check, read 2 per page (the API allows up to 250)
    monkeypatch.setattr("iot_defender_runtime.adapters.iot_registry.PAGE_SIZE", 2)
    certificates = [world.iot.create_keys_and_certificate(setAsActive=True)["certificateId"] for _ in range(3)]
    for index in range(5):
        audit.add(task_id=TASK, check_name=REVOKED, finding_id=f"f{index}", certificate_id=certificates[index % 3])

    # When the notification arrives with the older check name
    response = invoke(json.dumps(load_event("audit_completed_legacy_names.json")))

    # Then every page was read, each certificate is inactive, and every finding was notified
    assert response == {"batchItemFailures": []}
    revoked_calls = [c for c in audit.calls if c["checkName"] == REVOKED]
    assert [(c.get("nextToken"), c["maxResults"]) for c in revoked_calls] == [(None, 2), ("2", 2), ("4", 2)]
    assert all(world.certificate_status(c) == "INACTIVE" for c in certificates)
    notified = [n for n in world.notifications() if n.get("check") == REVOKED]
    assert sorted(n["finding"]["findingId"] for n in notified) == [f"f{i}" for i in range(5)]
    assert sum(1 for n in notified if n["actionsTaken"]) == 3


def test_shared_certificate_quarantines_every_thing_that_uses_it(world, audit):
    world.add_thing("clone-a")
    world.add_thing("clone-b")
    certificate = world.add_certificate("clone-a")
    arn = world.iot.describe_certificate(certificateId=certificate)["certificateDescription"]["certificateArn"]
    world.iot.attach_thing_principal(thingName="clone-b", principal=arn)
    audit.add(task_id=TASK, check_name=SHARED, finding_id="shared-1", certificate_id=certificate)

    assert invoke(notification(SHARED)) == {"batchItemFailures": []}

    assert QUARANTINE_GROUP in world.groups_of("clone-a") and QUARANTINE_GROUP in world.groups_of("clone-b")
    assert [g["S"] for g in world.record_of("clone-a")["groupsBefore"]["L"]] == [FLEET_GROUP]
    assert world.certificate_status(certificate) == "ACTIVE"  # the default mapping leaves it alone
    [notified] = world.notifications()
    assert sorted(notified["actionsTaken"]) == [
        f"thing clone-a added to thing group {QUARANTINE_GROUP}",
        f"thing clone-b added to thing group {QUARANTINE_GROUP}",
    ]


def test_action_log_names_each_subject_honestly_a_thing_or_a_certificate(world, audit, monkeypatch):
    # Given a policy that quarantines the things sharing a certificate and deactivates it
    monkeypatch.setenv(
        "AUDIT_REMEDIATION_POLICY", policy_of({SHARED: ["quarantine-things", "deactivate-certificate"]}).to_json()
    )
    world.add_thing("clone-a")
    certificate = world.add_certificate("clone-a")
    audit.add(task_id=TASK, check_name=SHARED, finding_id="shared-1", certificate_id=certificate, reason="shared")

    assert invoke(notification(SHARED)) == {"batchItemFailures": []}

    # Then the thing's change is logged under the thing, the certificate's under the certificate
    [thing_item] = world.action_items("clone-a")
    assert thing_item["id"].startswith("action#clone-a#") and thing_item["id"].endswith("#shared-1")
    assert {k: thing_item[k] for k in ("thingName", "findingId", "checkName", "by", "reason")} == {
        "thingName": "clone-a",
        "findingId": "shared-1",
        "checkName": SHARED,
        "by": "audit remediator",
        "reason": f"audit check {SHARED}: shared",
    }
    [certificate_item] = world.action_items(certificate)
    assert certificate_item["id"].startswith(f"action#{certificate}#")
    assert (certificate_item["certificateId"], certificate_item["findingId"]) == (certificate, "shared-1")
    assert "thingName" not in certificate_item and "violationId" not in certificate_item
    assert world.action_items(f"certificate-{certificate}") == []


def test_same_findings_across_duplicate_notifications_act_once(world, audit):
    certificate = world.iot.create_keys_and_certificate(setAsActive=True)["certificateId"]
    audit.add(task_id=TASK, check_name=REVOKED, finding_id="f1", certificate_id=certificate)
    body = notification(REVOKED)
    assert invoke(body, body) == {"batchItemFailures": []}
    assert invoke(body) == {"batchItemFailures": []}
    assert len(world.notifications()) == 1


def test_other_checks_notify_only_and_show_the_policy_statements_at_fault(world, audit):
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]}
    world.iot.create_policy(policyName="too-broad", policyDocument=json.dumps(document))
    audit.add(task_id=TASK, check_name=PERMISSIVE, finding_id="p1", policy=("too-broad", "1"))
    assert invoke(notification("IOT_POLICY_UNRESTRICTED_CHECK")) == {"batchItemFailures": []}
    [notified] = world.notifications()
    assert notified["actions"] == ["notify"]
    assert notified["statementsAtFault"] == document["Statement"]


def test_dry_run_changes_nothing(world, audit, monkeypatch):
    monkeypatch.setenv("DRY_RUN", "true")
    certificate = world.iot.create_keys_and_certificate(setAsActive=True)["certificateId"]
    audit.add(task_id=TASK, check_name=REVOKED, finding_id="f1", certificate_id=certificate)
    invoke(notification(REVOKED))
    assert world.certificate_status(certificate) == "ACTIVE"
    [notified] = world.notifications()
    assert (notified["dryRun"], notified["actionsTaken"]) == (True, [])


def test_exempt_things_are_not_quarantined(world, audit, monkeypatch):
    monkeypatch.setenv(
        "AUDIT_REMEDIATION_POLICY",
        policy_of({"DEVICE_CERTIFICATE_SHARED_CHECK": ["quarantine-things", "notify"]}, ["lab"]).to_json(),
    )
    world.iot.create_thing_group(thingGroupName="lab")
    world.add_thing("bench", groups=("lab",))
    certificate = world.add_certificate("bench")
    audit.add(task_id=TASK, check_name=SHARED, finding_id="s1", certificate_id=certificate)
    invoke(notification(SHARED))
    assert world.groups_of("bench") == ["lab"]
    assert world.notifications()[0]["skipped"] == ["thing bench is exempt; not quarantined"]


def test_breaker_holds_actions_past_the_limit_for_replay(world, audit, monkeypatch):
    monkeypatch.setenv("MAX_ACTIONS_PER_HOUR", "1")
    certificates = [world.iot.create_keys_and_certificate(setAsActive=True)["certificateId"] for _ in range(2)]
    for index, certificate in enumerate(certificates):
        audit.add(task_id=TASK, check_name=REVOKED, finding_id=f"f{index}", certificate_id=certificate)
    assert invoke(notification(REVOKED)) == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    assert [world.certificate_status(c) for c in certificates] == ["INACTIVE", "ACTIVE"]
    trips = [n for n in world.notifications() if "breaker" in n]
    assert len(trips) == 1 and trips[0]["breaker"]["held"] == certificates[1]
    assert "iot-defender breaker reset audit-actions" in trips[0]["breaker"]["what"]


def test_failed_audit_task_is_notified(world, audit):
    assert invoke(notification(status="FAILED")) == {"batchItemFailures": []}
    [notified] = world.notifications()
    assert notified["audit"]["taskStatus"] == "FAILED"
    assert audit.calls == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [("{", "not a Device Defender audit notification"), (json.dumps({"taskId": TASK}), "accountId")],
)
def test_fails_for_that_record_only_when_it_is_not_an_audit_notification(world, audit, body, reason):
    assert invoke(body, notification(status="FAILED")) == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    with pytest.raises(handler.UnreadableRecordError, match=reason):
        handler.read_notification(body)


def test_fails_at_cold_start_when_the_policy_names_an_unknown_action(world, monkeypatch):
    monkeypatch.setenv("AUDIT_REMEDIATION_POLICY", json.dumps({"checks": {REVOKED: ["burn"]}}))
    with pytest.raises(ConfigurationError) as raised:
        handler.runtime()
    assert str(raised.value) == (
        "invalid audit remediation configuration: AUDIT_REMEDIATION_POLICY checks."
        f"{REVOKED}[0] 'burn' is not one of notify, deactivate-certificate, quarantine-things"
    )


def test_policy_refuses_certificate_actions_on_checks_without_certificates():
    with pytest.raises(ValueError, match="needs a check whose findings name a device certificate"):
        AuditRemediationPolicy.from_dict({"checks": {"LOGGING_DISABLED_CHECK": ["deactivate-certificate"]}})
