"""Every alert the violation model builds is the API's ``ViolationEvent`` (botocore's ``iot`` model,
walked recursively) and strict JSON, for every metric value kind and event type, whatever value the
engine hands it: a value no ``MetricValue`` can carry (an aggregate overflowed to infinity) is
left out, never published as ``Infinity``.

``violationEventTime`` is the one difference: the alert carries epoch milliseconds (as managed
Detect's SNS alerts do), the API a timestamp; ``ViolationEvent.to_api()`` gives the latter."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from iot_defender_runtime.model.behavior_definition import BehaviorDefinition, BehaviorKind
from iot_defender_runtime.model.violation import UNSIGNED_LONG_MAX, ViolationEvent, ViolationEventType, metric_value_of
from tests.lambdas.api_shapes import api_shape, problems

_ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True)
_ANY_NUMBER = _ANY_FLOAT | st.integers(-(2**1100), 2**1100)
_ADDRESSES = st.ip_addresses().map(str) | st.sampled_from(["10.0.0.0/8", "203.0.113.7:443", "fe80::1%eth0"])

# kind -> (a behavior on a metric of that kind, the values the engine may hand the model)
KINDS: dict[str, tuple[BehaviorDefinition, st.SearchStrategy[Any]]] = {
    "count": (
        BehaviorDefinition(
            "Storm", "aws:num-messages-sent", BehaviorKind.RULE, "less-than", {"count": 100}, None, None, 300
        ),
        st.integers(0, 2**70) | _ANY_FLOAT,
    ),
    "number": (
        BehaviorDefinition("Drain", "battery_drain", BehaviorKind.RULE, "less-than", {"number": 50.5}),
        _ANY_NUMBER,
    ),
    "numbers": (
        BehaviorDefinition("Codes", "error_codes", BehaviorKind.RULE, "in-set", {"numbers": [1, 2]}),
        st.lists(_ANY_NUMBER, max_size=4),
    ),
    "cidrs": (
        BehaviorDefinition(
            "Dest", "aws:destination-ip-addresses", BehaviorKind.RULE, "in-cidr-set", {"cidrs": ["10.0.0.0/8"]}
        ),
        _ADDRESSES | st.lists(_ADDRESSES, max_size=4),
    ),
    "ports": (
        BehaviorDefinition("Ports", "aws:listening-tcp-ports", BehaviorKind.RULE, "in-port-set", {"ports": [443]}),
        st.integers(0, 65535) | st.lists(st.integers(0, 65535), max_size=4),
    ),
    "strings": (
        BehaviorDefinition("Firmware", "firmware", BehaviorKind.RULE, "in-set", {"strings": ["v1"]}),
        st.lists(st.text(max_size=20), max_size=4),
    ),
}


def alert_of(kind: str, value: Any, event_type: str, at: float = 1_700_000_100.25) -> ViolationEvent:
    behavior, _ = KINDS[kind]
    return ViolationEvent.alert(
        violation_id="5f0c2e9a-4b1d-5e8f-9a7b-0c1d2e3f4a5b",
        thing_name="meter-7",
        security_profile_name="fleet",
        behavior=behavior.to_api(),
        event_type=event_type,
        at=at,
        metric_value=metric_value_of(kind, value) or None,
    )


@pytest.mark.parametrize("event_type", [t.value for t in ViolationEventType])
@pytest.mark.parametrize("kind", sorted(KINDS))
@given(data=st.data())
def test_every_alert_is_the_api_violation_event_in_strict_json(kind: str, event_type: str, data: st.DataObject):
    # Given any value the engine may judge for a metric of this kind
    value = data.draw(KINDS[kind][1], label="judged value")
    # When the alert is built as the evaluator builds it
    event = alert_of(kind, value, event_type)
    message = event.to_message()
    # Then it is strict JSON, and the API's ViolationEvent (time as the alert's epoch milliseconds) ...
    wire = json.loads(json.dumps(message, allow_nan=False))
    assert problems(wire, api_shape("ViolationEvent"), timestamps="epoch_ms") == []
    # ... and as the API returns it, with a timestamp
    assert problems(event.to_api(), api_shape("ViolationEvent")) == []
    # And the value is there exactly when a MetricValue can carry it
    assert set(wire.get("metricValue", {})) <= {kind, "number"}


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("count", float("inf")),
        ("count", 10**400),  # beyond a double
        ("number", float("nan")),
        ("number", float("-inf")),
        ("numbers", [1.0, float("inf")]),
        ("cidrs", "fe80::1%eth0"),  # an address with a zone: no API Cidr
    ],
)
def test_a_value_no_metric_value_can_carry_is_left_out_of_the_alert(kind: str, value: Any):
    assert metric_value_of(kind, value) == {}
    message = alert_of(kind, value, "in-alarm").to_message()
    assert "metricValue" not in message
    json.dumps(message, allow_nan=False)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (UNSIGNED_LONG_MAX, {"count": UNSIGNED_LONG_MAX}),
        (UNSIGNED_LONG_MAX + 1, {"number": float(UNSIGNED_LONG_MAX + 1)}),
        (1e300, {"number": 1e300}),
        (-1, {"number": -1.0}),
    ],
)
def test_a_count_outside_unsigned_long_is_reported_as_a_number(value: Any, expected: dict[str, Any]):
    assert metric_value_of("count", value) == expected


@pytest.mark.parametrize(
    "metric_value",
    [
        {"count": float("inf")},
        {"count": -1},
        {"count": UNSIGNED_LONG_MAX + 1},
        {"number": float("inf")},
        {"number": float("nan")},
        {"numbers": [float("nan")]},
        {"ports": [65536]},
        {"cidrs": ["not an address!"]},
    ],
)
def test_fails_when_an_alert_is_given_a_value_outside_the_api_metric_value(metric_value: dict[str, Any]):
    behavior, _ = KINDS["count"]
    with pytest.raises(ValidationError):
        ViolationEvent.alert(
            violation_id="v-1",
            thing_name="meter-7",
            security_profile_name="fleet",
            behavior=behavior.to_api(),
            event_type="in-alarm",
            at=1.0,
            metric_value=metric_value,
        )


def test_a_kept_unknown_field_holding_infinity_is_never_published_as_infinity():
    event = ViolationEvent.model_validate(
        {**alert_of("count", 110, "in-alarm").to_message(), "futureField": float("inf")}
    )
    json.dumps(event.to_message(), allow_nan=False)


def test_the_model_covers_every_member_of_the_api_violation_event():
    fields = ViolationEvent.model_fields
    assert set(api_shape("ViolationEvent").members) == {field.alias or name for name, field in fields.items()}


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"metricValue": {"count": float("inf")}}, "ViolationEvent.metricValue.count: inf is not an integer"),
        ({"metricValue": {"cidrs": "203.0.113.7"}}, "ViolationEvent.metricValue.cidrs: '203.0.113.7' is not a list"),
        ({"violationEventType": "in-trouble"}, "ViolationEvent.violationEventType: 'in-trouble' is not one of"),
        ({"violationEventTime": 1.5}, "ViolationEvent.violationEventTime: 1.5 is not epoch milliseconds"),
        ({"behavior": {"metric": "x"}}, "ViolationEvent.behavior.name: required, missing"),
        (
            {"verificationStateDescription": "a\nb"},
            "ViolationEvent.verificationStateDescription: 'a\\nb' does not match",
        ),
        ({"metricValues": {}}, "ViolationEvent.metricValues: not a member of ViolationEvent"),
    ],
)
def test_the_shape_check_finds_what_breaks_the_api(change: dict[str, Any], problem: str):
    message = {**alert_of("count", 110, "in-alarm").to_message(), **change}
    assert [p for p in problems(message, api_shape("ViolationEvent"), timestamps="epoch_ms") if p.startswith(problem)]
