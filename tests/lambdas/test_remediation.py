"""Issue-4 guarantees on moto: policy actions, idempotency, breaker, release, bad bodies, throttling."""

from __future__ import annotations

import json
from typing import Any

import pytest

from iot_defender_runtime.model.remediation_policy import RemediationPolicy, RemediationRule
from iot_defender_runtime.quarantine import handler, release
from iot_defender_runtime.remediation import breaker as quarantine_breaker
from iot_defender_runtime.remediation.config import ConfigurationError
from tests.lambdas.conftest import FLEET_GROUP, QUARANTINE_GROUP, TABLE, LambdaContext, load_event
from tests.lambdas.test_quarantine_handler import invoke, sqs_record


def in_alarm(thing: str, violation_id: str = "123456789", **changes: Any) -> dict[str, Any]:
    return {**load_event("violation_in_alarm_rule.json"), "thingName": thing, "violationId": violation_id, **changes}


def cleared(thing: str) -> dict[str, Any]:
    return {**load_event("violation_alarm_cleared_rule.json"), "thingName": thing}


def use_policy(monkeypatch, policy: RemediationPolicy) -> None:
    monkeypatch.setenv("REMEDIATION_POLICY", policy.to_json())
    handler.runtime.cache_clear()


CONTAIN_AND_RELEASE = RemediationPolicy(
    [
        RemediationRule(
            "contain", actions=["quarantine", "deactivate-certificates", "notify"], event_types=["in-alarm"]
        ),
        RemediationRule("release-on-clear", actions=["release", "notify"], event_types=["alarm-cleared"]),
    ]
)


def test_duplicate_delivery_acts_once_and_notifies_once(world):
    # Given one violation event delivered three times (SNS and SQS deliver at least once)
    world.add_thing("dup")
    body = json.dumps(in_alarm("dup"))

    # When it arrives twice in one batch and once more in a later batch
    first = invoke(sqs_record(body, "a"), sqs_record(body, "b"))
    second = invoke(sqs_record(body, "c"))

    # Then it was acted on and notified once
    assert first == second == {"batchItemFailures": []}
    assert QUARANTINE_GROUP in world.groups_of("dup")
    assert len(world.notifications()) == 1


def test_same_violation_with_a_new_event_type_is_a_new_event(world):
    world.add_thing("dup")
    invoke(sqs_record(json.dumps(in_alarm("dup", "v1")), "a"))
    invoke(sqs_record(json.dumps({**in_alarm("dup", "v1"), "violationEventType": "alarm-cleared"}), "b"))
    assert [n["violation"]["violationEventType"] for n in world.notifications()] == ["in-alarm", "alarm-cleared"]


STATISTICAL = {
    "comparisonOperator": "greater-than",
    "statisticalThreshold": {"statistic": "p90"},
    "durationSeconds": 300,
}
ML = {"mlDetectionConfig": {"confidenceLevel": "HIGH"}, "consecutiveDatapointsToAlarm": 1}
RULE = {"comparisonOperator": "greater-than", "value": {"count": 5000}}


@pytest.mark.parametrize("criteria", [RULE, STATISTICAL, ML], ids=["rule", "statistical", "ml"])
@pytest.mark.parametrize(
    ("event_type", "moved"), [("in-alarm", True), ("alarm-cleared", False), ("alarm-invalidated", False)]
)
def test_every_event_type_and_criteria_kind(world, criteria, event_type, moved):
    world.add_thing("kinds")
    event = in_alarm("kinds", violationEventType=event_type)
    event["behavior"] = {**event["behavior"], "criteria": criteria}
    assert invoke(sqs_record(json.dumps(event), "m")) == {"batchItemFailures": []}
    assert (QUARANTINE_GROUP in world.groups_of("kinds")) is moved
    [notification] = world.notifications()
    assert notification["violation"]["behavior"]["criteria"] == criteria


def test_deactivates_certificates_and_release_restores_groups_and_certificate_states_exactly(
    world, monkeypatch, capsys
):
    # Given a thing in two groups with one active and one inactive certificate, and a containing policy
    use_policy(monkeypatch, CONTAIN_AND_RELEASE)
    world.iot.create_thing_group(thingGroupName="plant-a")
    world.add_thing("meter-7", groups=(FLEET_GROUP, "plant-a"))
    active = world.add_certificate("meter-7", active=True)
    inactive = world.add_certificate("meter-7", active=False)

    # When it goes in alarm
    assert invoke(sqs_record(json.dumps(in_alarm("meter-7")), "m")) == {"batchItemFailures": []}

    # Then it is quarantined, its active certificate deactivated, and the prior states recorded
    assert world.groups_of("meter-7") == sorted([FLEET_GROUP, "plant-a", QUARANTINE_GROUP])
    assert (world.certificate_status(active), world.certificate_status(inactive)) == ("INACTIVE", "INACTIVE")
    record = world.record_of("meter-7")
    assert {k: v["S"] for k, v in record["certificatesBefore"]["M"].items()} == {active: "ACTIVE", inactive: "INACTIVE"}
    [notification] = world.notifications()
    assert notification["actionsTaken"] == [
        f"added to thing group {QUARANTINE_GROUP}",
        f"deactivated certificate {active}",
    ]

    # When an operator removed it from plant-a meanwhile, and then releases it with the CLI
    world.iot.remove_thing_from_thing_group(thingGroupName="plant-a", thingName="meter-7")
    assert release.main(["meter-7", "--reason", "firmware fixed"]) == 0

    # Then groups and certificate states are exactly as before, the record is gone, operators are told
    assert world.groups_of("meter-7") == sorted([FLEET_GROUP, "plant-a"])
    assert (world.certificate_status(active), world.certificate_status(inactive)) == ("ACTIVE", "INACTIVE")
    assert world.record_of("meter-7") is None
    [released] = world.notifications()
    assert released["release"] == {
        "by": "operator",
        "reason": "firmware fixed",
        "changes": [
            f"removed from thing group {QUARANTINE_GROUP}",
            "added back to thing group plant-a",
            f"certificate {active} set back to ACTIVE",
        ],
    }
    assert capsys.readouterr().out.splitlines()[-1].startswith("released meter-7: removed from thing group")

    # And every change is in the action log: what, why, which violation, by whom
    assert world.action_log("meter-7") == [
        {
            "changes": [f"added to thing group {QUARANTINE_GROUP}", f"deactivated certificate {active}"],
            "by": "rule contain",
            "violationId": "123456789",
            "reason": notification["decision"]["reason"],
        },
        {"changes": released["release"]["changes"], "by": "operator", "violationId": None, "reason": "firmware fixed"},
    ]


def test_release_refuses_when_there_is_no_record(world, capsys):
    world.add_thing("never-held")
    assert release.main(["never-held"]) == 2
    assert capsys.readouterr().err.strip() == (
        "no quarantine record for thing 'never-held': refusing to release, because there is no known state to "
        "restore (was it quarantined by this responder, or already released?)"
    )
    assert world.notifications() == []


def test_policy_rule_releases_on_alarm_cleared(world, monkeypatch):
    use_policy(monkeypatch, CONTAIN_AND_RELEASE)
    world.add_thing("meter-8")
    certificate = world.add_certificate("meter-8")
    invoke(sqs_record(json.dumps(in_alarm("meter-8")), "m1"))
    invoke(sqs_record(json.dumps(cleared("meter-8")), "m2"))
    assert world.groups_of("meter-8") == [FLEET_GROUP]
    assert world.certificate_status(certificate) == "ACTIVE"
    outcomes = [(n["decision"]["rule"], n["decision"]["outcome"]) for n in world.notifications()]
    assert outcomes == [("contain", "remediate"), ("release-on-clear", "remediate")]


def test_breaker_trips_at_the_limit_and_not_before_then_notifies_once(world, monkeypatch):
    # Given a limit of 2 quarantines per hour and four misbehaving things
    monkeypatch.setenv("MAX_QUARANTINES_PER_HOUR", "2")
    for index in range(4):
        world.add_thing(f"t{index}")
    records = [sqs_record(json.dumps(in_alarm(f"t{i}", f"v{i}")), f"m{i}") for i in range(3)]

    # When three violations arrive in one batch
    response = invoke(*records)

    # Then two are quarantined, the third is held for replay, and the trip is announced once
    assert response == {"batchItemFailures": [{"itemIdentifier": "m2"}]}
    assert [QUARANTINE_GROUP in world.groups_of(f"t{i}") for i in range(3)] == [True, True, False]
    notifications = world.notifications()
    trips = [n for n in notifications if "breaker" in n]
    assert len(trips) == 1
    assert trips[0]["breaker"]["limit"] == 2
    assert trips[0]["breaker"]["held"] == "t2"
    assert "iot-defender breaker reset quarantines" in trips[0]["breaker"]["what"]
    assert sum(1 for n in notifications if n.get("decision")) == 2

    # When the held record is retried and a fourth arrives, Then both stay held and no second alarm is raised
    again = invoke(records[2], sqs_record(json.dumps(in_alarm("t3", "v3")), "m3"))
    assert again == {"batchItemFailures": [{"itemIdentifier": "m2"}, {"itemIdentifier": "m3"}]}
    assert world.notifications() == []

    # When an operator resets the breaker, Then the held record is admitted on replay
    monkeypatch.setenv("STATE_TABLE_NAME", TABLE)
    assert quarantine_breaker.main(["breaker", "reset"]) == 0
    assert invoke(records[2]) == {"batchItemFailures": []}
    assert QUARANTINE_GROUP in world.groups_of("t2")


def test_breaker_resets_by_itself_an_hour_after_tripping(world):
    clock = [1_000_000.0]
    breaker = quarantine_breaker.QuarantineBreaker(TABLE, 1, dynamodb=world.dynamodb, clock=lambda: clock[0])
    assert breaker.acquire().admitted
    refused = breaker.acquire()
    assert (refused.admitted, refused.newly_tripped) == (False, True)
    clock[0] += 3599
    assert breaker.acquire() == quarantine_breaker.Admission(False, False, 1)
    clock[0] += 2
    assert breaker.acquire().admitted


def test_dry_run_with_a_policy_changes_no_certificate(world, monkeypatch):
    use_policy(monkeypatch, CONTAIN_AND_RELEASE)
    monkeypatch.setenv("DRY_RUN", "true")
    world.add_thing("dry")
    certificate = world.add_certificate("dry")
    invoke(sqs_record(json.dumps(in_alarm("dry")), "m"))
    assert world.groups_of("dry") == [FLEET_GROUP]
    assert world.certificate_status(certificate) == "ACTIVE"
    assert world.record_of("dry") is None
    [notification] = world.notifications()
    assert notification["decision"]["actions"] == ["quarantine", "deactivate-certificates", "notify"]
    assert notification["actionsTaken"] == []


def test_exempt_group_from_the_policy_is_never_acted_on(world, monkeypatch):
    use_policy(monkeypatch, RemediationPolicy(CONTAIN_AND_RELEASE.rules, exempt_groups=["lab"]))
    world.iot.create_thing_group(thingGroupName="lab")
    world.add_thing("bench", groups=("lab",))
    certificate = world.add_certificate("bench")
    invoke(sqs_record(json.dumps(in_alarm("bench")), "m"))
    assert world.groups_of("bench") == ["lab"]
    assert world.certificate_status(certificate) == "ACTIVE"
    assert world.notifications()[0]["decision"]["outcome"] == "exempt"


def test_fails_at_cold_start_when_the_policy_is_invalid_naming_the_field(world, monkeypatch):
    monkeypatch.setenv(
        "REMEDIATION_POLICY",
        json.dumps({"rules": [{"name": "r", "actions": ["notify"], "match": {"eventTypes": ["on"]}}]}),
    )
    handler.runtime.cache_clear()
    with pytest.raises(ConfigurationError) as raised:
        handler.runtime()
    assert str(raised.value) == (
        "invalid quarantine configuration: REMEDIATION_POLICY rules[0] ('r').match.eventTypes[0] 'on' is not one "
        "of in-alarm, alarm-cleared, alarm-invalidated"
    )


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (json.dumps(load_event("violation_in_alarm_rule.json"))[:120], "not valid JSON"),
        (json.dumps({**load_event("violation_in_alarm_rule.json"), "pad": "x" * (256 * 1024 - 600)}), "bytes"),
        ('{"thingName": "\udcff"}', "not valid UTF-8"),
    ],
    ids=["truncated", "oversized-256KB", "non-utf8"],
)
def test_fails_for_that_record_only_when_body_is_truncated_oversized_or_not_utf8(world, body, reason, caplog):
    world.add_thing("myIoTDevice")
    good = sqs_record(json.dumps(load_event("violation_in_alarm_rule.json")), "good")
    assert invoke(sqs_record(body, "bad"), good) == {"batchItemFailures": [{"itemIdentifier": "bad"}]}
    assert QUARANTINE_GROUP in world.groups_of("myIoTDevice")
    with pytest.raises(handler.UnreadableRecordError, match=reason):
        handler.read_violation(body)


def test_iot_throttling_is_retried(world):
    # Given the IoT API throttles the first AddThingToThingGroup call
    from botocore.awsrequest import AWSResponse

    from iot_defender_runtime.adapters.aws_clients import client

    world.add_thing("busy")
    calls = {"count": 0}

    def throttle_once(request, **_: Any) -> AWSResponse | None:
        calls["count"] += 1
        if calls["count"] == 1:
            body = json.dumps({"message": "Rate exceeded"}).encode()
            headers = {"x-amzn-ErrorType": "ThrottlingException", "Content-Type": "application/json"}
            return AWSResponse(request.url, 429, headers, _Raw(body))
        return None

    client("iot").meta.events.register_first("before-send.iot.AddThingToThingGroup", throttle_once)

    # When the violation is handled, Then the call was retried and the thing is quarantined
    assert invoke(sqs_record(json.dumps(in_alarm("busy")), "m")) == {"batchItemFailures": []}
    assert calls["count"] == 2
    assert QUARANTINE_GROUP in world.groups_of("busy")


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any):
        yield self._body

    def read(self, *_: Any) -> bytes:
        return self._body


def test_unknown_fields_survive_into_the_notification(world):
    world.add_thing("myIoTDevice")
    event = {**load_event("violation_in_alarm_rule.json"), "newField": [1, 2]}
    invoke(sqs_record(json.dumps(event), "m"))
    assert world.notifications()[0]["violation"]["newField"] == [1, 2]


def test_direct_sns_event_reuses_the_same_context(world):
    world.add_thing("myIoTDevice")
    event = {"Records": [{"EventSource": "aws:sns", "Sns": {"Message": json.dumps(in_alarm("myIoTDevice"))}}]}
    handler.lambda_handler(event, LambdaContext())
    handler.lambda_handler(event, LambdaContext())
    assert len(world.notifications()) == 1


def test_breaker_counts_two_quarantines_in_the_same_instant(world):
    breaker = quarantine_breaker.QuarantineBreaker(TABLE, 2, dynamodb=world.dynamodb, clock=lambda: 5.0)
    assert breaker.acquire().admitted and breaker.acquire().admitted
    assert breaker.acquire() == quarantine_breaker.Admission(False, True, 2)


@pytest.mark.parametrize("subjects", [{}, {"thing_name": "t", "certificate_id": "c"}], ids=["none", "both"])
def test_an_action_is_logged_about_exactly_one_subject(world, subjects):
    from iot_defender_runtime.adapters.quarantine_records import QuarantineRecords

    with pytest.raises(ValueError, match="exactly one subject"):
        QuarantineRecords(TABLE, world.dynamodb).log_action(what=["x"], why="y", by="z", **subjects)
