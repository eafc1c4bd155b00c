"""One violation model from evaluator to responder: for every ``metricValue`` kind, the engine judges
a violating value, the evaluator builds its alert, the alert is published as JSON (as the
notifier does), and the quarantine responder's parser reads back the value that was judged. The
metric value also conforms to the AWS API's ``MetricValue`` shape in botocore's iot model."""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import botocore.session
import pytest
from hypothesis import given
from hypothesis import strategies as st

from iot_defender_runtime.detect_evaluator.invocation import violation_message
from iot_defender_runtime.evaluation.engine import IN_ALARM, BehaviorState, Datapoint, evaluate
from iot_defender_runtime.model.behavior_definition import BehaviorDefinition, BehaviorKind
from iot_defender_runtime.model.detect_profiles import ProfileBehavior
from iot_defender_runtime.model.metric_catalog import METRICS, CustomMetricType, MetricSpec, custom_metric_spec
from iot_defender_runtime.model.violation import ViolationEventType
from iot_defender_runtime.quarantine.intake import parse_violation_message

T0 = 1_700_000_100


@dataclass(frozen=True)
class Case:
    kind: str
    spec: MetricSpec
    operator: str
    criteria: dict[str, Any]
    violating: st.SearchStrategy[Any]  # values that do not meet the criteria
    duration_seconds: int | None = None


def _outside_ten_slash_eight(address: ipaddress.IPv4Address) -> bool:
    return address not in ipaddress.ip_network("10.0.0.0/8")


_IPS = st.ip_addresses(v=4).filter(_outside_ten_slash_eight).map(str)
_FLOATS = st.floats(allow_nan=False, allow_infinity=False)

CASES = [
    # A window's total of messages sent (windowed count)
    Case(
        "count",
        METRICS["aws:num-messages-sent"],
        "less-than-equals",
        {"count": 100},
        st.integers(101, 2**53),
        duration_seconds=300,
    ),
    # One source IP per connection: a scalar datapoint, a list in the alert
    Case("cidrs", METRICS["aws:source-ip-address"], "in-cidr-set", {"cidrs": ["10.0.0.0/8"]}, _IPS),
    # An agent report's destination IPs: already a list
    Case(
        "cidrs",
        METRICS["aws:destination-ip-addresses"],
        "in-cidr-set",
        {"cidrs": ["10.0.0.0/8"]},
        st.lists(_IPS, min_size=1, max_size=5),
    ),
    Case(
        "ports",
        METRICS["aws:listening-tcp-ports"],
        "in-port-set",
        {"ports": [443]},
        st.lists(st.integers(0, 65535).filter(lambda p: p != 443), min_size=1, max_size=8),
    ),
    Case(
        "number",
        custom_metric_spec("battery_drain", CustomMetricType.NUMBER),
        "less-than-equals",
        {"number": 50.5},
        st.one_of(st.floats(min_value=50.6, max_value=1e300), st.integers(51, 2**40)),
    ),
    Case(
        "numbers",
        custom_metric_spec("error_codes", CustomMetricType.NUMBER_LIST),
        "in-set",
        {"numbers": [1, 2]},
        st.lists(_FLOATS.filter(lambda n: n not in (1, 2)), min_size=1, max_size=6),
    ),
    Case(
        "strings",
        custom_metric_spec("firmware", CustomMetricType.STRING_LIST),
        "in-set",
        {"strings": ["v1"]},
        st.lists(st.text(max_size=40).filter(lambda s: s != "v1"), min_size=1, max_size=6),
    ),
]


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


@cache
def api_metric_value_shape() -> Any:
    return botocore.session.get_session().get_service_model("iot").shape_for("MetricValue")


def conforms(value: Any, shape: Any) -> list[str]:
    """Where ``value`` (parsed JSON) breaks a botocore shape: member names, types, ranges, patterns."""
    if shape.type_name == "structure":
        if not isinstance(value, dict):
            return [f"{shape.name}: not an object"]
        unknown = [f"{shape.name}.{name}: not a member" for name in value if name not in shape.members]
        return unknown + [
            problem
            for name, v in value.items()
            if name in shape.members
            for problem in conforms(v, shape.members[name])
        ]
    if shape.type_name == "list":
        if not isinstance(value, list):
            return [f"{shape.name}: {value!r} is not a list"]
        return [problem for item in value for problem in conforms(item, shape.member)]
    types = {"string": (str,), "integer": (int,), "long": (int,), "double": (int, float)}[shape.type_name]
    if isinstance(value, bool) or not isinstance(value, types):
        return [f"{shape.name}: {value!r} is not a {shape.type_name}"]
    meta = shape.metadata
    size = len(value) if isinstance(value, str) else value
    if ("min" in meta and size < meta["min"]) or ("max" in meta and size > meta["max"]):
        return [f"{shape.name}: {value!r} is outside {meta.get('min')}..{meta.get('max')}"]
    if "pattern" in meta and not re.fullmatch(meta["pattern"], value):
        return [f"{shape.name}: {value!r} does not match {meta['pattern']}"]
    return []


def in_alarm_message(case: Case, value: Any) -> tuple[dict[str, Any], Any]:
    """The alert the evaluator publishes for one violating datapoint, and the value that was judged."""
    definition = BehaviorDefinition(
        name=f"Unexpected-{case.kind}",
        metric=case.spec.name,
        kind=BehaviorKind.RULE,
        comparison_operator=case.operator,
        value=case.criteria,
        duration_seconds=case.duration_seconds,
    )
    # A windowed behavior judges its window once ``now`` passes the window's end
    now = T0 + (case.duration_seconds or 0) + 1
    result = evaluate("meter-7", definition, case.spec, BehaviorState(), [Datapoint(T0 + 0.5, value)], now=now)
    [transition] = result.transitions
    assert transition.event_type == IN_ALARM
    message = violation_message(ProfileBehavior("fleet", definition, case.spec), "meter-7", transition)
    return message, value


@pytest.mark.parametrize("case", CASES, ids=[f"{c.kind}-{c.spec.name}" for c in CASES])
@given(data=st.data())
def test_every_metric_value_kind_round_trips_from_evaluator_to_responder(case: Case, data: st.DataObject):
    message, judged = in_alarm_message(case, data.draw(case.violating, label="violating value"))
    published = json.dumps(message, sort_keys=True, default=str)  # as the notifier publishes it
    parsed = parse_violation_message(published)
    assert parsed.violation_event_type is ViolationEventType.IN_ALARM
    assert parsed.thing_name == "meter-7" and parsed.security_profile_name == "fleet"
    expected = _as_list(judged) if case.kind not in ("count", "number") else judged
    assert getattr(parsed.metric_value, case.kind) == expected
    assert parsed.metric_value.model_dump(exclude_none=True) == {case.kind: expected}
    # The JSON on the wire is the API's MetricValue: the same member names and types
    assert conforms(json.loads(published)["metricValue"], api_metric_value_shape()) == []
    assert set(json.loads(published)["metricValue"]) == {case.kind}


@pytest.mark.parametrize("case", CASES, ids=[f"{c.kind}-{c.spec.name}" for c in CASES])
@given(data=st.data())
def test_the_wrapped_sns_notification_parses_the_same(case: Case, data: st.DataObject):
    message, _ = in_alarm_message(case, data.draw(case.violating))
    body = json.dumps({"Type": "Notification", "Message": json.dumps(message)})
    assert parse_violation_message(body).metric_value.model_dump(exclude_none=True) == message["metricValue"]


def test_a_source_ip_violation_carries_its_address_as_a_list():
    source_ip = CASES[1]
    message, _ = in_alarm_message(source_ip, "203.0.113.7")
    assert message["metricValue"] == {"cidrs": ["203.0.113.7"]}
    assert message["violationEventTime"] == T0 * 1000 + 500


def test_the_botocore_metric_value_shape_is_the_one_the_model_covers():
    from iot_defender_runtime.model.violation import MetricValue

    shape = api_metric_value_shape()
    assert set(shape.members) == set(MetricValue.model_fields)
    assert {name: member.type_name for name, member in shape.members.items()} == {
        "count": "long",
        "cidrs": "list",
        "ports": "list",
        "number": "double",
        "numbers": "list",
        "strings": "list",
    }
