"""Typed Detect behaviors, validated when they are built."""

from __future__ import annotations

from aws_cdk import Duration, Token

from constructs_lib._validation import NAME_PATTERN
from constructs_lib.detect.metric_catalog import METRICS, VALID_DURATIONS_SECONDS, ComparisonOperator
from lambdas.shared.behavior_definition import BehaviorDefinition

MIN_DATAPOINTS, MAX_DATAPOINTS = 1, 10


class BehaviorValidationError(ValueError):
    """A behavior argument is wrong; the message names the behavior, the argument and what is allowed."""


class Behavior:
    """One Detect behavior. Build it with a factory, e.g. ``Behavior.rule(...)``."""

    def __init__(self, definition: BehaviorDefinition) -> None:
        self.definition = definition

    @property
    def name(self) -> str:
        return self.definition.name

    @staticmethod
    def rule(
        name: str,
        *,
        metric: str,
        operator: ComparisonOperator,
        threshold: int,
        duration: Duration | None = None,
        datapoints_to_alarm: int = 1,
        datapoints_to_clear: int = 1,
        suppress_alerts: bool = False,
    ) -> Behavior:
        """A static threshold on a count metric.

        :param duration: the aggregation period; one of 5, 10, 15, 30 or 60 minutes, required for
            every metric but ``aws:message-byte-size`` (which is per message). Default: none.
        :param datapoints_to_alarm: consecutive breaching datapoints before ``in-alarm`` (1-10). Default: 1.
        :param datapoints_to_clear: consecutive normal datapoints before ``alarm-cleared`` (1-10). Default: 1.
        :param suppress_alerts: keep violations in Detect but send no SNS alert. Default: alerts are sent.
        """
        problems: list[str] = []
        label = f"behavior '{name}'"
        if not NAME_PATTERN.match(name):
            problems.append(f"{label}: name must be 1 to 128 characters of [a-zA-Z0-9:_-]")
        spec = METRICS.get(metric)
        if spec is None:
            problems.append(f"{label}: metric '{metric}' is not supported; use one of {', '.join(sorted(METRICS))}")
        try:
            operator = ComparisonOperator(operator)
        except ValueError:
            allowed = ", ".join(op.value for op in ComparisonOperator)
            problems.append(f"{label}: operator '{operator}' is not one of {allowed}")
        else:
            if spec is not None and operator not in spec.operators:
                problems.append(f"{label}: operator '{operator.value}' is not allowed on {metric}")
        if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 0:
            problems.append(f"{label}: threshold {threshold!r} must be a non-negative integer")
        duration_seconds = _duration_seconds(duration)
        if spec is not None:
            if spec.needs_duration and duration is None:
                problems.append(f"{label}: {metric} needs a duration (5, 10, 15, 30 or 60 minutes)")
            if not spec.needs_duration and duration is not None:
                problems.append(f"{label}: {metric} is measured per message and takes no duration")
        if duration_seconds is not None and duration_seconds not in VALID_DURATIONS_SECONDS:
            problems.append(
                f"{label}: duration of {duration_seconds} seconds is not one of "
                f"{', '.join(str(s) for s in VALID_DURATIONS_SECONDS)} seconds"
            )
        for argument, count in (
            ("datapoints_to_alarm", datapoints_to_alarm),
            ("datapoints_to_clear", datapoints_to_clear),
        ):
            if not isinstance(count, int) or not MIN_DATAPOINTS <= count <= MAX_DATAPOINTS:
                problems.append(f"{label}: {argument} {count!r} must be between {MIN_DATAPOINTS} and {MAX_DATAPOINTS}")
        if problems:
            raise BehaviorValidationError("; ".join(problems))
        return Behavior(
            BehaviorDefinition(
                name=name,
                metric=metric,
                comparison_operator=ComparisonOperator(operator).value,
                value={"count": threshold},
                duration_seconds=duration_seconds,
                consecutive_datapoints_to_alarm=datapoints_to_alarm,
                consecutive_datapoints_to_clear=datapoints_to_clear,
                suppress_alerts=suppress_alerts,
            )
        )


def _duration_seconds(duration: Duration | None) -> int | None:
    if duration is None:
        return None
    if Token.is_unresolved(duration):
        raise BehaviorValidationError("duration must be a concrete Duration, not a token")
    return int(duration.to_seconds())
