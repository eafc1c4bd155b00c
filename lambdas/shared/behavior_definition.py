"""Behavior definitions as plain data: the one shape that managed Detect (rendered to
CloudFormation by the constructs) and the self-hosted evaluator share. No aws_cdk, no boto3.

Field names and nesting follow the AWS IoT API ``Behavior`` type, so ``to_api()`` output is what
``CreateSecurityProfile`` accepts and what violation events carry in ``behavior``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class BehaviorDefinition:
    name: str
    metric: str
    comparison_operator: str
    value: Mapping[str, Any]
    duration_seconds: int | None = None
    consecutive_datapoints_to_alarm: int = 1
    consecutive_datapoints_to_clear: int = 1
    suppress_alerts: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_api(self) -> dict[str, Any]:
        criteria: dict[str, Any] = {
            "comparisonOperator": self.comparison_operator,
            "value": dict(self.value),
            "consecutiveDatapointsToAlarm": self.consecutive_datapoints_to_alarm,
            "consecutiveDatapointsToClear": self.consecutive_datapoints_to_clear,
        }
        if self.duration_seconds is not None:
            criteria["durationSeconds"] = self.duration_seconds
        return {
            "name": self.name,
            "metric": self.metric,
            "criteria": criteria,
            "suppressAlerts": self.suppress_alerts,
        }

    @classmethod
    def from_api(cls, behavior: Mapping[str, Any]) -> BehaviorDefinition:
        criteria = behavior["criteria"]
        return cls(
            name=behavior["name"],
            metric=behavior["metric"],
            comparison_operator=criteria["comparisonOperator"],
            value=dict(criteria["value"]),
            duration_seconds=criteria.get("durationSeconds"),
            consecutive_datapoints_to_alarm=criteria.get("consecutiveDatapointsToAlarm", 1),
            consecutive_datapoints_to_clear=criteria.get("consecutiveDatapointsToClear", 1),
            suppress_alerts=bool(behavior.get("suppressAlerts", False)),
        )
