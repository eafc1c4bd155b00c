"""Typed model of a Device Defender Detect violation event: the one shape that the self-hosted
evaluator builds (``ViolationEvent.alert(...).to_message()``) and the quarantine responder parses.

Shape: AWS IoT API reference, ``ViolationEvent`` (and the SNS alert payload, which carries the same
fields). Unknown fields are kept at every level (``extra="allow"`` on every model) so that a newer
payload is never rejected, and dumped back as they came: with their own names (fields are read by
their API names only, so an unknown ``thing_name`` beside ``thingName`` is an unknown field, not a
second spelling of the thing), and with their null values even when the dump leaves out null
modelled fields (``exclude_none``, as the notification and ``to_message`` do).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
)

# Epoch values above this are milliseconds (SNS alerts); below, seconds (API output).
# 10**11 seconds is the year 5138, so no real seconds value is mistaken for milliseconds.
_MILLISECONDS_THRESHOLD = 10**11
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)
NUMERIC_FIELDS = frozenset({"count", "number"})
LIST_FIELDS = frozenset({"cidrs", "ports", "numbers", "strings"})
UNSIGNED_LONG_MAX = 2**64 - 1  # the API's ``UnsignedLong`` (botocore: a long, min 0)

# The API's member shapes (botocore ``iot``): Number is a double, and JSON has no non-finite number
_Finite = Annotated[float, Field(allow_inf_nan=False)]
_Port = Annotated[int, Field(ge=0, le=65535)]
_Cidr = Annotated[str, Field(min_length=2, max_length=43, pattern=r"^[a-fA-F0-9:./]+$")]


class ViolationEventType(str, Enum):
    IN_ALARM = "in-alarm"
    ALARM_CLEARED = "alarm-cleared"
    ALARM_INVALIDATED = "alarm-invalidated"


class VerificationState(str, Enum):
    """The API's ``VerificationState``: an operator's verdict on a violation."""

    TRUE_POSITIVE = "TRUE_POSITIVE"
    FALSE_POSITIVE = "FALSE_POSITIVE"
    BENIGN_POSITIVE = "BENIGN_POSITIVE"
    UNKNOWN = "UNKNOWN"


VERIFICATION_DESCRIPTION_MAX = 1000  # the API's VerificationStateDescription: at most 1000, no control characters


class _Model(BaseModel):
    """Unknown fields kept and dumped back as they came (module docstring). Fields are read by their
    API names (aliases) only: with ``populate_by_name`` an unknown ``thing_name`` would be taken for
    ``thingName`` when that is missing, and silently dropped when it is there."""

    model_config = ConfigDict(extra="allow")

    @model_serializer(mode="wrap")
    def _with_unknown_nulls(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> Any:
        dumped = handler(self)
        if info.exclude_none and self.__pydantic_extra__ and isinstance(dumped, dict):
            for name, value in self.__pydantic_extra__.items():
                if value is None:
                    dumped.setdefault(name, None)
        return dumped


class MetricValue(_Model):
    """The API's ``MetricValue`` (botocore ``data/iot/2015-05-28/service-2.json``, shape ``MetricValue``):
    ``count`` UnsignedLong, ``number`` Number (double), and four lists: ``cidrs`` (Cidrs: list of
    Cidr strings), ``ports`` (Ports: list of Port integers 0-65535), ``numbers`` (NumberList: list of
    doubles), ``strings`` (StringList: list of strings). A list field is always a list, even of one;
    ``count`` is within 0..2**64-1, ``number`` and each of ``numbers`` finite (JSON has no Infinity or
    NaN), each Cidr and Port within the API's limits. A value outside them is rejected."""

    count: int | None = Field(default=None, ge=0, le=UNSIGNED_LONG_MAX)
    number: _Finite | None = None
    numbers: list[_Finite] | None = None
    cidrs: list[_Cidr] | None = None
    ports: list[_Port] | None = None
    strings: list[str] | None = None


def _number_text(value: float) -> str:
    """A number as an error message may quote it: a huge integer by its size, not its 400 digits."""
    if isinstance(value, int) and abs(value) >= 10**20:
        return f"(an integer of {len(str(abs(value))) if value.bit_length() < 14_000 else 'over 4000'} digits)"
    return repr(value)


def metric_value_of(kind: str, value: Any) -> dict[str, Any]:
    """A judged value as the ``MetricValue`` JSON of a metric whose value kind is ``kind``.

    List kinds are always lists (a source IP is one address: ``{"cidrs": ["203.0.113.7"]}``);
    ``count`` is an integer when the value is integral and within the API's UnsignedLong, else the
    value is reported as ``number`` (a double); ``number`` is a float. A value that no ``MetricValue``
    can carry (an aggregate that overflowed to infinity, an address longer than a Cidr) gives ``{}``:
    the violation is still reported, without its value, and never as ``Infinity`` (not JSON).
    """
    if kind in LIST_FIELDS:
        return _if_carried({kind: list(value) if isinstance(value, list | tuple) else [value]})
    if kind not in NUMERIC_FIELDS:
        raise ValueError(f"'{kind}' is not a MetricValue field")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"a {kind} metric value must be a number, got {type(value).__name__}")
    integral = isinstance(value, int) or value.is_integer()
    if kind == "count" and integral and 0 <= value <= UNSIGNED_LONG_MAX:
        return {"count": int(value)}
    try:
        return _if_carried({"number": float(value)})
    except OverflowError:  # an int beyond the largest double
        return {}


def _if_carried(candidate: dict[str, Any]) -> dict[str, Any]:
    """``candidate`` if ``MetricValue`` takes it as it is, else ``{}``."""
    try:
        MetricValue.model_validate(candidate, strict=True)
    except ValidationError:
        return {}
    return candidate


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
    verification_state_description: str | None = Field(
        default=None, alias="verificationStateDescription", max_length=VERIFICATION_DESCRIPTION_MAX
    )
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
        """SNS alerts carry epoch milliseconds, the API float seconds: accept both. An epoch no date
        can hold (1e300, 10**20, NaN) is a ``ValueError`` naming it, which pydantic reports as this
        field's error: ``fromtimestamp`` raises ``OverflowError`` or ``OSError`` there, which pydantic
        would let escape."""
        if isinstance(value, bool):
            raise ValueError("violationEventTime must be an epoch number, got a boolean")
        if isinstance(value, int | float):
            try:
                seconds = value / 1000 if value >= _MILLISECONDS_THRESHOLD else value
                return datetime.fromtimestamp(seconds, tz=UTC)
            except (OverflowError, OSError, ValueError) as error:
                shown = _number_text(value)
                raise ValueError(f"violationEventTime {shown} is no epoch time any date can hold ({error})") from None
        return value

    @field_validator("violation_event_time", mode="after")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        """A time written without an offset is UTC (the API's timestamps are), so it can be compared and
        written back as epoch milliseconds."""
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)

    @classmethod
    def alert(
        cls,
        *,
        violation_id: str,
        thing_name: str,
        security_profile_name: str,
        behavior: Mapping[str, Any],
        event_type: str,
        at: float,
        metric_value: Mapping[str, Any] | None = None,
    ) -> ViolationEvent:
        """A violation as managed Detect alerts it, validated: ``behavior`` is the API ``Behavior`` JSON
        (or only its ``name`` once the behavior is no longer configured), ``at`` epoch seconds (kept
        to the millisecond, as alerts carry it), ``metric_value`` the ``MetricValue`` JSON, checked
        strictly (a list kind must be a list, ports integers)."""
        value = MetricValue.model_validate(metric_value, strict=True) if metric_value else None
        return cls.model_validate(
            {
                "violationId": violation_id,
                "thingName": thing_name,
                "securityProfileName": security_profile_name,
                "behavior": dict(behavior),
                "violationEventType": event_type,
                "violationEventTime": _EPOCH + int(at * 1000) * _MILLISECOND,
                "metricValue": value,
            }
        )

    def to_message(self) -> dict[str, Any]:
        """The managed Detect alert JSON: API field names, no null fields, ``violationEventTime`` in
        epoch milliseconds (an integer), as the SNS alerts of managed Detect carry it (the API's
        ``ViolationEvent`` has a timestamp there instead).

        Strict JSON: the modelled fields cannot hold a non-finite number, and a kept unknown field
        that does (``Infinity`` is no JSON) is refused here rather than published."""
        message = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        message["violationEventTime"] = (self.violation_event_time - _EPOCH) // _MILLISECOND
        try:
            json.dumps(message, allow_nan=False)
        except ValueError as error:
            raise ValueError(f"violation {self.violation_id} would not be strict JSON: {error}") from error
        return message

    def to_api(self) -> dict[str, Any]:
        """The API's ``ViolationEvent`` as boto3 returns it: the alert's fields, with
        ``violationEventTime`` a ``datetime`` (the API's timestamp) instead of epoch milliseconds."""
        event = self.to_message()
        event["violationEventTime"] = self.violation_event_time
        return event
