"""Issue 16 on moto: every action is notified at least once whatever fails after it, the breaker counts
actions not attempts, exemptions hold for both functions (attribute, child groups, shared certificates),
and the action log keeps every change even when a later step of the same decision fails."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from iot_defender_runtime.adapters.aws_clients import client
from iot_defender_runtime.model.audit_remediation_policy import policy_of
from iot_defender_runtime.model.remediation_policy import RemediationPolicy, RemediationRule
from iot_defender_runtime.remediation import breaker as breakers
from tests.fakes.audit_api import FakeAuditFindings
from tests.lambdas import test_audit_remediation as audit_tests
from tests.lambdas.conftest import FLEET_GROUP, QUARANTINE_GROUP, TABLE
from tests.lambdas.test_quarantine_handler import invoke, sqs_record
from tests.lambdas.test_remediation import in_alarm, use_policy

TASK = audit_tests.TASK
CONTAIN = RemediationPolicy(
    [RemediationRule("contain", actions=["quarantine", "deactivate-certificates", "notify"], event_types=["in-alarm"])]
)


class Faults:
    """Fail chosen calls of the function's clients the way a call fails once botocore's retries are
    exhausted (a ClientError), from a ``before-call`` hook: the call never reaches moto."""

    def __init__(self) -> None:
        self.plan: dict[str, list[bool]] = {}
        self.failed: list[str] = []

    def fail(self, operation: str, *pattern: bool) -> None:
        """``pattern``: for each next call of ``operation``, whether it fails (then it succeeds)."""
        self.plan[operation] = list(pattern)

    def hook(self, model: Any, **_: Any) -> None:
        pattern = self.plan.get(model.name)
        if pattern and pattern.pop(0):
            self.failed.append(model.name)
            code = "ThrottlingException" if model.name != "Publish" else "InternalError"
            raise ClientError({"Error": {"Code": code, "Message": "injected"}}, model.name)


@pytest.fixture
def faults(world) -> Iterator[Faults]:
    injected = Faults()
    for service in ("iot", "sns"):
        client(service).meta.events.register(f"before-call.{service}", injected.hook)
    yield injected


@pytest.fixture
def audit(world, monkeypatch) -> FakeAuditFindings:
    fake = FakeAuditFindings()
    fake.install(monkeypatch)
    return fake


def drain(call: Callable[[], dict[str, Any]], limit: int = 10) -> list[dict[str, Any]]:
    """Invoke until no record fails (SQS redelivers a failed record), returning each response."""
    responses = [call()]
    while responses[-1]["batchItemFailures"] and len(responses) < limit:
        responses.append(call())
    return responses


def decisions(world) -> list[dict[str, Any]]:
    return [n for n in world.notifications() if "decision" in n or "check" in n]


# 1. A notification for every action, whatever fails in between, and one in the normal path.


def test_quarantine_notification_survives_a_publish_failure_after_the_registry_change(world, faults):
    world.add_thing("meter-1")
    faults.fail("Publish", True)
    record = sqs_record(json.dumps(in_alarm("meter-1")), "m")

    responses = drain(lambda: invoke(record))

    assert [r["batchItemFailures"] for r in responses] == [[{"itemIdentifier": "m"}], []]
    assert faults.failed == ["Publish"]
    [notified] = decisions(world)
    assert notified["decision"]["outcome"] == "remediate"
    assert notified["actionsTaken"] == [f"added to thing group {QUARANTINE_GROUP}"]
    assert [e["changes"] for e in world.action_log("meter-1")] == [[f"added to thing group {QUARANTINE_GROUP}"]]
    assert not [i for i in world.dynamodb.scan(TableName=TABLE)["Items"] if i["id"]["S"].startswith("notice#")]


def test_audit_notification_survives_a_publish_failure_after_the_certificate_change(world, faults, audit):
    certificate = world.iot.create_keys_and_certificate(setAsActive=True)["certificateId"]
    audit.add(task_id=TASK, check_name=audit_tests.REVOKED, finding_id="f1", certificate_id=certificate)
    faults.fail("Publish", True)
    body = audit_tests.notification(audit_tests.REVOKED)

    responses = drain(lambda: audit_tests.invoke(body))

    assert len(responses) == 2 and faults.failed == ["Publish"]
    assert world.certificate_status(certificate) == "INACTIVE"
    [notified] = decisions(world)
    assert notified["actionsTaken"] == [f"certificate {certificate} set from ACTIVE to INACTIVE"]


# 2. The breaker counts quarantines, not attempts.


def test_breaker_admits_exactly_its_limit_of_quarantines_under_throttling(world, faults, monkeypatch):
    # Given a limit of 3 and 5 misbehaving things, and the IoT API throttling every first group move
    monkeypatch.setenv("MAX_QUARANTINES_PER_HOUR", "3")
    for index in range(5):
        world.add_thing(f"t{index}")
    faults.fail("AddThingToThingGroup", True, False, True, False, True, False, True, False)
    records = {f"m{i}": sqs_record(json.dumps(in_alarm(f"t{i}", f"v{i}")), f"m{i}") for i in range(5)}

    # When the batch is delivered, and its failed records again, until only held ones fail
    pending = list(records)
    for _ in range(6):
        response = invoke(*(records[m] for m in pending))
        pending = [f["itemIdentifier"] for f in response["batchItemFailures"]]

    # Then exactly 3 things are quarantined, with 3 slots taken, and the other 2 are held
    quarantined = [i for i in range(5) if QUARANTINE_GROUP in world.groups_of(f"t{i}")]
    assert len(quarantined) == 3
    assert len(pending) == 2
    state = breakers.QuarantineBreaker(TABLE, 3, dynamodb=world.dynamodb).state()
    assert (len(state.events), state.tripped_at is not None) == (3, True)
    assert len(faults.failed) >= 3


def test_a_retry_reuses_its_slot_even_after_the_trip_and_a_new_key_is_held():
    state = breakers.BreakerState((), None, 0)
    admission, state = breakers.admit(state, 10.0, 1, key="a")
    assert admission.admitted and state is not None
    refused, tripped = breakers.admit(state, 11.0, 1, key="b")
    assert (refused.admitted, refused.newly_tripped) == (False, True)
    assert tripped is not None
    again, unchanged = breakers.admit(tripped, 12.0, 1, key="a")
    assert (again.admitted, unchanged) == (True, None)


def test_two_violations_of_one_thing_take_one_slot(world):
    world.add_thing("twice")
    assert invoke(sqs_record(json.dumps(in_alarm("twice", "v1")), "a")) == {"batchItemFailures": []}
    world.iot.remove_thing_from_thing_group(thingGroupName=QUARANTINE_GROUP, thingName="twice")
    assert invoke(sqs_record(json.dumps(in_alarm("twice", "v2")), "b")) == {"batchItemFailures": []}
    state = breakers.QuarantineBreaker(TABLE, 50, dynamodb=world.dynamodb).state()
    assert len(state.events) == 1


def test_a_second_violation_of_a_thing_being_quarantined_is_retried_not_acted_on_twice(world):
    # Given violation v1 has claimed the thing (its record is written) but not moved it yet
    from datetime import UTC, datetime

    from iot_defender_runtime.adapters.quarantine_records import QuarantineRecord, QuarantineRecords

    world.add_thing("racy")
    QuarantineRecords(TABLE, world.dynamodb).save_if_absent(
        QuarantineRecord("racy", QUARANTINE_GROUP, (FLEET_GROUP,), "v1", "p", "b", datetime.now(tz=UTC))
    )
    record = sqs_record(json.dumps(in_alarm("racy", "v2")), "b")

    # When v2 arrives, Then it is retried and does nothing
    assert invoke(record) == {"batchItemFailures": [{"itemIdentifier": "b"}]}
    assert world.groups_of("racy") == [FLEET_GROUP] and world.action_log("racy") == []

    # When v1 has moved it, Then v2's retry finds it quarantined
    world.iot.add_thing_to_thing_group(thingGroupName=QUARANTINE_GROUP, thingName="racy")
    assert invoke(record) == {"batchItemFailures": []}
    assert [n["decision"]["outcome"] for n in decisions(world)] == ["already-quarantined"]


# 3. Exemptions hold everywhere.


def test_audit_leaves_the_certificate_of_a_thing_exempt_by_attribute_active(world, audit):
    world.add_thing("bench", attributes={"quarantine_exempt": "true"})
    certificate = world.add_certificate("bench")
    audit.add(task_id=TASK, check_name=audit_tests.REVOKED, finding_id="f1", certificate_id=certificate)

    assert audit_tests.invoke(audit_tests.notification(audit_tests.REVOKED)) == {"batchItemFailures": []}

    assert world.certificate_status(certificate) == "ACTIVE"
    assert world.action_items(certificate) == []
    [notified] = decisions(world)
    assert notified["skipped"] == [
        f"certificate {certificate} not deactivated: used by exempt thing bench (attribute quarantine_exempt=true)"
    ]


def test_deactivation_leaves_a_certificate_shared_with_an_exempt_thing_active(world, monkeypatch):
    use_policy(monkeypatch, CONTAIN)
    world.add_thing("meter-1")
    world.add_thing("bench", attributes={"quarantine_exempt": "true"})
    shared = world.add_certificate("meter-1")
    own = world.add_certificate("meter-1")
    arn = world.iot.describe_certificate(certificateId=shared)["certificateDescription"]["certificateArn"]
    world.iot.attach_thing_principal(thingName="bench", principal=arn)

    assert invoke(sqs_record(json.dumps(in_alarm("meter-1")), "m")) == {"batchItemFailures": []}

    assert (world.certificate_status(shared), world.certificate_status(own)) == ("ACTIVE", "INACTIVE")
    assert QUARANTINE_GROUP in world.groups_of("meter-1")
    [notified] = decisions(world)
    assert notified["actionsTaken"] == [f"added to thing group {QUARANTINE_GROUP}", f"deactivated certificate {own}"]
    assert notified["skipped"] == [
        f"certificate {shared} left active: used by exempt thing bench (attribute quarantine_exempt=true)"
    ]


def child_of_exempt_group(world) -> None:
    world.iot.create_thing_group(thingGroupName="lab")
    world.iot.create_thing_group(thingGroupName="lab-bench", parentGroupName="lab")
    world.add_thing("probe", groups=("lab-bench",))


def test_a_thing_in_a_child_group_of_an_exempt_group_is_exempt_from_quarantine(world, monkeypatch):
    use_policy(monkeypatch, RemediationPolicy(RemediationPolicy.default().rules, exempt_groups=["lab"]))
    child_of_exempt_group(world)

    assert invoke(sqs_record(json.dumps(in_alarm("probe")), "m")) == {"batchItemFailures": []}

    assert world.groups_of("probe") == ["lab-bench"]
    [notified] = decisions(world)
    assert notified["decision"]["outcome"] == "exempt"
    assert "member of exempt group lab through a child group" in notified["decision"]["reason"]


def test_a_thing_in_a_child_group_of_an_exempt_group_is_exempt_from_the_audit(world, audit, monkeypatch):
    policy = policy_of({audit_tests.SHARED: ["quarantine-things", "deactivate-certificate", "notify"]}, ["lab"])
    monkeypatch.setenv("AUDIT_REMEDIATION_POLICY", policy.to_json())
    child_of_exempt_group(world)
    world.add_thing("clone")
    certificate = world.add_certificate("probe")
    arn = world.iot.describe_certificate(certificateId=certificate)["certificateDescription"]["certificateArn"]
    world.iot.attach_thing_principal(thingName="clone", principal=arn)
    audit.add(task_id=TASK, check_name=audit_tests.SHARED, finding_id="s1", certificate_id=certificate)

    assert audit_tests.invoke(audit_tests.notification(audit_tests.SHARED)) == {"batchItemFailures": []}

    assert world.groups_of("probe") == ["lab-bench"]
    assert QUARANTINE_GROUP in world.groups_of("clone")  # quarantining clone touches neither probe nor the certificate
    assert world.certificate_status(certificate) == "ACTIVE"


# 4. The action log keeps every change, even when a later step fails.


def test_action_log_keeps_the_quarantine_when_the_certificate_update_fails(world, faults, monkeypatch):
    use_policy(monkeypatch, CONTAIN)
    world.add_thing("meter-1")
    certificate = world.add_certificate("meter-1")
    faults.fail("UpdateCertificate", True)
    record = sqs_record(json.dumps(in_alarm("meter-1")), "m")

    assert invoke(record) == {"batchItemFailures": [{"itemIdentifier": "m"}]}
    assert [e["changes"] for e in world.action_log("meter-1")] == [[f"added to thing group {QUARANTINE_GROUP}"]]
    assert decisions(world) == []

    assert invoke(record) == {"batchItemFailures": []}
    assert world.certificate_status(certificate) == "INACTIVE"
    logged = [change for entry in world.action_log("meter-1") for change in entry["changes"]]
    assert logged == [f"added to thing group {QUARANTINE_GROUP}", f"deactivated certificate {certificate}"]
    [notified] = decisions(world)
    assert (notified["decision"]["outcome"], notified["actionsTaken"]) == ("remediate", logged)


def test_action_log_keeps_the_first_quarantine_when_the_breaker_holds_the_second(world, audit, monkeypatch):
    monkeypatch.setenv("MAX_ACTIONS_PER_HOUR", "1")
    world.add_thing("clone-a")
    world.add_thing("clone-b")
    certificate = world.add_certificate("clone-a")
    arn = world.iot.describe_certificate(certificateId=certificate)["certificateDescription"]["certificateArn"]
    world.iot.attach_thing_principal(thingName="clone-b", principal=arn)
    audit.add(task_id=TASK, check_name=audit_tests.SHARED, finding_id="s1", certificate_id=certificate)
    body = audit_tests.notification(audit_tests.SHARED)

    assert audit_tests.invoke(body) == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    moved = [name for name in ("clone-a", "clone-b") if QUARANTINE_GROUP in world.groups_of(name)]
    assert len(moved) == 1 and len(world.action_items(moved[0])) == 1
    # The change made is announced now, though the record may wait in the dead-letter queue
    [held] = decisions(world)
    assert held["held"] is True and held["actionsTaken"] == [
        f"thing {moved[0]} added to thing group {QUARANTINE_GROUP}"
    ]

    breakers.QuarantineBreaker(TABLE, 0, dynamodb=world.dynamodb, breaker_id=breakers.AUDIT_BREAKER_ID).reset()
    assert audit_tests.invoke(body) == {"batchItemFailures": []}
    assert all(len(world.action_items(name)) == 1 for name in ("clone-a", "clone-b"))
    [notified] = decisions(world)
    assert sorted(notified["actionsTaken"]) == [
        f"thing clone-a added to thing group {QUARANTINE_GROUP}",
        f"thing clone-b added to thing group {QUARANTINE_GROUP}",
    ]
    assert notified["skipped"] == []
