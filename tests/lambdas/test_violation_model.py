"""Parsing violation events: every envelope, both timestamp forms, unknown fields kept."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from iot_defender_runtime.model.violation import ViolationEvent, ViolationEventType
from iot_defender_runtime.quarantine.intake import NotAViolationError, parse_violation_message
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


def alert(**overrides):
    from iot_defender_runtime.model.violation import ViolationEvent

    fields = {
        "violation_id": "7b0c-1",
        "thing_name": "meter-7",
        "security_profile_name": "fleet",
        "behavior": {"name": "Storm", "metric": "aws:num-messages-sent", "criteria": {"value": {"count": 100}}},
        "event_type": "in-alarm",
        "at": 1_700_000_100.1234,
        "metric_value": {"count": 110},
    }
    return ViolationEvent.alert(**{**fields, **overrides})


def test_an_alert_is_the_managed_detect_message_shape():
    assert alert().to_message() == {
        "violationId": "7b0c-1",
        "thingName": "meter-7",
        "securityProfileName": "fleet",
        "behavior": {"name": "Storm", "metric": "aws:num-messages-sent", "criteria": {"value": {"count": 100}}},
        "violationEventType": "in-alarm",
        "violationEventTime": 1_700_000_100_123,
        "metricValue": {"count": 110},
    }


def test_an_alert_without_a_metric_value_leaves_it_out():
    assert "metricValue" not in alert(metric_value=None, event_type="alarm-invalidated").to_message()


@pytest.mark.parametrize("metric_value", [{"cidrs": "203.0.113.7"}, {"ports": [443.5]}, {"strings": "v1"}])
def test_an_alert_whose_list_kind_value_is_not_a_list_of_its_type_is_not_built(metric_value):
    with pytest.raises(ValidationError):
        alert(metric_value=metric_value)


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("cidrs", "203.0.113.7", {"cidrs": ["203.0.113.7"]}),
        ("cidrs", ("10.0.0.1", "10.0.0.2"), {"cidrs": ["10.0.0.1", "10.0.0.2"]}),
        ("ports", 443, {"ports": [443]}),
        ("numbers", 1.5, {"numbers": [1.5]}),
        ("strings", ["a"], {"strings": ["a"]}),
        ("count", 110.0, {"count": 110}),
        ("count", 2.5, {"number": 2.5}),
        ("number", 3, {"number": 3.0}),
    ],
)
def test_metric_values_take_the_api_shape_of_their_kind(kind, value, expected):
    from iot_defender_runtime.model.violation import metric_value_of

    assert metric_value_of(kind, value) == expected
    assert type(metric_value_of(kind, value)[next(iter(expected))]) is type(next(iter(expected.values())))


_LEVELS = [(), ("behavior",), ("behavior", "criteria"), ("behavior", "criteria", "value"), ("metricValue",)]


@pytest.mark.parametrize("level", _LEVELS, ids=lambda level: ".".join(level) or "top")
@pytest.mark.parametrize("name", ["futureField", "thing_name", "suppress_alerts", "duration_seconds"])
def test_unknown_fields_at_every_level_are_dumped_as_they_came_even_null(level, name):
    # Given an unknown field (a null one beside a set one) at this level, named perhaps as a Python field
    event = load_event("violation_in_alarm_rule.json")
    block = event
    for key in level:
        block = block[key]
    block.update({name: {"a": [1, None]}, f"{name}Null": None})
    # When it is parsed and dumped as the notification dumps it (API names, no null modelled fields)
    dumped = parse_violation_message(json.dumps(event)).model_dump(mode="json", by_alias=True, exclude_none=True)
    # Then both come back under their own names, with their values
    for key in level:
        dumped = dumped[key]
    assert dumped[name] == {"a": [1, None]}
    assert dumped[f"{name}Null"] is None


def test_a_python_field_name_is_not_taken_for_the_api_name():
    event = {k: v for k, v in load_event("violation_in_alarm_rule.json").items() if k != "thingName"}
    with pytest.raises(ValidationError, match="thingName"):
        parse_violation_message(json.dumps({**event, "thing_name": "meter-1"}))


def test_null_unknown_fields_reach_the_alert_json_but_null_modelled_fields_do_not():
    event = {**load_event("violation_in_alarm_rule.json"), "verificationState": None, "futureField": None}
    message = parse_violation_message(json.dumps(event)).to_message()
    assert "verificationState" not in message
    assert message["futureField"] is None


def test_a_time_without_an_offset_is_utc():
    event = {**load_event("violation_in_alarm_rule.json"), "violationEventTime": "2020-02-26T19:30:00"}
    violation = parse_violation_message(json.dumps(event))
    assert violation.violation_event_time == datetime(2020, 2, 26, 19, 30, tzinfo=UTC)
    assert violation.to_message()["violationEventTime"] == 1582745400000


@pytest.mark.parametrize("epoch", [1e300, -1e300, 10**400, 10**20, -(10**17)])
def test_an_epoch_no_date_holds_is_a_field_error_not_an_overflow(epoch):
    with pytest.raises(ValidationError, match=r"violationEventTime .* is no epoch time any date can hold"):
        ViolationEvent.model_validate({**load_event("violation_in_alarm_rule.json"), "violationEventTime": epoch})
