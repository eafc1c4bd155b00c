"""Parsing violation events: every envelope, both timestamp forms, unknown fields kept."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from lambdas.model.violation import ViolationEventType
from lambdas.quarantine.intake import NotAViolationError, parse_violation_message
from tests.lambdas.conftest import load_event


def test_epoch_milliseconds_from_sns_are_read_as_milliseconds():
    violation = parse_violation_message(json.dumps(load_event("violation_in_alarm_rule.json")))
    assert violation.violation_event_time == datetime(2020, 2, 26, 19, 30, tzinfo=UTC)


def test_float_epoch_seconds_from_the_api_are_read_as_seconds():
    violation = parse_violation_message(json.dumps(load_event("violation_alarm_invalidated_ml.json")))
    assert violation.violation_event_time == datetime.fromtimestamp(1600780245.29, tz=UTC)
    assert violation.violation_event_type is ViolationEventType.ALARM_INVALIDATED
    assert violation.behavior.criteria.ml_detection_config.confidence_level == "HIGH"


def test_unknown_fields_are_kept():
    event = {**load_event("violation_in_alarm_rule.json"), "futureField": {"x": 1}}
    violation = parse_violation_message(json.dumps(event))
    assert violation.model_dump(by_alias=True)["futureField"] == {"x": 1}


def test_sns_envelope_is_unwrapped():
    event = load_event("violation_alarm_cleared_rule.json")
    body = json.dumps({"Type": "Notification", "Message": json.dumps(event)})
    assert parse_violation_message(body).violation_id == "76ef8d1dc35ed4eb802ff44568f91097"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("violationEventType", "in-trouble"),
        ("violationId", "has spaces"),
        ("securityProfileName", "bad/name"),
        ("violationEventTime", True),
    ],
)
def test_fails_when_a_field_breaks_the_api_contract(field, value):
    event = {**load_event("violation_in_alarm_rule.json"), field: value}
    with pytest.raises(ValidationError) as raised:
        parse_violation_message(json.dumps(event))
    assert field in str(raised.value)


def test_fails_when_the_sns_message_is_not_an_object():
    with pytest.raises(NotAViolationError, match="expected a JSON object in the SNS Message, got list"):
        parse_violation_message(json.dumps({"Type": "Notification", "Message": "[]"}))
