"""The AWS-managed Detect metrics that rule behaviors can use in this release.

Source: AWS IoT Device Defender Developer Guide, "Cloud-side metrics"
(detect-cloud-side-metrics.html): operators, value kinds and the valid ``durationSeconds``.
The catalog grows to every cloud-side and device-side metric with the Detect-as-code work.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class ComparisonOperator(str, Enum):
    LESS_THAN = "less-than"
    LESS_THAN_EQUALS = "less-than-equals"
    GREATER_THAN = "greater-than"
    GREATER_THAN_EQUALS = "greater-than-equals"


NUMERIC_OPERATORS = frozenset(ComparisonOperator)
VALID_DURATIONS_SECONDS = (300, 600, 900, 1800, 3600)


@dataclass(frozen=True)
class MetricSpec:
    name: str
    description: str
    operators: frozenset[ComparisonOperator]
    needs_duration: bool


_SPECS = [
    MetricSpec("aws:num-messages-sent", "messages a device sent in the period", NUMERIC_OPERATORS, True),
    MetricSpec("aws:num-messages-received", "messages a device received in the period", NUMERIC_OPERATORS, True),
    MetricSpec("aws:message-byte-size", "bytes in one message from the device", NUMERIC_OPERATORS, False),
    MetricSpec(
        "aws:num-authorization-failures", "authorization failures of the device in the period", NUMERIC_OPERATORS, True
    ),
    MetricSpec(
        "aws:num-connection-attempts", "connection attempts of the device in the period", NUMERIC_OPERATORS, True
    ),
    MetricSpec("aws:num-disconnects", "disconnects of the device in the period", NUMERIC_OPERATORS, True),
]
METRICS: dict[str, MetricSpec] = {spec.name: spec for spec in _SPECS}
