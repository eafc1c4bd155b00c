"""Reading record bodies (pure, no AWS): raw and SNS-wrapped bodies, and every reason a body is refused."""

from __future__ import annotations

import json

import pytest

from iot_defender_runtime.audit_remediation.handler import read_notification
from iot_defender_runtime.quarantine.handler import read_violation
from iot_defender_runtime.quarantine.intake import NotAViolationError, parse_violation_message
from iot_defender_runtime.remediation.batch_intake import MAX_JSON_DEPTH, UnreadableRecordError, json_object, read_body
from tests.lambdas.conftest import load_event

VIOLATION = load_event("violation_in_alarm_rule.json")
AUDIT = load_event("audit_completed_legacy_names.json")


def sns_as_sqs_delivers_it(message: dict) -> str:
    """The body SQS receives from SNS with raw delivery off (SQS spells ``...URL`` in capitals)."""
    return json.dumps(
        {
            "Type": "Notification",
            "MessageId": "5a1c4a0e-0000-0000-0000-000000000000",
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:defender-alerts",
            "Subject": None,
            "Message": json.dumps(message),
            "Timestamp": "2020-02-26T19:30:00.000Z",
            "SignatureVersion": "1",
            "Signature": "EXAMPLE==",
            "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000.pem",
            "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=x",
        }
    )


def nested(depth: int) -> list:
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


def test_a_full_sns_notification_as_sqs_delivers_it_is_unwrapped():
    assert parse_violation_message(sns_as_sqs_delivers_it(VIOLATION)).violation_id == VIOLATION["violationId"]
    assert read_notification(sns_as_sqs_delivers_it(AUDIT)).task_id == AUDIT["taskId"]


@pytest.mark.parametrize("read", [read_violation, read_notification])
@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("{", "not valid JSON"),
        ("[1]", "expected a JSON object, got list"),
        (json.dumps({"Type": "Notification", "Message": "7"}), "expected a JSON object in the SNS Message, got int"),
        (json.dumps({"Type": "Notification", "Message": "{"}), "not valid JSON"),
        (json.dumps({"Type": "Notification", "Message": 7}), "Message: Input should be a valid string"),
        (
            json.dumps({"Type": "UnsubscribeConfirmation", "Message": "{}"}),
            "SNS message of Type 'UnsubscribeConfirmation' is not a Notification",
        ),
        ("[" * 60_000, "the JSON is nested more than 32 levels deep"),
        (json.dumps({"a": nested(MAX_JSON_DEPTH)}), "the JSON is nested more than 32 levels deep"),
        (
            json.dumps({"Type": "Notification", "Message": json.dumps({"a": nested(MAX_JSON_DEPTH)})}),
            "the JSON in the SNS Message is nested more than 32 levels deep",
        ),
        ("x" * (64 * 1024 + 1), "bytes"),
        ("\udc80", "not valid UTF-8"),
    ],
)
def test_refused_with_the_reason(read, body, reason):
    with pytest.raises(UnreadableRecordError) as raised:
        read(body)
    assert reason in str(raised.value)


@pytest.mark.parametrize(
    "epoch",
    [1e300, -1e300, 10**400, float("inf"), 10**20, 10**17, -(10**17)],
    ids=["1e300", "-1e300", "10^400", "inf", "10^20", "10^17", "-10^17"],
)
def test_an_event_time_beyond_any_date_is_refused_not_raised(epoch):
    with pytest.raises(
        UnreadableRecordError, match=r"violation event: .*(violationEventTime|Infinity, which is not a JSON number)"
    ):
        read_violation(json.dumps({**VIOLATION, "violationEventTime": epoch}))


def test_a_violation_with_unknown_fields_nested_within_the_limit_is_kept():
    event = {**VIOLATION, "futureField": {"a": nested(MAX_JSON_DEPTH - 2)}}
    assert parse_violation_message(json.dumps(event)).model_dump(by_alias=True)["futureField"] == event["futureField"]


def test_json_object_raises_the_error_asked_for():
    with pytest.raises(NotAViolationError, match="expected a JSON object, got str"):
        json_object('"x"', error=NotAViolationError)


@pytest.mark.parametrize("read", [read_violation, read_notification])
@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('{"x": NaN}', "holds NaN, which is not a JSON number"),
        ('{"x": -Infinity}', "holds -Infinity, which is not a JSON number"),
        ('{"x": 1e400}', "holds the number 1e400, beyond the range of a double"),
        ('{"x": "\\ud800"}', "holds a string with a lone surrogate"),
        ('{"\\udcff": 1}', "holds a string with a lone surrogate"),
        (json.dumps({"Type": "Notification", "Message": '{"x": NaN}'}), "the JSON in the SNS Message holds NaN"),
        (
            json.dumps({"Type": "\ud800", "Message": "{}"}),
            "holds a string with a lone surrogate, not Unicode: '\\ud800'",
        ),
        (None, "record body is not text (got NoneType)"),
        (7, "record body is not text (got int)"),
    ],
)
def test_not_strict_json_or_not_text_is_refused_with_a_reason_the_log_can_write(read, body, reason):
    with pytest.raises(UnreadableRecordError) as raised:
        read(body)
    assert reason in str(raised.value)
    str(raised.value).encode("utf-8")


def test_whatever_a_parser_raises_is_a_reason(monkeypatch):
    def hostile(body: str) -> None:
        raise RecursionError("maximum recursion depth exceeded")

    with pytest.raises(UnreadableRecordError, match="not a thing: RecursionError: maximum recursion depth"):
        read_body("{}", "a thing", hostile)
