"""The operator's view of self-hosted Detect on moto: every violation the evaluator publishes is kept
in the state table and read back through ListActiveViolations, ListViolationEvents and
PutVerificationStateOnViolation look-alikes (checked against botocore's ``ActiveViolation`` and
``ViolationEvent``), from the library and the command line; a FALSE_POSITIVE releases the thing
the responder quarantined for it. The command line is ``iot-defender violations``."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from iot_defender_runtime.adapters.detect_state import DetectStates
from iot_defender_runtime.adapters.violation_log import RETENTION_DAYS, UnknownViolationError, ViolationLog
from iot_defender_runtime.detect_evaluator import handler
from iot_defender_runtime.model.behavior_definition import BehaviorDefinition, BehaviorKind
from iot_defender_runtime.operator import cli
from iot_defender_runtime.quarantine import handler as quarantine_handler
from tests.lambdas.api_shapes import api_shape, problems
from tests.lambdas.conftest import FLEET_GROUP, QUARANTINE_GROUP, TABLE, LambdaContext

STORM = BehaviorDefinition(
    "MessageStorm", "aws:num-messages-sent", BehaviorKind.RULE, "less-than-equals", {"count": 100}, duration_seconds=300
)
T0 = 1_700_000_100  # a window boundary


@pytest.fixture
def evaluator(world, monkeypatch):
    monkeypatch.setenv("DETECT_PROFILES", json.dumps({"profiles": [{"name": "fleet", "behaviors": [STORM.to_api()]}]}))
    return world


def record(sequence: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "kinesis": {
            "partitionKey": body["thingName"],
            "sequenceNumber": sequence,
            "data": base64.b64encode(json.dumps(body).encode()).decode(),
            "approximateArrivalTimestamp": float(T0 + 10**6),  # stream time: the batch's now
        },
        "eventSource": "aws:kinesis",
        "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/datapoints",
    }


def sent(sequence: str, thing: str, value: int, seconds: float) -> dict[str, Any]:
    """A count of messages sent, ``seconds`` after T0."""
    timestamp = int((T0 + seconds) * 1000)
    return record(
        sequence, {"thingName": thing, "metric": "aws:num-messages-sent", "value": value, "timestamp": timestamp}
    )


def alerts(world) -> list[dict[str, Any]]:
    """The alerts published since the last look, as published (the capture adds the SNS subject)."""
    return [{k: v for k, v in n.items() if k != "subject"} for n in world.notifications()]


def alarm_then_clear(world) -> tuple[dict[str, Any], dict[str, Any]]:
    """t1 goes into alarm (window T0..T0+300) and clears (next window); the two published alerts."""
    handler.evaluate_batch([sent("1", "t1", 500, 10)], now=T0 + 361)
    handler.evaluate_batch([sent("2", "t1", 5, 310)], now=T0 + 661)
    alarm, clear = alerts(world)
    return alarm, clear


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(T0 + seconds, tz=UTC)


def test_a_violation_in_alarm_is_listed_as_the_api_active_violation(evaluator):
    # Given t1 in alarm
    handler.evaluate_batch([sent("1", "t1", 500, 10)], now=T0 + 361)
    [alarm] = alerts(evaluator)
    # When an operator lists active violations
    [active] = ViolationLog(TABLE).list_active_violations()
    # Then it is the API's ActiveViolation of the published alert, which is the API's ViolationEvent
    assert active == {
        "violationId": alarm["violationId"],
        "thingName": "t1",
        "securityProfileName": "fleet",
        "behavior": STORM.to_api(),
        "lastViolationValue": {"count": 500},
        "lastViolationTime": at(300),
        "violationStartTime": at(300),
    }
    assert problems(active, api_shape("ActiveViolation")) == []
    assert problems(alarm, api_shape("ViolationEvent"), timestamps="epoch_ms") == []
    assert ViolationLog(TABLE).list_active_violations(thing_name="t2") == []
    assert ViolationLog(TABLE).list_active_violations(security_profile_name="other") == []


def test_a_cleared_violation_is_not_active_and_its_events_are_listed_by_time(evaluator):
    alarm, clear = alarm_then_clear(evaluator)
    log = ViolationLog(TABLE)
    assert log.list_active_violations() == []
    events = log.list_violation_events(at(0), at(1000))
    assert [(e["violationEventType"], e["violationEventTime"]) for e in events] == [
        ("in-alarm", at(300)),
        ("alarm-cleared", at(600)),
    ]
    assert [problems(e, api_shape("ViolationEvent")) for e in events] == [[], []]
    assert problems(clear, api_shape("ViolationEvent"), timestamps="epoch_ms") == []
    assert [e["violationEventType"] for e in log.list_violation_events(T0 + 301, T0 + 600)] == ["alarm-cleared"]
    assert log.list_violation_events(at(601), at(900)) == []
    # Kept RETENTION_DAYS after it ended (the table's TTL attribute)
    item = evaluator.dynamodb.get_item(TableName=TABLE, Key={"id": {"S": f"detect-violation#{alarm['violationId']}"}})
    assert int(item["Item"]["expiresAt"]["N"]) == T0 + 600 + RETENTION_DAYS * 86_400


def test_a_silent_thing_invalidated_by_the_sweep_is_logged(world, monkeypatch):
    # Given a per-message size behavior in alarm, and the thing silent for Device Defender's 2 days
    size = BehaviorDefinition("Size", "aws:message-byte-size", BehaviorKind.RULE, "less-than-equals", {"count": 1024})
    monkeypatch.setenv("DETECT_PROFILES", json.dumps({"profiles": [{"name": "fleet", "behaviors": [size.to_api()]}]}))
    payload = base64.b64encode(b"x" * 2000).decode()
    message = {"thingName": "t1", "kind": "message", "base64Length": len(payload), "timestamp": (T0 + 10) * 1000}
    handler.evaluate_batch([record("1", {**message, "padded1": False, "padded2": False})], now=T0 + 11)
    # When the sweep invalidates its alarm
    assert handler.sweep(now=T0 + 10 + 2 * 86_400)["invalidated"] == 1
    # Then both events are in the log, and the violation is no longer active
    assert ViolationLog(TABLE).list_active_violations() == []
    events = ViolationLog(TABLE).list_violation_events(at(0), at(2 * 86_400 + 10))
    assert [e["violationEventType"] for e in events] == ["in-alarm", "alarm-invalidated"]
    assert [e["violationEventType"] for e in alerts(world)] == ["in-alarm", "alarm-invalidated"]


def test_a_publish_repeated_after_a_failed_state_write_logs_the_event_once(evaluator, monkeypatch):
    # Given the state write fails once after the publish (Kinesis retries the batch)
    put, calls = DetectStates.put, {"n": 0}

    def flaky(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("DynamoDB unavailable")
        return put(self, *args, **kwargs)

    monkeypatch.setattr(DetectStates, "put", flaky)
    with pytest.raises(RuntimeError):
        handler.evaluate_batch([sent("1", "t1", 500, 10)], now=T0 + 361)
    handler.evaluate_batch([sent("1", "t1", 500, 10)], now=T0 + 362)
    # Then the alert went out twice with one violationId, and the log holds one violation, one event
    first, second = alerts(evaluator)
    assert first == second
    assert len(ViolationLog(TABLE).list_active_violations()) == 1
    assert len(ViolationLog(TABLE).list_violation_events(at(0), at(1000))) == 1


def test_a_verification_state_shows_in_both_lists_and_filters_them(evaluator):
    alarm, _ = alarm_then_clear(evaluator)
    handler.evaluate_batch([sent("3", "t1", 500, 610)], now=T0 + 961)  # a second violation, active
    log = ViolationLog(TABLE)
    [active] = log.list_active_violations()
    log.put_verification_state_on_violation(active["violationId"], "BENIGN_POSITIVE", "firmware update storm")
    log.put_verification_state_on_violation(alarm["violationId"], "FALSE_POSITIVE")
    [active] = log.list_active_violations(verification_state="BENIGN_POSITIVE")
    assert (active["verificationState"], active["verificationStateDescription"]) == (
        "BENIGN_POSITIVE",
        "firmware update storm",
    )
    assert log.list_active_violations(verification_state="TRUE_POSITIVE") == []
    events = log.list_violation_events(at(0), at(2000), verification_state="FALSE_POSITIVE")
    assert [(e["violationId"], e["verificationState"]) for e in events] == [
        (alarm["violationId"], "FALSE_POSITIVE")
    ] * 2
    assert [problems(e, api_shape("ViolationEvent")) for e in events] == [[], []]
    assert problems(active, api_shape("ActiveViolation")) == []


@pytest.mark.parametrize(
    ("state", "description", "message"),
    [
        (
            "WRONG",
            None,
            "verification state 'WRONG' is not one of TRUE_POSITIVE, FALSE_POSITIVE, BENIGN_POSITIVE, UNKNOWN",
        ),
        ("UNKNOWN", "x" * 1001, "a verification state description is at most 1000 characters, got 1001"),
        ("UNKNOWN", "two\nlines", "a verification state description has no control characters, got '\\n'"),
    ],
)
def test_fails_when_a_verification_state_breaks_the_api_limits(evaluator, state, description, message):
    with pytest.raises(ValueError) as raised:
        ViolationLog(TABLE).put_verification_state_on_violation("v-1", state, description)
    assert str(raised.value) == message


def test_fails_when_the_violation_is_not_in_the_log(evaluator):
    with pytest.raises(UnknownViolationError, match="no violation 'v-404' in the violation log"):
        ViolationLog(TABLE).put_verification_state_on_violation("v-404", "UNKNOWN")


def run(capsys, *argv: str) -> tuple[int, Any, str]:
    """``iot-defender violations ARGV --table TABLE --json``."""
    capsys.readouterr()  # what the handlers logged before
    status = cli.main(["violations", *argv, "--table", TABLE, "--json"])
    out, err = capsys.readouterr()
    return status, json.loads(out) if out else None, err


def test_the_command_line_prints_the_lists_as_json(evaluator, capsys):
    alarm, _ = alarm_then_clear(evaluator)
    assert run(capsys, "active") == (0, {"activeViolations": []}, "")
    status, output, _ = run(capsys, "events", "--start", str(T0), "--end", "2023-11-14T22:25:00Z", "--thing", "t1")
    assert status == 0
    assert [(e["violationEventType"], e["violationEventTime"]) for e in output["violationEvents"]] == [
        ("in-alarm", "2023-11-14T22:20:00+00:00"),
        ("alarm-cleared", "2023-11-14T22:25:00+00:00"),
    ]
    assert run(capsys, "verify", alarm["violationId"], "--state", "TRUE_POSITIVE") == (
        0,
        {"violationId": alarm["violationId"], "verificationState": "TRUE_POSITIVE", "thingName": "t1"},
        "",
    )


def test_the_command_line_prints_readable_lines_by_default(evaluator, capsys):
    handler.evaluate_batch([sent("1", "t1", 500, 10)], now=T0 + 361)
    [alarm] = alerts(evaluator)
    capsys.readouterr()
    assert cli.main(["violations", "active", "--security-profile", "fleet"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "1 active violation(s):",
        f"  t1  fleet/MessageStorm  {alarm['violationId']}  since 2023-11-14T22:20:00Z",
    ]
    assert cli.main(["violations", "verify", alarm["violationId"], "--state", "BENIGN_POSITIVE"]) == 0
    assert cli.main(["violations", "events", "--start", str(T0), "--verification-state", "BENIGN_POSITIVE"]) == 0
    assert capsys.readouterr().out.splitlines()[-2:] == [
        "1 violation event(s):",
        f"  2023-11-14T22:20:00Z  in-alarm  t1  fleet/MessageStorm  {alarm['violationId']}  [BENIGN_POSITIVE]",
    ]


@pytest.mark.parametrize(
    ("argv", "status", "error"),
    [
        (["verify", "v-404", "--state", "UNKNOWN"], 2, "no violation 'v-404' in the violation log"),
        (["verify", "v-1", "--state", "UNKNOWN", "--description", "a\tb"], 2, "has no control characters"),
        (["verify", "v-1", "--state", "TRUE_POSITIVE", "--release"], 2, "--release goes with --state FALSE_POSITIVE"),
        (["events", "--start", "2023-11-15", "--end", "2023-11-14"], 2, "is after end time"),
        (["active", "--table", "missing-table"], 1, "iot-defender: AWS call failed"),
    ],
)
def test_the_command_line_fails_with_a_clear_error_and_status(evaluator, capsys, argv, status, error):
    capsys.readouterr()
    assert cli.main(["violations", "--table", TABLE, *argv]) == status
    assert error in capsys.readouterr().err


def test_the_command_line_fails_on_bad_usage_with_status_2(evaluator, capsys, monkeypatch):
    monkeypatch.delenv("STATE_TABLE_NAME")
    assert cli.main(["violations", "active"]) == 2
    assert "violations active needs StateTableName: give --stack NAME or --table, or set STATE_TABLE_NAME" in (
        capsys.readouterr().err
    )
    for argv in (["verify", "v-1", "--state", "MAYBE"], ["events", "--start", "yesterday"], []):
        assert cli.main(["violations", *argv]) == 2


def test_a_release_needs_the_group_and_the_topic(evaluator, capsys, monkeypatch):
    handler.evaluate_batch([sent("1", "t1", 500, 10)], now=T0 + 361)
    [alarm] = alerts(evaluator)
    monkeypatch.delenv("NOTIFY_TOPIC_ARN")
    status, _, err = run(capsys, "verify", alarm["violationId"], "--state", "FALSE_POSITIVE", "--release")
    assert status == 2 and "--release needs NotifyTopicArn" in err
    assert "verificationState" not in ViolationLog(TABLE).list_active_violations()[0]  # nothing set


def test_a_false_positive_releases_the_thing_the_responder_quarantined_for_it(evaluator, capsys):
    # Given t1 quarantined by the responder from a self-hosted violation
    evaluator.add_thing("t1")
    handler.evaluate_batch([sent("1", "t1", 500, 10)], now=T0 + 361)
    [alarm] = alerts(evaluator)
    event = {"Records": [{"EventSource": "aws:sns", "Sns": {"Message": json.dumps(alarm)}}]}
    assert quarantine_handler.lambda_handler(event, LambdaContext()) == {"batchItemFailures": []}
    assert evaluator.groups_of("t1") == sorted([FLEET_GROUP, QUARANTINE_GROUP])
    alerts(evaluator)
    # When an operator marks the violation FALSE_POSITIVE with --release
    status, output, err = run(
        capsys, "verify", alarm["violationId"], "--state", "FALSE_POSITIVE", "--description", "load test", "--release"
    )
    # Then the verdict is kept, the thing is back in its groups only, its record is gone, operators are told
    assert (status, err) == (0, "")
    assert output["released"] == [f"removed from thing group {QUARANTINE_GROUP}"]
    assert evaluator.groups_of("t1") == [FLEET_GROUP]
    assert evaluator.record_of("t1") is None
    [notification] = alerts(evaluator)
    assert notification["release"]["reason"] == f"violation {alarm['violationId']} verified FALSE_POSITIVE: load test"
    assert ViolationLog(TABLE).list_active_violations()[0]["verificationState"] == "FALSE_POSITIVE"
    # And a second release is refused: nothing known to restore, the verdict set all the same
    status, output, err = run(capsys, "verify", alarm["violationId"], "--state", "FALSE_POSITIVE", "--release")
    assert status == 2 and "has no quarantine record: nothing to release" in err
    assert output["verificationState"] == "FALSE_POSITIVE"


def test_a_false_positive_does_not_release_a_thing_quarantined_for_another_violation(evaluator, capsys):
    evaluator.add_thing("t1")
    handler.evaluate_batch([sent("1", "t1", 500, 10)], now=T0 + 361)
    [first] = alerts(evaluator)
    event = {"Records": [{"EventSource": "aws:sns", "Sns": {"Message": json.dumps(first)}}]}
    quarantine_handler.lambda_handler(event, LambdaContext())
    handler.evaluate_batch([sent("2", "t1", 5, 310)], now=T0 + 661)  # cleared
    handler.evaluate_batch([sent("3", "t1", 500, 610)], now=T0 + 961)  # a second violation
    second = ViolationLog(TABLE).list_active_violations()[0]["violationId"]
    status, _, err = run(capsys, "verify", second, "--state", "FALSE_POSITIVE", "--release")
    assert status == 2 and f"was quarantined for violation {first['violationId']}, not {second}" in err
    assert QUARANTINE_GROUP in evaluator.groups_of("t1")
