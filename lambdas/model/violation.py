"""Typed model of a Device Defender Detect violation event, and the envelopes it arrives in.

Shape: AWS IoT API reference, ``ViolationEvent`` (and the SNS alert payload, which carries the same
fields). Unknown fields are kept (``extra="allow"``) so that a newer payload is never rejected.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Epoch values above this are milliseconds (SNS alerts); below, seconds (API output).
# 10**11 seconds is the year 5138, so no real seconds value is mistaken for milliseconds.
_MILLISECONDS_THRESHOLD = 10**11


class ViolationEventType(str, Enum):
    IN_ALARM = "in-alarm"
    ALARM_CLEARED = "alarm-cleared"
    ALARM_INVALIDATED = "alarm-invalidated"


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class MetricValue(_Model):
    count: int | None = None
    number: float | None = None
    numbers: list[float] | None = None
    cidrs: list[str] | None = None
    ports: list[int] | None = None
    strings: list[str] | None = None


class StatisticalThreshold(_Model):
    statistic: str | None = None


class MachineLearningDetectionConfig(_Model):
    confidence_level: str = Field(alias="confidenceLevel")


class BehaviorCriteria(_Model):
    comparison_operator: str | None = Field(default=None, alias="comparisonOperator")
    value: MetricValue | None = None
    duration_seconds: int | None = Field(default=None, alias="durationSeconds")
    consecutive_datapoints_to_alarm: int | None = Field(default=None, alias="consecutiveDatapointsToAlarm")
    consecutive_datapoints_to_clear: int | None = Field(default=None, alias="consecutiveDatapointsToClear")
    statistical_threshold: StatisticalThreshold | None = Field(default=None, alias="statisticalThreshold")
    ml_detection_config: MachineLearningDetectionConfig | None = Field(default=None, alias="mlDetectionConfig")


class ViolatedBehavior(_Model):
    name: str = Field(min_length=1, max_length=128)
    metric: str | None = None
    criteria: BehaviorCriteria | None = None
    suppress_alerts: bool | None = Field(default=None, alias="suppressAlerts")


class ViolationEventAdditionalInfo(_Model):
    confidence_level: str | None = Field(default=None, alias="confidenceLevel")


class ViolationEvent(_Model):
    violation_id: str = Field(alias="violationId", min_length=1, max_length=128, pattern=r"^[a-zA-Z0-9\-]+$")
    thing_name: str = Field(alias="thingName", min_length=1, max_length=128)
    security_profile_name: str = Field(
        alias="securityProfileName", min_length=1, max_length=128, pattern=r"^[a-zA-Z0-9:_-]+$"
    )
    behavior: ViolatedBehavior
    violation_event_type: ViolationEventType = Field(alias="violationEventType")
    violation_event_time: datetime = Field(alias="violationEventTime")
    metric_value: MetricValue | None = Field(default=None, alias="metricValue")
    verification_state: str | None = Field(default=None, alias="verificationState")
    violation_event_additional_info: ViolationEventAdditionalInfo | None = Field(
        default=None, alias="violationEventAdditionalInfo"
    )

    @property
    def confidence_level(self) -> str | None:
        """ML Detect confidence: from the event's additional info, else from the behavior's criteria."""
        if self.violation_event_additional_info and self.violation_event_additional_info.confidence_level:
            return self.violation_event_additional_info.confidence_level
        criteria = self.behavior.criteria
        if criteria and criteria.ml_detection_config:
            return criteria.ml_detection_config.confidence_level
        return None

    @field_validator("violation_event_time", mode="before")
    @classmethod
    def _epoch_to_datetime(cls, value: Any) -> Any:
        """SNS alerts carry epoch milliseconds, the API float seconds: accept both."""
        if isinstance(value, bool):
            raise ValueError("violationEventTime must be an epoch number, got a boolean")
        if isinstance(value, int | float):
            seconds = value / 1000 if value >= _MILLISECONDS_THRESHOLD else value
            return datetime.fromtimestamp(seconds, tz=UTC)
        return value
