"""Managed Detect's semantics where the Device Defender guide or the API reference is explicit, one
row per rule with its source; and the choices made where they are silent (README, "Self-hosted
Detect: semantics"). Pure: the engine, the model and the evaluator's configuration defaults."""

from __future__ import annotations

import pytest

from iot_defender_runtime.detect_evaluator.config import DEFAULT_SILENCE_SECONDS
from iot_defender_runtime.evaluation.engine import (
    ALARM_INVALIDATED,
    IN_ALARM,
    BehaviorState,
    Datapoint,
    check_silence,
    evaluate,
)
from iot_defender_runtime.model.behavior_definition import BehaviorDefinition, BehaviorKind, problems
from iot_defender_runtime.model.metric_catalog import METRICS

GUIDE = "https://docs.aws.amazon.com/iot-device-defender/latest/devguide/"
API = "https://docs.aws.amazon.com/iot/latest/apireference/"
DEVICE_SIDE = GUIDE + "detect-device-side-metrics.html"
CRITERIA = API + "API_BehaviorCriteria.html"
PORTS, IPS, SIZE = "aws:listening-tcp-ports", "aws:destination-ip-addresses", "aws:message-byte-size"
TEN = {"count": 10}


def rule(metric: str, operator: str, value: dict, *, to_alarm: int = 1, **criteria) -> BehaviorDefinition:
    return BehaviorDefinition(
        name="B",
        metric=metric,
        kind=BehaviorKind.RULE,
        comparison_operator=operator,
        value=value,
        consecutive_datapoints_to_alarm=to_alarm,
        **criteria,
    )


def judged(definition: BehaviorDefinition, values: list, *, now: float = 10_000) -> list[str]:
    points = [Datapoint(10 + i, v, f"d{i}") for i, v in enumerate(values)]
    result = evaluate("t", definition, METRICS[definition.metric], BehaviorState(), points, now=now)
    return [t.event_type for t in result.transitions]


@pytest.mark.parametrize(
    ("source", "definition", "values", "events"),
    [
        # An empty list conforms to a set criterion: nothing outside the allowed set was reported
        (DEVICE_SIDE, rule(PORTS, "in-port-set", {"ports": [443]}), [[]], []),
        (DEVICE_SIDE, rule(PORTS, "not-in-port-set", {"ports": [23]}), [[]], []),
        (DEVICE_SIDE, rule(IPS, "in-cidr-set", {"cidrs": ["10.0.0.0/8"]}), [[]], []),
        (DEVICE_SIDE, rule(IPS, "not-in-cidr-set", {"cidrs": ["192.0.2.0/24"]}), [[]], []),
        # A port outside the set, an address inside a forbidden range: violating
        (DEVICE_SIDE, rule(PORTS, "in-port-set", {"ports": [443]}), [[443, 22]], [IN_ALARM]),
        (DEVICE_SIDE, rule(IPS, "not-in-cidr-set", {"cidrs": ["2001:db8::/32"]}), [["2001:db8::1"]], [IN_ALARM]),
        # consecutiveDatapointsToAlarm defaults to 1: one violating datapoint raises the alarm
        (CRITERIA, rule(SIZE, "less-than-equals", TEN), [11], [IN_ALARM]),
        (CRITERIA, rule(SIZE, "less-than-equals", TEN, to_alarm=3), [11, 11], []),
        (CRITERIA, rule(SIZE, "less-than-equals", TEN, to_alarm=3), [11, 11, 11], [IN_ALARM]),
    ],
)
def test_documented_semantics(source, definition, values, events):
    assert judged(definition, values) == events, source


@pytest.mark.parametrize(("count", "allowed"), [(0, False), (1, True), (10, True), (11, False)])
def test_consecutive_datapoints_are_1_to_10(count, allowed):
    # API reference, BehaviorCriteria: consecutiveDatapointsToAlarm / ToClear, "Valid Range: Minimum
    # value of 1. Maximum value of 10."
    for limits in ({"to_alarm": count}, {"consecutive_datapoints_to_clear": count}):
        definition = rule(SIZE, "less-than-equals", TEN, **limits)
        assert (problems(definition, METRICS["aws:message-byte-size"]) == []) is allowed


def test_consecutive_datapoints_default_to_1_when_the_api_json_leaves_them_out():
    criteria = {"comparisonOperator": "less-than-equals", "value": TEN}
    definition = BehaviorDefinition.from_api({"name": "B", "metric": SIZE, "criteria": criteria})
    assert (definition.consecutive_datapoints_to_alarm, definition.consecutive_datapoints_to_clear) == (1, 1)


def test_alarms_are_invalidated_after_two_days_without_metrics_by_default():
    # Detect concepts: a device that stops reporting metrics for two days has its alarms invalidated
    assert DEFAULT_SILENCE_SECONDS == 2 * 24 * 3600
    definition = rule("aws:message-byte-size", "less-than-equals", {"count": 10})
    alarmed = evaluate("t", definition, METRICS[definition.metric], BehaviorState(), [Datapoint(0, 11)], now=1).state
    before = check_silence(
        "t", definition, alarmed, now=DEFAULT_SILENCE_SECONDS - 1, silence_seconds=DEFAULT_SILENCE_SECONDS
    )
    after = check_silence(
        "t", definition, alarmed, now=DEFAULT_SILENCE_SECONDS, silence_seconds=DEFAULT_SILENCE_SECONDS
    )
    assert (before.transitions, [t.event_type for t in after.transitions]) == ((), [ALARM_INVALIDATED])


# Where the guide is silent: the choices, each stated in the README's semantics table.


def test_choice_windows_are_aligned_to_the_epoch_and_several_datapoints_in_one_are_summed():
    definition = rule("aws:num-messages-sent", "less-than-equals", {"count": 5}, duration_seconds=300)
    points = [Datapoint(299, 3, "a"), Datapoint(300, 3, "b"), Datapoint(301, 3, "c")]  # windows [0,300) and [300,600)
    result = evaluate("t", definition, METRICS[definition.metric], BehaviorState(), points, now=600)
    assert [(t.event_type, t.metric_value, t.at) for t in result.transitions] == [(IN_ALARM, {"count": 6}, 600)]


def test_choice_a_connected_device_that_sends_nothing_alarms_on_at_least_n_messages():
    definition = rule("aws:num-messages-sent", "greater-than-equals", {"count": 1}, duration_seconds=300)
    result = evaluate(
        "t", definition, METRICS[definition.metric], BehaviorState(), [Datapoint(10, 4)], now=900, fill_empty=True
    )
    assert [(t.event_type, t.metric_value) for t in result.transitions] == [(IN_ALARM, {"count": 0})]
