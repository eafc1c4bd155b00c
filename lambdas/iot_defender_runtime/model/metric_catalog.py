"""Every AWS-managed Device Defender Detect metric and the rules a behavior on it must follow.

Sources: AWS IoT Device Defender Developer Guide, "Cloud-side metrics", "Device-side metrics" and
"ML Detect" (supported metrics and limitations: no ML with dimensions or custom metrics), and the
botocore ``iot`` service model (``ComparisonOperator``, ``BehaviorCriteria``, ``MetricValue``,
``StatisticalThreshold.statistic`` pattern, ``consecutiveDatapoints*`` range 1-10). The developer
guide lists no separate "disconnects by reason" metric name; ``aws:num-disconnects`` counts all
disconnects, and ``aws:disconnect-duration`` measures how long a device stays disconnected.

Plain data, no aws_cdk and no boto3: the constructs validate behaviors with it at synth, and the
self-hosted evaluator reads the same facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class ComparisonOperator(str, Enum):
    """How a *normal* device's metric relates to the value: Device Defender alarms when it does not hold."""

    LESS_THAN = "less-than"
    LESS_THAN_EQUALS = "less-than-equals"
    GREATER_THAN = "greater-than"
    GREATER_THAN_EQUALS = "greater-than-equals"
    IN_CIDR_SET = "in-cidr-set"
    NOT_IN_CIDR_SET = "not-in-cidr-set"
    IN_PORT_SET = "in-port-set"
    NOT_IN_PORT_SET = "not-in-port-set"
    IN_SET = "in-set"
    NOT_IN_SET = "not-in-set"


class ValueKind(str, Enum):
    """The ``MetricValue`` field a behavior on the metric uses."""

    COUNT = "count"
    NUMBER = "number"
    NUMBERS = "numbers"
    CIDRS = "cidrs"
    PORTS = "ports"
    STRINGS = "strings"


class MetricSource(str, Enum):
    CLOUD = "cloud-side"
    DEVICE = "device-side"
    CUSTOM = "custom"


class DurationRule(str, Enum):
    """Whether a rule behavior's criteria take ``durationSeconds``."""

    REQUIRED = "required"
    OPTIONAL = "optional"
    NONE = "none"


NUMERIC_OPERATORS = frozenset(
    {
        ComparisonOperator.LESS_THAN,
        ComparisonOperator.LESS_THAN_EQUALS,
        ComparisonOperator.GREATER_THAN,
        ComparisonOperator.GREATER_THAN_EQUALS,
    }
)
CIDR_OPERATORS = frozenset({ComparisonOperator.IN_CIDR_SET, ComparisonOperator.NOT_IN_CIDR_SET})
PORT_OPERATORS = frozenset({ComparisonOperator.IN_PORT_SET, ComparisonOperator.NOT_IN_PORT_SET})
SET_OPERATORS = frozenset({ComparisonOperator.IN_SET, ComparisonOperator.NOT_IN_SET})
VALID_DURATIONS_SECONDS = (300, 600, 900, 1800, 3600)
STATISTICS = ("p0", "p0.1", "p0.01", "p1", "p10", "p50", "p90", "p99", "p99.9", "p99.99", "p100")
NUMERIC_KINDS = frozenset({ValueKind.COUNT, ValueKind.NUMBER})


@dataclass(frozen=True)
class MetricSpec:
    name: str
    title: str
    source: MetricSource
    value_kind: ValueKind
    operators: frozenset[ComparisonOperator]
    duration: DurationRule
    ml: bool
    dimensions: bool
    unit: str
    # Percentile thresholds need a numeric metric ("cannot be used with list-based metric datatypes").
    statistical: bool = True

    @property
    def device_reported(self) -> bool:
        return self.source is not MetricSource.CLOUD


def _count(
    name: str, title: str, source: MetricSource, unit: str, *, duration: DurationRule, dimensions: bool = False
) -> MetricSpec:
    """A numeric metric usable with rule, statistical and ML behaviors."""
    return MetricSpec(
        name=name,
        title=title,
        source=source,
        value_kind=ValueKind.COUNT,
        operators=NUMERIC_OPERATORS,
        duration=duration,
        ml=True,
        dimensions=dimensions,
        unit=unit,
    )


def _listed(
    name: str, title: str, source: MetricSource, kind: ValueKind, operators: frozenset[ComparisonOperator]
) -> MetricSpec:
    """A set-valued metric: rule behaviors only, with set-membership operators."""
    return MetricSpec(
        name=name,
        title=title,
        source=source,
        value_kind=kind,
        operators=operators,
        duration=DurationRule.NONE,
        ml=False,
        dimensions=False,
        unit="n/a",
        statistical=False,
    )


CLOUD, DEVICE = MetricSource.CLOUD, MetricSource.DEVICE
REQUIRED, OPTIONAL, NONE = DurationRule.REQUIRED, DurationRule.OPTIONAL, DurationRule.NONE

AWS_METRICS: tuple[MetricSpec, ...] = (
    _count("aws:message-byte-size", "Message size", CLOUD, "bytes", duration=NONE, dimensions=True),
    _count("aws:num-messages-sent", "Messages sent", CLOUD, "messages", duration=REQUIRED, dimensions=True),
    _count("aws:num-messages-received", "Messages received", CLOUD, "messages", duration=REQUIRED, dimensions=True),
    _count(
        "aws:num-authorization-failures",
        "Authorization failures",
        CLOUD,
        "failures",
        duration=REQUIRED,
        dimensions=True,
    ),
    _listed("aws:source-ip-address", "Source IP", CLOUD, ValueKind.CIDRS, CIDR_OPERATORS),
    _count("aws:num-connection-attempts", "Connection attempts", CLOUD, "connection attempts", duration=REQUIRED),
    _count("aws:num-disconnects", "Disconnects", CLOUD, "disconnects", duration=REQUIRED),
    MetricSpec(
        name="aws:disconnect-duration",
        title="Disconnect duration",
        source=CLOUD,
        value_kind=ValueKind.COUNT,
        operators=frozenset({ComparisonOperator.LESS_THAN_EQUALS}),
        duration=NONE,
        ml=False,
        dimensions=False,
        unit="minutes",
        statistical=False,
    ),
    _count("aws:all-bytes-out", "Bytes out", DEVICE, "bytes", duration=REQUIRED),
    _count("aws:all-bytes-in", "Bytes in", DEVICE, "bytes", duration=REQUIRED),
    _count("aws:all-packets-out", "Packets out", DEVICE, "packets", duration=REQUIRED),
    _count("aws:all-packets-in", "Packets in", DEVICE, "packets", duration=REQUIRED),
    _count("aws:num-listening-tcp-ports", "Listening TCP port count", DEVICE, "ports", duration=REQUIRED),
    _count("aws:num-listening-udp-ports", "Listening UDP port count", DEVICE, "ports", duration=REQUIRED),
    _count(
        "aws:num-established-tcp-connections", "Established TCP connections", DEVICE, "connections", duration=OPTIONAL
    ),
    _listed("aws:destination-ip-addresses", "Destination IPs", DEVICE, ValueKind.CIDRS, CIDR_OPERATORS),
    _listed("aws:listening-tcp-ports", "Listening TCP ports", DEVICE, ValueKind.PORTS, PORT_OPERATORS),
    _listed("aws:listening-udp-ports", "Listening UDP ports", DEVICE, ValueKind.PORTS, PORT_OPERATORS),
)
METRICS: dict[str, MetricSpec] = {spec.name: spec for spec in AWS_METRICS}


class CustomMetricType(str, Enum):
    NUMBER = "number"
    NUMBER_LIST = "number-list"
    STRING_LIST = "string-list"
    IP_ADDRESS_LIST = "ip-address-list"


_CUSTOM_KINDS = {
    CustomMetricType.NUMBER: (ValueKind.NUMBER, NUMERIC_OPERATORS),
    CustomMetricType.NUMBER_LIST: (ValueKind.NUMBERS, SET_OPERATORS),
    CustomMetricType.STRING_LIST: (ValueKind.STRINGS, SET_OPERATORS),
    CustomMetricType.IP_ADDRESS_LIST: (ValueKind.CIDRS, CIDR_OPERATORS),
}


def custom_metric_spec(name: str, metric_type: CustomMetricType) -> MetricSpec:
    """Custom metrics are device-reported; no dimensions on them; percentiles and ML Detect only on numbers."""
    metric_type = CustomMetricType(metric_type)
    kind, operators = _CUSTOM_KINDS[metric_type]
    return MetricSpec(
        name=name,
        title=f"Custom metric ({metric_type.value})",
        source=MetricSource.CUSTOM,
        value_kind=kind,
        operators=operators,
        duration=DurationRule.NONE,
        ml=metric_type is CustomMetricType.NUMBER,
        dimensions=False,
        unit="custom",
        statistical=metric_type is CustomMetricType.NUMBER,
    )


def catalog_markdown() -> str:
    """The README's metric table, generated from the catalog so that it cannot drift."""
    lines = [
        "| metric | title | source | value | operators | durationSeconds (rule) | statistical | ML Detect "
        "| dimension |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for spec in AWS_METRICS:
        operators = ", ".join(op.value for op in ComparisonOperator if op in spec.operators)
        lines.append(
            f"| `{spec.name}` | {spec.title} | {spec.source.value} | {spec.value_kind.value} ({spec.unit}) "
            f"| {operators} "
            f"| {spec.duration.value} | {'yes' if spec.statistical else 'no'} | {'yes' if spec.ml else 'no'} "
            f"| {'TOPIC_FILTER' if spec.dimensions else 'no'} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(catalog_markdown())
