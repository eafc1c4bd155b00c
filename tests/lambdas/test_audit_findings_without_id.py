"""Audit findings without ``findingId`` (optional in the API's ``AuditFinding``): the AWS CLI
documentation's own ``list-audit-findings`` example output, through the remediator on moto, and the
derived idempotency key, property-tested."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iot_defender_runtime.audit_remediation.finding_key import DERIVED_PREFIX, finding_key
from iot_defender_runtime.model.audit_remediation_policy import policy_of
from tests.fakes.audit_api import FakeAuditFindings
from tests.lambdas.conftest import QUARANTINE_GROUP, load_event
from tests.lambdas.test_audit_remediation import SHARED, invoke, notification

CLI_EXAMPLE = load_event("list_audit_findings_cli_example.json")["findings"]


@pytest.fixture
def fake_audit(world, monkeypatch) -> FakeAuditFindings:
    fake = FakeAuditFindings()
    fake.install(monkeypatch)
    return fake


def notification_of_task(task_id: str) -> str:
    event = json.loads(notification(SHARED))
    event["taskId"] = task_id
    return json.dumps(event)


def serve(fake: FakeAuditFindings, findings: list[dict[str, Any]]) -> None:
    fake.findings.extend(copy.deepcopy(findings))


def test_cli_example_findings_have_no_id_and_each_gets_its_own_key():
    assert all("findingId" not in finding for finding in CLI_EXAMPLE)
    keys = [finding_key(finding) for finding in CLI_EXAMPLE]
    assert len(set(keys)) == 3
    assert all(key.startswith(DERIVED_PREFIX) and len(key) == len(DERIVED_PREFIX) + 64 for key in keys)


def test_cli_example_findings_are_each_notified_once_however_often_their_audits_are_delivered(
    world, fake_audit, monkeypatch
):
    # Given the documentation's three findings (one shared certificate, three audit tasks), notify-only
    monkeypatch.setenv("AUDIT_REMEDIATION_POLICY", policy_of({SHARED: ["notify"]}).to_json())
    serve(fake_audit, CLI_EXAMPLE)
    bodies = [notification_of_task(finding["taskId"]) for finding in CLI_EXAMPLE]

    # When each audit's notification arrives twice (SNS and SQS deliver at least once)
    assert invoke(*bodies) == {"batchItemFailures": []}
    assert invoke(*bodies) == {"batchItemFailures": []}

    # Then every finding was notified exactly once, named by its derived key
    notified = [n for n in world.notifications() if n.get("check") == SHARED]
    assert sorted(n["finding"]["taskId"] for n in notified) == sorted(f["taskId"] for f in CLI_EXAMPLE)
    assert sorted(n["findingKey"] for n in notified) == sorted(finding_key(f) for f in CLI_EXAMPLE)
    assert all("findingId" not in n["finding"] for n in notified)


def test_finding_without_id_quarantines_once_and_is_logged_under_its_derived_key(world, fake_audit):
    # Given the documentation's first finding, naming a certificate this account has, shared by two things
    world.add_thing("clone-a")
    world.add_thing("clone-b")
    certificate = world.add_certificate("clone-a")
    arn = world.iot.describe_certificate(certificateId=certificate)["certificateDescription"]["certificateArn"]
    world.iot.attach_thing_principal(thingName="clone-b", principal=arn)
    finding = copy.deepcopy(CLI_EXAMPLE[0])
    finding["nonCompliantResource"]["resourceIdentifier"]["deviceCertificateId"] = certificate
    serve(fake_audit, [finding])
    body = notification_of_task(finding["taskId"])

    # When its audit notification arrives twice
    assert invoke(body) == {"batchItemFailures": []}
    assert invoke(body) == {"batchItemFailures": []}

    # Then both things are quarantined once, and the action log names the finding by its key
    key = finding_key(finding)
    assert QUARANTINE_GROUP in world.groups_of("clone-a") and QUARANTINE_GROUP in world.groups_of("clone-b")
    [notified] = [n for n in world.notifications() if n.get("check") == SHARED]
    assert notified["findingKey"] == key and len(notified["actionsTaken"]) == 2
    [logged] = world.action_items("clone-a")
    assert logged["findingId"] == key and logged["id"].endswith(f"#{key}")


def test_finding_with_an_id_keeps_it_as_its_key():
    assert finding_key({**CLI_EXAMPLE[0], "findingId": "f-1"}) == "f-1"


def test_key_is_the_same_whether_times_come_as_epoch_seconds_or_datetimes_and_whatever_the_key_order():
    finding = CLI_EXAMPLE[0]
    as_boto3 = {key: finding[key] for key in reversed(list(finding))}
    as_boto3["findingTime"] = datetime.fromtimestamp(finding["findingTime"], tz=UTC)
    assert finding_key(as_boto3) == finding_key(finding)


def test_suppression_or_a_new_reason_text_does_not_make_a_new_finding():
    finding = CLI_EXAMPLE[1]
    changed = {**finding, "isSuppressed": True, "reasonForNonCompliance": "reworded", "severity": "HIGH"}
    assert finding_key(changed) == finding_key(finding)


def test_missing_task_and_check_are_taken_from_the_audit_being_handled():
    finding = {k: v for k, v in CLI_EXAMPLE[0].items() if k not in ("taskId", "checkName")}
    assert finding_key(finding, task_id=CLI_EXAMPLE[0]["taskId"], check_name=SHARED) == finding_key(CLI_EXAMPLE[0])
    assert finding_key(finding, task_id="another-task", check_name=SHARED) != finding_key(CLI_EXAMPLE[0])


_names = st.text(alphabet="abcdef0123456789", min_size=1, max_size=6)
_identifier = st.one_of(
    st.builds(lambda c: {"deviceCertificateId": c}, _names),
    st.builds(lambda p, v: {"policyVersionIdentifier": {"policyName": p, "policyVersionId": v}}, _names, _names),
    st.builds(lambda c: {"clientId": c}, _names),
    st.builds(lambda a: {"account": a}, _names),
)
_resource = st.fixed_dictionaries(
    {
        "resourceType": st.sampled_from(["DEVICE_CERTIFICATE", "IOT_POLICY", "CLIENT_ID", "ACCOUNT_SETTINGS"]),
        "resourceIdentifier": _identifier,
    }
)
_finding = st.fixed_dictionaries(
    {
        "taskId": st.sampled_from(["t1", "t2"]),
        "checkName": st.sampled_from([SHARED, "IOT_POLICY_OVERLY_PERMISSIVE_CHECK"]),
        "findingTime": st.integers(min_value=1_500_000_000_000, max_value=1_500_000_000_003).map(lambda ms: ms / 1000),
        "nonCompliantResource": _resource,
    },
    optional={
        "severity": st.sampled_from(["CRITICAL", "LOW"]),
        "isSuppressed": st.booleans(),
        "reasonForNonCompliance": st.text(max_size=10),
    },
)


def _identity(finding: dict[str, Any]) -> str:
    """What tells two findings apart, independently of the code under test."""
    return json.dumps(
        [
            finding["taskId"],
            finding["checkName"],
            round(finding["findingTime"] * 1000),
            finding["nonCompliantResource"],
        ],
        sort_keys=True,
    )


@settings(max_examples=300, deadline=None)
@given(first=_finding, second=_finding)
def test_two_different_findings_without_id_never_share_a_key(first, second):
    assert (finding_key(first) == finding_key(second)) == (_identity(first) == _identity(second))


@settings(max_examples=200, deadline=None)
@given(finding=_finding)
def test_the_same_finding_delivered_twice_shares_one_key(finding):
    # A second delivery: serialized and read again, its keys in another order
    again = json.loads(json.dumps(dict(reversed(list(finding.items())))))
    assert finding_key(again) == finding_key(finding)
