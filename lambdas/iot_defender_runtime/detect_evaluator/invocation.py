"""What one batch or sweep shares: the configuration and adapters it opened (``ports``), how a
transition becomes a published violation (built and validated by the model the quarantine responder
parses), and where closed windows go."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

from iot_defender_runtime.adapters.detect_state import DetectStates, fleet_key
from iot_defender_runtime.adapters.model_store import LearnedModels
from iot_defender_runtime.adapters.sns_notifier import Notifier
from iot_defender_runtime.adapters.stream_positions import StreamPositionStore
from iot_defender_runtime.adapters.violation_log import ViolationLog
from iot_defender_runtime.adapters.window_history import FirehoseWindowSink
from iot_defender_runtime.detect_evaluator import membership
from iot_defender_runtime.detect_evaluator.config import Config, config
from iot_defender_runtime.detect_evaluator.observability import NAMESPACE, SERVICE, logger, metrics
from iot_defender_runtime.detect_evaluator.ports import (
    Membership,
    ModelStore,
    NoHistory,
    NoModels,
    PositionStore,
    Publisher,
    StateStore,
    WindowSink,
)
from iot_defender_runtime.evaluation.engine import ALARM_INVALIDATED, Evaluation, Transition
from iot_defender_runtime.model.behavior_definition import BehaviorKind
from iot_defender_runtime.model.detect_profiles import DetectProfiles, ProfileBehavior
from iot_defender_runtime.model.violation import ViolationEvent


class AlertPublisher:
    """Publishes a violation to the alert topic, then keeps it in the violation log (the operator's
    view: ``iot-defender violations``). Publishing comes first, as it comes
    before the state is written: a failure after it repeats the publish on retry, with the same
    ``violationId``, and the log's write of the same event is idempotent."""

    def __init__(self, notifier: Notifier, log: ViolationLog) -> None:
        self._notifier = notifier
        self._log = log

    def publish(self, subject: str, message: dict[str, Any]) -> str:
        message_id = self._notifier.publish(subject, message)
        self._log.record(message)
        return message_id


@dataclass
class Invocation:
    """What one batch or sweep works with: the configuration, the adapters, the time, its counters.
    The Lambda opens the AWS adapters (``open``); the Detect lab passes in-memory ones."""

    config: Config
    states: StateStore
    notifier: Publisher
    now: float
    positions: PositionStore
    history: WindowSink = field(default_factory=NoHistory)
    watches: Membership = membership.watches
    counts: Counter[str] = field(default_factory=Counter)
    models: ModelStore = field(default_factory=NoModels)  # learned behaviors' models

    @classmethod
    def open(cls, now: float) -> Invocation:
        current = config()
        publisher = AlertPublisher(Notifier(current.alert_topic_arn), ViolationLog(current.state_table_name))
        table = current.state_table_name
        history: WindowSink = NoHistory()
        if current.history_stream_name:
            history = FirehoseWindowSink(current.history_stream_name, on_dropped=report_dropped_rows)
        return cls(
            current,
            DetectStates(table),
            publisher,
            now,
            StreamPositionStore(table),
            history,
            models=LearnedModels(table),
        )

    @property
    def profiles(self) -> DetectProfiles:
        return self.config.profiles


def report_dropped_rows(rows: int, why: str) -> None:
    """History rows Firehose did not take: logged and counted, the batch goes on (``adapters/window_history.py``
    says why)."""
    logger.warning("window history rows dropped", extra={"rows": rows, "reason": why})
    metrics.add_metric(name="HistoryRowsDropped", unit=MetricUnit.Count, value=rows)


def violation_message(behavior: ProfileBehavior, thing: str, transition: Transition) -> dict[str, Any]:
    """The managed Detect alert shape, so every subscriber works unchanged: built and validated by the
    model the quarantine responder parses it with."""
    return ViolationEvent.alert(
        violation_id=transition.violation_id,
        thing_name=thing,
        security_profile_name=behavior.profile,
        behavior=behavior.definition.to_api(),
        event_type=transition.event_type,
        at=transition.at,
        metric_value=transition.metric_value or None,
    ).to_message()


def retired_violation(profile: str, behavior: str, thing: str, violation_id: str, now: float) -> dict[str, Any]:
    """``alarm-invalidated`` for a behavior no longer configured: only its name is still known."""
    return ViolationEvent.alert(
        violation_id=violation_id,
        thing_name=thing,
        security_profile_name=profile,
        behavior={"name": behavior},
        event_type=ALARM_INVALIDATED,
        at=now,
    ).to_message()


def publish_invalidated(run: Invocation, profile: str, thing: str, states: Mapping[str, Any], why: str) -> None:
    """``alarm-invalidated`` for each alarm among ``states`` (behavior name -> ``BehaviorState``) of a
    behavior or thing no longer judged (``why``: "no longer configured", "no longer targeted")."""
    for name, state in states.items():
        if state.in_alarm and state.violation_id:
            run.notifier.publish(
                f"Device Defender alarm-invalidated: {thing} ({name}, {why})",
                retired_violation(profile, name, thing, state.violation_id, run.now),
            )


def publish(run: Invocation, behavior: ProfileBehavior, thing: str, result: Evaluation) -> None:
    """The evaluation's violations, to the alert topic (none for a behavior with ``suppressAlerts``),
    and the windows it closed, to the window history."""
    if result.windows:
        run.history.record(behavior, thing, result.windows)
    for transition in result.transitions:
        metrics.add_metric(name="Transitions", unit=MetricUnit.Count, value=1)
        _count_violation(behavior, transition)
        if behavior.definition.suppress_alerts:
            continue
        run.notifier.publish(
            f"Device Defender {transition.event_type}: {thing} ({behavior.definition.name})",
            violation_message(behavior, thing, transition),
        )


def _count_violation(behavior: ProfileBehavior, transition: Transition) -> None:
    """``Violations`` by profile, behavior and event type (the operations dashboard's "violations by
    behavior"), as AWS IoT's own ``Violations`` metric has them for managed Detect. One EMF line per
    transition: transitions are rare next to datapoints. Like the shared ``metrics``, nothing is
    written while ``POWERTOOLS_METRICS_DISABLED`` is true (``single_metric`` itself would print anyway)."""
    if is_metrics_disabled():
        return
    dimensions = {
        "service": SERVICE,
        "SecurityProfileName": behavior.profile,
        "BehaviorName": behavior.definition.name,
        "EventType": transition.event_type,
    }
    with single_metric(
        name="Violations",
        unit=MetricUnit.Count,
        value=1,
        namespace=NAMESPACE,
        default_dimensions=dimensions,
    ):
        pass


def is_statistical(behavior: ProfileBehavior) -> bool:
    return behavior.definition.kind is BehaviorKind.STATISTICAL


def fleet_key_of(behavior: ProfileBehavior) -> str:
    return fleet_key(behavior.profile, behavior.definition.name)


def percentiles_of(fleet: dict[str, dict[float, tuple[float, int]]]) -> dict[str, dict[float, float]]:
    """Fleet key -> window start -> percentile, once per invocation (the engine takes no counts)."""
    return {key: {start: value for start, (value, _) in windows.items()} for key, windows in fleet.items()}


def behavior_names(behaviors: tuple[ProfileBehavior, ...]) -> frozenset[str]:
    return frozenset(b.definition.name for b in behaviors)
