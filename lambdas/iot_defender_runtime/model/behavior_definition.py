"""Behavior definitions as plain data: the one shape that managed Detect (rendered to
CloudFormation by the constructs) and the self-hosted evaluator share. No aws_cdk, no boto3.

``to_api()`` gives the AWS IoT API ``Behavior`` (what ``CreateSecurityProfile`` accepts and what
violation events carry in ``behavior``); ``from_api()`` reads it back. The criteria describe a
*normal* device: Device Defender raises an alarm when a device does not meet them.

``problems(definition, spec)`` checks a definition against the metric's catalog entry and returns
every problem, each naming the behavior, the field and what is allowed.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from iot_defender_runtime.model.metric_catalog import (
    CIDR_OPERATORS,
    NUMERIC_OPERATORS,
    PORT_OPERATORS,
    SET_OPERATORS,
    STATISTICS,
    VALID_DURATIONS_SECONDS,
    ComparisonOperator,
    DurationRule,
    MetricSource,
    MetricSpec,
    ValueKind,
)

NAME_PATTERN = re.compile(r"^[a-zA-Z0-9:_-]{1,128}$")
MIN_DATAPOINTS, MAX_DATAPOINTS = 1, 10
CONFIDENCE_LEVELS = ("LOW", "MEDIUM", "HIGH")
DIMENSION_OPERATORS = ("IN", "NOT_IN")


class BehaviorKind(str, Enum):
    RULE = "rule"
    STATISTICAL = "statistical"
    ML = "ml"


@dataclass(frozen=True)
class DimensionFilter:
    """A behavior's ``metricDimension``: the dimension's name and whether matching topics are in or out."""

    name: str
    operator: str = "IN"


@dataclass(frozen=True)
class BehaviorDefinition:
    name: str
    metric: str
    kind: BehaviorKind
    comparison_operator: str | None = None
    value: Mapping[str, Any] | None = None
    statistic: str | None = None
    confidence: str | None = None
    duration_seconds: int | None = None
    consecutive_datapoints_to_alarm: int = 1
    consecutive_datapoints_to_clear: int = 1
    suppress_alerts: bool = False
    dimension: DimensionFilter | None = None
    export_metric: bool = False

    def to_api(self) -> dict[str, Any]:
        criteria: dict[str, Any] = {
            "consecutiveDatapointsToAlarm": self.consecutive_datapoints_to_alarm,
            "consecutiveDatapointsToClear": self.consecutive_datapoints_to_clear,
        }
        if self.comparison_operator is not None:
            criteria["comparisonOperator"] = self.comparison_operator
        if self.value is not None:
            criteria["value"] = {key: list(v) if isinstance(v, list | tuple) else v for key, v in self.value.items()}
        if self.statistic is not None:
            criteria["statisticalThreshold"] = {"statistic": self.statistic}
        if self.confidence is not None:
            criteria["mlDetectionConfig"] = {"confidenceLevel": self.confidence}
        if self.duration_seconds is not None:
            criteria["durationSeconds"] = self.duration_seconds
        behavior: dict[str, Any] = {
            "name": self.name,
            "metric": self.metric,
            "criteria": criteria,
            "suppressAlerts": self.suppress_alerts,
        }
        if self.dimension is not None:
            behavior["metricDimension"] = {"dimensionName": self.dimension.name, "operator": self.dimension.operator}
        if self.export_metric:
            behavior["exportMetric"] = True
        return behavior

    @classmethod
    def from_api(cls, behavior: Mapping[str, Any]) -> BehaviorDefinition:
        criteria = behavior.get("criteria", {})
        if "mlDetectionConfig" in criteria:
            kind = BehaviorKind.ML
        elif "statisticalThreshold" in criteria:
            kind = BehaviorKind.STATISTICAL
        else:
            kind = BehaviorKind.RULE
        dimension = behavior.get("metricDimension")
        value = criteria.get("value")
        return cls(
            name=behavior["name"],
            metric=behavior["metric"],
            kind=kind,
            comparison_operator=criteria.get("comparisonOperator"),
            value={key: list(v) if isinstance(v, list) else v for key, v in value.items()}
            if value is not None
            else None,
            statistic=criteria.get("statisticalThreshold", {}).get("statistic"),
            confidence=criteria.get("mlDetectionConfig", {}).get("confidenceLevel"),
            duration_seconds=criteria.get("durationSeconds"),
            consecutive_datapoints_to_alarm=criteria.get("consecutiveDatapointsToAlarm", 1),
            consecutive_datapoints_to_clear=criteria.get("consecutiveDatapointsToClear", 1),
            suppress_alerts=bool(behavior.get("suppressAlerts", False)),
            dimension=DimensionFilter(dimension["dimensionName"], dimension.get("operator", "IN"))
            if dimension
            else None,
            export_metric=bool(behavior.get("exportMetric", False)),
        )


_FAMILY = (
    (NUMERIC_OPERATORS, "a numeric metric"),
    (CIDR_OPERATORS, "an IP metric (CIDRs)"),
    (PORT_OPERATORS, "a port metric"),
    (SET_OPERATORS, "a number-list or string-list custom metric"),
)
_VALUE_SHAPES = {
    ValueKind.COUNT: "a non-negative integer",
    ValueKind.NUMBER: "a number",
    ValueKind.NUMBERS: "a non-empty list of numbers",
    ValueKind.CIDRS: "a non-empty list of CIDRs",
    ValueKind.PORTS: "a non-empty list of ports (0 to 65535)",
    ValueKind.STRINGS: "a non-empty list of strings",
}


def problems(definition: BehaviorDefinition, spec: MetricSpec | None) -> list[str]:
    """Every way the definition breaks the API's or the metric's rules; empty when it is valid."""
    label = f"behavior '{definition.name}'"
    found: list[str] = []

    def add(message: str) -> None:
        found.append(f"{label}: {message}")

    if not isinstance(definition.name, str) or not NAME_PATTERN.match(definition.name):
        add("name must be 1 to 128 characters of [a-zA-Z0-9:_-]")
    for argument, count in (
        ("datapoints_to_alarm", definition.consecutive_datapoints_to_alarm),
        ("datapoints_to_clear", definition.consecutive_datapoints_to_clear),
    ):
        if isinstance(count, bool) or not isinstance(count, int) or not MIN_DATAPOINTS <= count <= MAX_DATAPOINTS:
            add(f"{argument} {count!r} must be between {MIN_DATAPOINTS} and {MAX_DATAPOINTS}")
    if definition.duration_seconds is not None and definition.duration_seconds not in VALID_DURATIONS_SECONDS:
        add(
            f"duration of {definition.duration_seconds} seconds is not one of "
            f"{', '.join(str(s) for s in VALID_DURATIONS_SECONDS)} seconds"
        )
    if spec is None:
        add(
            f"metric '{definition.metric}' is not an AWS-managed Detect metric; use a CustomMetric for your own "
            "metrics (see the metric catalog)"
        )
        return found
    if definition.dimension is not None:
        if spec.source is MetricSource.CUSTOM:
            add(f"a dimension cannot be used with custom metric '{spec.name}'")
        elif not spec.dimensions:
            add(
                f"{spec.name} does not accept a dimension; aws:message-byte-size, aws:num-messages-sent, "
                "aws:num-messages-received and aws:num-authorization-failures do"
            )
        if definition.dimension.operator not in DIMENSION_OPERATORS:
            add(f"dimension operator '{definition.dimension.operator}' is not one of IN, NOT_IN")
    if definition.kind is BehaviorKind.ML:
        _ml_problems(definition, spec, add)
        return found
    _operator_problems(definition, spec, add)
    if definition.kind is BehaviorKind.STATISTICAL:
        if not spec.statistical:
            add(f"a statistical behavior needs a numeric metric that supports percentiles, got {spec.name}")
        if definition.statistic not in STATISTICS:
            add(f"percentile '{definition.statistic}' is not one of {', '.join(STATISTICS)}")
        if definition.duration_seconds is None:
            add("a statistical behavior needs a duration (300, 600, 900, 1800 or 3600 seconds)")
        return found
    _value_problems(definition, spec, add)
    if spec.duration is DurationRule.REQUIRED and definition.duration_seconds is None:
        add(f"{spec.name} needs a duration (300, 600, 900, 1800 or 3600 seconds)")
    if spec.duration is DurationRule.NONE and definition.duration_seconds is not None:
        add(f"{spec.name} takes no duration in a rule behavior")
    return found


def _ml_problems(definition: BehaviorDefinition, spec: MetricSpec, add: Any) -> None:
    """ML Detect's limitations (developer guide, "ML Detect", Limitations and Supported metrics:
    https://docs.aws.amazon.com/iot-device-defender/latest/devguide/dd-detect-ml.html): 6 cloud-side and
    7 device-side metrics, custom metrics of type number only, and dimensions on the cloud-side metrics
    that take one (checked with every behavior's dimension above)."""
    if spec.source is MetricSource.CUSTOM:
        if spec.value_kind is not ValueKind.NUMBER:
            add(f"ML Detect uses custom metrics of type number only, got '{spec.name}' ({spec.value_kind.value})")
    elif not spec.ml:
        add(f"ML Detect does not support {spec.name}")
    if definition.confidence not in CONFIDENCE_LEVELS:
        add(f"confidence '{definition.confidence}' is not one of LOW, MEDIUM, HIGH")
    if definition.value is not None or definition.comparison_operator is not None:
        add("an ML behavior takes no value and no operator: the model sets the threshold")


def _operator_problems(definition: BehaviorDefinition, spec: MetricSpec, add: Any) -> None:
    try:
        operator = ComparisonOperator(definition.comparison_operator)
    except ValueError:
        add(
            f"operator '{definition.comparison_operator}' is not one of "
            f"{', '.join(op.value for op in ComparisonOperator)}"
        )
        return
    if operator in spec.operators:
        return
    family = next(description for operators, description in _FAMILY if operator in operators)
    if not any(operator in operators and spec.operators & operators for operators, _ in _FAMILY):
        add(f"operator '{operator.value}' needs {family}, got {spec.name}")
    else:
        allowed = ", ".join(op.value for op in ComparisonOperator if op in spec.operators)
        add(f"operator '{operator.value}' is not allowed on {spec.name}; use {allowed}")


def _value_problems(definition: BehaviorDefinition, spec: MetricSpec, add: Any) -> None:
    value = definition.value or {}
    expected = spec.value_kind.value
    if set(value) != {expected}:
        add(f"{spec.name} takes a value of kind '{expected}' ({_VALUE_SHAPES[spec.value_kind]})")
        return
    if not _value_is_valid(spec.value_kind, value[expected]):
        add(f"value {value[expected]!r} must be {_VALUE_SHAPES[spec.value_kind]} for {spec.name}")


def _value_is_valid(kind: ValueKind, value: Any) -> bool:
    def is_number(item: Any) -> bool:
        return isinstance(item, int | float) and not isinstance(item, bool)

    if kind is ValueKind.COUNT:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0
    if kind is ValueKind.NUMBER:
        return is_number(value)
    if not isinstance(value, list | tuple) or not value:
        return False
    if kind is ValueKind.NUMBERS:
        return all(is_number(item) for item in value)
    if kind is ValueKind.PORTS:
        return all(isinstance(item, int) and not isinstance(item, bool) and 0 <= item <= 65535 for item in value)
    if kind is ValueKind.STRINGS:
        return all(isinstance(item, str) and item for item in value)
    return all(_is_cidr(item) for item in value)


def _is_cidr(item: Any) -> bool:
    if not isinstance(item, str) or "/" not in item:
        return False
    try:
        ipaddress.ip_network(item, strict=False)
    except ValueError:
        return False
    return True
