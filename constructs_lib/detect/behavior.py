"""Typed Detect behaviors, validated when they are built.

Criteria describe a *normal* device; Device Defender raises ``in-alarm`` when a device stops
meeting them for ``datapoints_to_alarm`` consecutive datapoints. For example "at most 1000
messages in 5 minutes" is ``operator=LESS_THAN_EQUALS, value=1000, duration=Duration.minutes(5)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from aws_cdk import Duration
from constructs import Construct

from constructs_lib._validation import check_duration
from constructs_lib.detect.custom_metric import CustomMetric, Dimension, DimensionOperator, ImportedCustomMetric
from iot_defender_runtime.model.behavior_definition import (
    BehaviorDefinition,
    BehaviorKind,
    DimensionFilter,
    problems,
)
from iot_defender_runtime.model.metric_catalog import METRICS, ComparisonOperator, MetricSpec
from iot_defender_runtime.model.remediation_policy import Confidence

MetricRef = str | CustomMetric | ImportedCustomMetric


class BehaviorValidationError(ValueError):
    """A behavior argument is wrong; ``problems`` holds one message per problem, each naming the behavior."""

    def __init__(self, found: Sequence[str]) -> None:
        self.problems = tuple(found)
        super().__init__("; ".join(self.problems))


class Behavior:
    """One Detect behavior: build it with ``Behavior.rule``, ``Behavior.statistical`` or ``Behavior.ml``.

    ``definition`` is plain data shared with the self-hosted evaluator; ``dependencies`` are the
    custom metrics and dimensions a security profile must create first.
    """

    def __init__(
        self, definition: BehaviorDefinition, spec: MetricSpec, dependencies: Sequence[Construct] = ()
    ) -> None:
        self.definition = definition
        self.spec = spec
        self.dependencies = tuple(dependencies)

    @property
    def name(self) -> str:
        return self.definition.name

    @staticmethod
    def rule(
        name: str,
        *,
        metric: MetricRef,
        operator: ComparisonOperator | str,
        value: int | float | Sequence[Any],
        duration: Duration | None = None,
        datapoints_to_alarm: int = 1,
        datapoints_to_clear: int = 1,
        suppress_alerts: bool = False,
        dimension: Dimension | None = None,
        dimension_operator: DimensionOperator | str = DimensionOperator.IN,
        export_metric: bool = False,
    ) -> Behavior:
        """A static threshold (``value`` a number) or set membership (``value`` a list of CIDRs,
        ports, numbers or strings) that a normal device meets.

        :param duration: the aggregation period, 5, 10, 15, 30 or 60 minutes; required by periodic
            metrics, refused by per-message and set metrics. Default: none.
        :param datapoints_to_alarm: consecutive violating datapoints before ``in-alarm`` (1-10). Default: 1.
        :param datapoints_to_clear: consecutive normal datapoints before ``alarm-cleared`` (1-10). Default: 1.
        :param suppress_alerts: record violations but send no SNS alert. Default: alerts are sent.
        :param dimension: limit the metric to some MQTT topics. Default: all topics.
        :param dimension_operator: ``DimensionOperator.IN`` (topics matching the dimension) or ``NOT_IN``
            (the others); the strings "IN" and "NOT_IN" are accepted too. Default: IN.
        :param export_metric: export this behavior's metric (see ``SecurityProfile(metrics_export_topic=...)``).
        """
        spec, metric_name, dependencies = _resolve_metric(metric)
        kind = spec.value_kind.value if spec is not None else "count"
        return _build(
            BehaviorDefinition(
                name=name,
                metric=metric_name,
                kind=BehaviorKind.RULE,
                comparison_operator=_operator_value(operator),
                value={kind: list(value) if isinstance(value, list | tuple) else value},
                duration_seconds=_seconds(name, duration),
                consecutive_datapoints_to_alarm=datapoints_to_alarm,
                consecutive_datapoints_to_clear=datapoints_to_clear,
                suppress_alerts=suppress_alerts,
                dimension=_dimension(dimension, dimension_operator),
                export_metric=export_metric,
            ),
            spec,
            dependencies + ((dimension,) if dimension is not None else ()),
        )

    @staticmethod
    def statistical(
        name: str,
        *,
        metric: MetricRef,
        operator: ComparisonOperator | str,
        percentile: str,
        duration: Duration,
        datapoints_to_alarm: int = 1,
        datapoints_to_clear: int = 1,
        suppress_alerts: bool = False,
        dimension: Dimension | None = None,
        dimension_operator: DimensionOperator | str = DimensionOperator.IN,
        export_metric: bool = False,
    ) -> Behavior:
        """A threshold at a percentile of the targeted fleet over ``duration``, e.g. a normal device
        sends ``LESS_THAN_EQUALS`` the fleet's ``"p90"``.

        :param percentile: one of p0, p0.1, p0.01, p1, p10, p50, p90, p99, p99.9, p99.99, p100.
        :param duration: the aggregation period, an ``aws_cdk.Duration`` of 5, 10, 15, 30 or 60 minutes.
        :param dimension_operator: as in ``Behavior.rule``. Default: IN.
        """
        spec, metric_name, dependencies = _resolve_metric(metric)
        return _build(
            BehaviorDefinition(
                name=name,
                metric=metric_name,
                kind=BehaviorKind.STATISTICAL,
                comparison_operator=_operator_value(operator),
                statistic=percentile,
                duration_seconds=_seconds(name, duration),
                consecutive_datapoints_to_alarm=datapoints_to_alarm,
                consecutive_datapoints_to_clear=datapoints_to_clear,
                suppress_alerts=suppress_alerts,
                dimension=_dimension(dimension, dimension_operator),
                export_metric=export_metric,
            ),
            spec,
            dependencies + ((dimension,) if dimension is not None else ()),
        )

    @staticmethod
    def ml(
        name: str,
        *,
        metric: MetricRef,
        confidence: Confidence | str = Confidence.HIGH,
        datapoints_to_alarm: int = 1,
        datapoints_to_clear: int = 1,
        suppress_alerts: bool = False,
        dimension: Dimension | None = None,
        dimension_operator: DimensionOperator | str = DimensionOperator.IN,
        export_metric: bool = False,
    ) -> Behavior:
        """ML Detect: the model learns normal behavior (14 days, 25,000 datapoints per metric). Managed
        Detect trains AWS's model; ``SelfHostedDetect`` trains its own from the window history (its
        ``history`` must be on). The metrics ML Detect supports, custom metrics of type number, and a
        dimension on the cloud-side metrics that take one.

        :param confidence: ``Confidence.LOW`` (most alarms), ``MEDIUM`` or ``HIGH`` (fewest alarms); the
            strings "LOW", "MEDIUM" and "HIGH" are accepted too. Default: HIGH.
        :param dimension: limit the metric to some MQTT topics. Default: all topics.
        :param dimension_operator: as in ``Behavior.rule``. Default: IN.
        """
        spec, metric_name, dependencies = _resolve_metric(metric)
        return _build(
            BehaviorDefinition(
                name=name,
                metric=metric_name,
                kind=BehaviorKind.ML,
                confidence=_enum_value(confidence),
                consecutive_datapoints_to_alarm=datapoints_to_alarm,
                consecutive_datapoints_to_clear=datapoints_to_clear,
                suppress_alerts=suppress_alerts,
                dimension=_dimension(dimension, dimension_operator),
                export_metric=export_metric,
            ),
            spec,
            dependencies + ((dimension,) if dimension is not None else ()),
        )


def _build(definition: BehaviorDefinition, spec: MetricSpec | None, dependencies: tuple[Construct, ...]) -> Behavior:
    found = problems(definition, spec)
    if found:
        raise BehaviorValidationError(found)
    assert spec is not None  # problems() reports an unknown metric
    return Behavior(definition, spec, dependencies)


def _resolve_metric(metric: MetricRef) -> tuple[MetricSpec | None, str, tuple[Construct, ...]]:
    if isinstance(metric, CustomMetric | ImportedCustomMetric):
        dependencies = (metric,) if isinstance(metric, CustomMetric) else ()
        return metric.spec, metric.metric_name, dependencies
    return METRICS.get(metric), metric, ()


def _operator_value(operator: ComparisonOperator | str) -> str:
    return operator.value if isinstance(operator, ComparisonOperator) else operator


def _dimension(dimension: Dimension | None, operator: DimensionOperator | str) -> DimensionFilter | None:
    return DimensionFilter(dimension.dimension_name, _enum_value(operator)) if dimension is not None else None


def _enum_value(value: Any) -> Any:
    """An enum member as its string (the definition is plain data); anything else as given, for
    the definition's checks to report."""
    return value.value if isinstance(value, Confidence | DimensionOperator) else value


def _seconds(name: str, duration: Duration | None) -> int | None:
    if duration is None:
        return None
    found: list[str] = []
    if not check_duration("duration", duration, found):
        raise BehaviorValidationError([f"behavior '{name}': {problem}" for problem in found])
    return _cached_seconds(duration)


@lru_cache(maxsize=1024)
def _cached_seconds(duration: Duration) -> int:
    """Each ``to_seconds`` is a round trip to the jsii runtime; behaviors usually share a few Durations."""
    try:
        return int(duration.to_seconds())
    except RuntimeError as error:  # raised by aws-cdk-lib for unresolved tokens
        raise BehaviorValidationError([f"duration must be a concrete Duration, not a token ({error})"]) from error
