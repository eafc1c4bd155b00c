"""Custom metrics that devices report, and dimensions that narrow a metric to some MQTT topics."""

from __future__ import annotations

import re
from collections.abc import Sequence
from enum import Enum

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iot as iot
from constructs import Construct

from constructs_lib._validation import NAME_PATTERN, may_be_token, raise_if_any
from iot_defender_runtime.model.metric_catalog import CustomMetricType, MetricSpec, custom_metric_spec

_DIMENSION_VALUE = re.compile(r"^.{1,256}$")
MAX_DIMENSION_VALUES = 5


class CustomMetric(Construct):
    """``AWS::IoT::CustomMetric``: a metric your devices report in the ``custom_metrics`` block of
    their Device Defender metrics document. Use it in ``Behavior.rule`` or ``Behavior.statistical``
    (number type); ML Detect and dimensions do not apply to custom metrics."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        metric_name: str,
        metric_type: CustomMetricType,
        display_name: str | None = None,
    ) -> None:
        """
        :param metric_name: the name devices report; may not start with ``aws:``.
        :param metric_type: number, number-list, string-list or ip-address-list.
        :param display_name: Default: none.
        """
        super().__init__(scope, id)
        problems = _custom_metric_problems(metric_name, metric_type)
        raise_if_any(self, problems)
        self.metric_type = CustomMetricType(metric_type)
        self.resource = iot.CfnCustomMetric(
            self, "Resource", metric_name=metric_name, metric_type=self.metric_type.value, display_name=display_name
        )
        self.metric_name = metric_name
        self.spec: MetricSpec = custom_metric_spec(metric_name, self.metric_type)

    @property
    def metric_arn(self) -> str:
        return self.resource.attr_metric_arn

    @staticmethod
    def from_custom_metric_name(
        scope: Construct, id: str, metric_name: str, metric_type: CustomMetricType
    ) -> ImportedCustomMetric:
        """A custom metric that exists outside this app; its type is needed to check behaviors on it."""
        raise_if_any((scope, id), _custom_metric_problems(metric_name, metric_type))
        return ImportedCustomMetric(scope, id, metric_name, CustomMetricType(metric_type))


class ImportedCustomMetric(Construct):
    def __init__(self, scope: Construct, id: str, metric_name: str, metric_type: CustomMetricType) -> None:
        super().__init__(scope, id)
        self.metric_name = metric_name
        self.metric_type = metric_type
        self.spec = custom_metric_spec(metric_name, metric_type)
        self.metric_arn = Stack.of(self).format_arn(
            service="iot", resource="custommetric", resource_name=metric_name, arn_format=ArnFormat.SLASH_RESOURCE_NAME
        )


def _custom_metric_problems(metric_name: str, metric_type: object) -> list[str]:
    problems: list[str] = []
    if not isinstance(metric_name, str) or may_be_token(metric_name):
        problems.append("metric_name must be a plain string: devices report it by name")
    elif not NAME_PATTERN.match(metric_name):
        problems.append(f"metric_name '{metric_name}' must be 1 to 128 characters of [a-zA-Z0-9:_-]")
    elif metric_name.startswith("aws:"):
        problems.append(f"metric_name '{metric_name}' may not start with 'aws:', which AWS-managed metrics use")
    try:
        CustomMetricType(metric_type)
    except ValueError:
        allowed = ", ".join(t.value for t in CustomMetricType)
        problems.append(f"metric_type '{metric_type}' is not one of {allowed}")
    return problems


class DimensionOperator(str, Enum):
    """Whether a behavior with a dimension counts the topics that match its filters (IN) or the others."""

    IN = "IN"
    NOT_IN = "NOT_IN"


class Dimension(Construct):
    """``AWS::IoT::Dimension`` of type TOPIC_FILTER: scope a message or authorization metric to
    the MQTT topics matching these filters (``Behavior.rule(..., dimension=...)``)."""

    def __init__(self, scope: Construct, id: str, *, dimension_name: str, topic_filters: Sequence[str]) -> None:
        """
        :param dimension_name: referenced by behaviors; 1 to 128 of ``[a-zA-Z0-9:_-]``.
        :param topic_filters: 1 to 5 MQTT topic filters (``+`` and ``#`` wildcards allowed).
        """
        super().__init__(scope, id)
        problems: list[str] = []
        if not isinstance(dimension_name, str) or not NAME_PATTERN.match(dimension_name):
            problems.append(f"dimension_name {dimension_name!r} must be 1 to 128 characters of [a-zA-Z0-9:_-]")
        if not topic_filters:
            problems.append("topic_filters is empty; give 1 to 5 MQTT topic filters")
        if len(topic_filters) > MAX_DIMENSION_VALUES:
            problems.append(
                f"topic_filters has {len(topic_filters)} entries; at most {MAX_DIMENSION_VALUES} are allowed"
            )
        for index, topic_filter in enumerate(topic_filters):
            if not isinstance(topic_filter, str) or not _DIMENSION_VALUE.match(topic_filter):
                problems.append(f"topic_filters[{index}] {topic_filter!r} must be 1 to 256 characters")
        raise_if_any(self, problems)
        self.dimension_name = dimension_name
        self.topic_filters: tuple[str, ...] = tuple(topic_filters)
        self.resource = iot.CfnDimension(
            self, "Resource", name=dimension_name, type="TOPIC_FILTER", string_values=list(topic_filters)
        )

    @property
    def dimension_arn(self) -> str:
        return self.resource.attr_arn
