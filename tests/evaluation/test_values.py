"""Datapoint values checked against their metric's value kind before the engine judges them, and
endpoints reduced to their address; whatever is taken can be judged and alerted on."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iot_defender_runtime.evaluation.criteria import address, address_text, meets
from iot_defender_runtime.evaluation.values import datapoint_value
from iot_defender_runtime.model.metric_catalog import ValueKind
from iot_defender_runtime.model.violation import MetricValue, metric_value_of


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        (ValueKind.COUNT, 5, 5),
        (ValueKind.COUNT, 5.0, 5),
        (ValueKind.COUNT, 0, 0),
        (ValueKind.COUNT, 2**64 - 1, 2**64 - 1),
        (ValueKind.NUMBER, 3, 3.0),
        (ValueKind.NUMBER, -2.5, -2.5),
        (ValueKind.CIDRS, "203.0.113.7", ["203.0.113.7"]),
        (ValueKind.CIDRS, ["10.0.0.1:443", "2001:db8::1"], ["10.0.0.1", "2001:db8::1"]),
        (ValueKind.CIDRS, ["[2001:db8::1]:443", "[::1]:8883", "[::1]"], ["2001:db8::1", "::1", "::1"]),
        (ValueKind.CIDRS, ["10.1.2.3/8", "fe80::1%eth0"], ["10.0.0.0/8", "fe80::1"]),
        (ValueKind.PORTS, [443, 0, 65535], [443, 0, 65535]),
        (ValueKind.PORTS, 22, [22]),
        (ValueKind.NUMBERS, [1, 2.5], [1.0, 2.5]),
        (ValueKind.STRINGS, "v1", ["v1"]),
        (ValueKind.STRINGS, [], []),
    ],
)
def test_values_the_engine_can_judge(kind, value, expected):
    assert datapoint_value(kind, value) == expected
    assert type(datapoint_value(kind, value)) is type(expected)


@pytest.mark.parametrize(
    ("kind", "value", "reason"),
    [
        (ValueKind.COUNT, True, "a count is an integer"),
        (ValueKind.COUNT, None, "got NoneType"),
        (ValueKind.COUNT, "lots", "got 'lots'"),
        (ValueKind.COUNT, "12", "got '12'"),
        (ValueKind.COUNT, 2.5, "got 2.5"),
        (ValueKind.COUNT, -1, "got -1"),
        (ValueKind.COUNT, 2**64, "from 0 to 2\\*\\*64-1"),
        (ValueKind.COUNT, float("inf"), "got inf"),
        (ValueKind.NUMBER, 10**400, "too large"),
        (ValueKind.NUMBER, float("inf"), "not a finite number"),
        (ValueKind.NUMBER, [1], "got list"),
        (ValueKind.NUMBER, "3", "got '3'"),
        (ValueKind.CIDRS, "not-an-address", "does not appear to be an IPv4 or IPv6 address"),
        (ValueKind.CIDRS, [7], "is a string, got int"),
        (ValueKind.CIDRS, "203.0.113.9:70000", "port 70000 is outside 0-65535"),
        (ValueKind.CIDRS, "[203.0.113.9]:443", "only an IPv6 address is written in brackets"),
        (ValueKind.CIDRS, "x" * 65, "1 to 64 characters"),
        (ValueKind.PORTS, [65536], "got 65536"),
        (ValueKind.PORTS, ["22"], "got '22'"),
        (ValueKind.PORTS, [True], "got bool"),
        (ValueKind.PORTS, [-1], "got -1"),
        (ValueKind.NUMBERS, [float("nan")], "not a finite number"),
        (ValueKind.NUMBERS, [10**400], "too large"),
        (ValueKind.STRINGS, [{"a": 1}], "got dict"),
        (ValueKind.STRINGS, ["\ud800"], "lone surrogate"),
    ],
)
def test_fails_when_the_value_does_not_fit_its_kind_and_says_why(kind, value, reason):
    with pytest.raises(ValueError, match=reason):
        datapoint_value(kind, value)


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("203.0.113.9:443", "203.0.113.9"),
        ("203.0.113.9", "203.0.113.9"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("[2001:DB8:0::1]", "2001:db8::1"),
        ("2001:db8::1", "2001:db8::1"),
        ("[::1]:0", "::1"),
        ("2001:db8::/32", "2001:db8::/32"),
    ],
)
def test_an_endpoint_is_reduced_to_its_address(endpoint, expected):
    assert address_text(endpoint) == expected
    assert str(address(endpoint)) == expected.split("/")[0]


@pytest.mark.parametrize(
    ("kind", "operator", "criteria"),
    [
        (ValueKind.COUNT, "less-than", {"count": 5}),
        (ValueKind.NUMBER, "greater-than", {"number": 1.5}),
        (ValueKind.CIDRS, "in-cidr-set", {"cidrs": ["10.0.0.0/8", "2001:db8::/32"]}),
        (ValueKind.CIDRS, "not-in-cidr-set", {"cidrs": ["10.0.0.0/8"]}),
        (ValueKind.PORTS, "in-port-set", {"ports": [22]}),
        (ValueKind.NUMBERS, "not-in-set", {"numbers": [1.0]}),
        (ValueKind.STRINGS, "in-set", {"strings": ["a"]}),
    ],
)
@given(data=st.data())
def test_every_value_taken_can_be_judged_and_alerted_on(kind, operator, criteria, data):
    # Given any JSON value, When it is taken for the kind, Then judging it and carrying it in an alert
    # raise nothing (a JSON encoder included: no infinity, no lone surrogate)
    raw = data.draw(_JSON_VALUES)
    try:
        value = datapoint_value(kind, raw)
    except ValueError:
        return
    assert datapoint_value(kind, value) == value  # checking again changes nothing
    meets(operator, criteria, value)
    alert = metric_value_of(kind.value, value)
    assert alert != {}  # carried whole: the model left nothing out
    MetricValue.model_validate(alert, strict=True)
    json.dumps(alert, allow_nan=False, ensure_ascii=False).encode("utf-8")


_ENDPOINTS = st.one_of(
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
    st.tuples(st.ip_addresses(v=4), st.integers(0, 70000)).map(lambda p: f"{p[0]}:{p[1]}"),
    st.tuples(st.ip_addresses(v=6), st.integers(0, 70000)).map(lambda p: f"[{p[0]}]:{p[1]}"),
    st.text(alphabet="0123456789abcdef:.[]/%", max_size=20),
)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([10**400, 2**64 - 1, 2**64])
    | st.floats()
    | st.text(max_size=10)
    | _ENDPOINTS
)
_JSON_VALUES = st.recursive(_SCALARS, lambda children: st.lists(children, max_size=4), max_leaves=8)
