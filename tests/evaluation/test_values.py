"""Datapoint values checked against their metric's value kind before the engine judges them."""

from __future__ import annotations

import pytest

from lambdas.evaluation.values import datapoint_value
from lambdas.model.metric_catalog import ValueKind


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        (ValueKind.COUNT, 5, 5),
        (ValueKind.COUNT, 5.0, 5),
        (ValueKind.COUNT, "12", 12),
        (ValueKind.COUNT, 2.5, 2.5),
        (ValueKind.NUMBER, 3, 3.0),
        (ValueKind.CIDRS, "203.0.113.7", "203.0.113.7"),
        (ValueKind.CIDRS, ["10.0.0.1:443", "2001:db8::1"], ["10.0.0.1:443", "2001:db8::1"]),
        (ValueKind.PORTS, [443, 0, 65535], [443, 0, 65535]),
        (ValueKind.NUMBERS, [1, 2.5], [1, 2.5]),
        (ValueKind.STRINGS, "v1", "v1"),
    ],
)
def test_values_the_engine_can_judge(kind, value, expected):
    assert datapoint_value(kind, value) == expected
    assert type(datapoint_value(kind, value)) is type(expected)


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (ValueKind.COUNT, True),
        (ValueKind.COUNT, None),
        (ValueKind.COUNT, "many"),
        (ValueKind.COUNT, "inf"),
        (ValueKind.NUMBER, 10**400),
        (ValueKind.NUMBER, [1]),
        (ValueKind.CIDRS, "not-an-address"),
        (ValueKind.CIDRS, [7]),
        (ValueKind.PORTS, [65536]),
        (ValueKind.PORTS, ["443"]),
        (ValueKind.PORTS, [True]),
        (ValueKind.NUMBERS, [float("nan")]),
        (ValueKind.STRINGS, [{"a": 1}]),
    ],
)
def test_values_it_cannot_are_refused_with_a_reason(kind, value):
    with pytest.raises(ValueError, match=r"\w"):
        datapoint_value(kind, value)
