"""Self-hosted Detect evaluator: Kinesis batches of datapoints in, Device Defender violation JSON
out on the alert topic, per-thing alarm state in the state table.

Record formats: ``records``. A record that is not a datapoint is reported in ``batchItemFailures``.

A profile with ``targets`` evaluates only the things it watches: the evaluator looks up each
reporting thing's groups (``ListThingGroupsForThing``, and each group's ancestors) and remembers
them for ``MEMBERSHIP_CACHE_SECONDS`` (default 300), so a thing moved between groups is followed
within that time.

Violations are published before the state that produced them is written: a failure in between
publishes the same violation again on retry (the same ``violationId``; the quarantine responder
is idempotent on it) rather than losing it.

A scheduled ``{"sweep": true}`` event (every 5 minutes) does what needs no datapoint: it judges
windows that ended for things that went quiet, invalidates alarms of things that stopped reporting,
and computes the fleet percentiles that statistical behaviors are judged against. Behaviors with
``suppressAlerts`` keep their state but publish nothing, as in managed Detect.
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import KinesisStreamRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.adapters.detect_state import (
    DetectStates,
    StateConflictError,
    ThingState,
    fleet_key,
    parse_state_key,
    state_key,
)
from lambdas.adapters.iot_registry import IotRegistry
from lambdas.adapters.sns_notifier import Notifier
from lambdas.detect_evaluator.records import ParsedRecord, parse_record
from lambdas.evaluation.engine import (
    ALARM_INVALIDATED,
    BehaviorState,
    Datapoint,
    Evaluation,
    Transition,
    check_silence,
    evaluate,
)
from lambdas.evaluation.fleet import fleet_thresholds
from lambdas.evaluation.values import datapoint_value
from lambdas.model.behavior_definition import BehaviorKind
from lambdas.model.detect_profiles import DetectProfiles, ProfileBehavior, ProfileTargets
from lambdas.model.metric_catalog import ValueKind
from lambdas.model.remediation_policy import PolicyError
from lambdas.model.violation import ViolationEvent

SERVICE = "detect-evaluator"
logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace="DeviceDefender/SelfHostedDetect", service=SERVICE)


class ConfigurationError(ValueError):
    """An environment variable is missing or invalid; the message names it."""


@dataclass(frozen=True)
class Config:
    state_table_name: str
    alert_topic_arn: str
    profiles: DetectProfiles
    silence_seconds: float
    max_clock_skew_seconds: float
    membership_cache_seconds: float = 300.0


@cache
def config() -> Config:
    problems: list[str] = []
    table = os.environ.get("STATE_TABLE_NAME", "")
    topic = os.environ.get("ALERT_TOPIC_ARN", "")
    for name, value in (("STATE_TABLE_NAME", table), ("ALERT_TOPIC_ARN", topic)):
        if not value:
            problems.append(f"{name} is required and was not set")
    profiles = DetectProfiles(())
    try:
        profiles = DetectProfiles.from_json(os.environ.get("DETECT_PROFILES", ""))
    except PolicyError as error:
        problems.extend(f"DETECT_PROFILES {problem}" for problem in error.problems)
    numbers = {}
    for name, default in (
        ("SILENCE_SECONDS", "3600"),
        ("MAX_CLOCK_SKEW_SECONDS", "60"),
        ("MEMBERSHIP_CACHE_SECONDS", "300"),
    ):
        raw = os.environ.get(name, default)
        if not raw.isdigit():
            problems.append(f"{name} '{raw}' must be a whole number of seconds")
        numbers[name] = float(raw) if raw.isdigit() else float(default)
    if problems:
        raise ConfigurationError("invalid evaluator configuration: " + "; ".join(problems))
    return Config(
        table,
        topic,
        profiles,
        numbers["SILENCE_SECONDS"],
        numbers["MAX_CLOCK_SKEW_SECONDS"],
        numbers["MEMBERSHIP_CACHE_SECONDS"],
    )


_memberships: dict[str, tuple[float, frozenset[str] | None]] = {}
MAX_REMEMBERED_MEMBERSHIPS = 50_000  # about 5 MB: a bound on memory, not on the fleet


def clear_caches() -> None:
    """Forget the configuration, clients and memberships read so far (tests, and a changed environment)."""
    config.cache_clear()
    registry.cache_clear()
    _memberships.clear()


@cache
def registry() -> IotRegistry:
    return IotRegistry()


_THING_NAME = re.compile(r"[a-zA-Z0-9:_-]{1,128}")  # CreateThing's thingName pattern


def membership(thing: str, now: float, max_age: float) -> frozenset[str] | None:
    """The thing's groups (None: not a registered thing), looked up at most once per ``max_age`` seconds.
    A client id that is not a valid thing name cannot be a registered thing, and is not looked up."""
    if not _THING_NAME.fullmatch(thing):
        return None
    cached = _memberships.get(thing)
    if cached is None or now - cached[0] >= max_age:
        if len(_memberships) >= MAX_REMEMBERED_MEMBERSHIPS:
            for name in [name for name, (at, _) in _memberships.items() if now - at >= max_age] or list(_memberships):
                del _memberships[name]
        cached = (now, registry().membership(thing))
        _memberships[thing] = cached
    return cached[1]


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


@dataclass
class _Invocation:
    """What one batch or sweep works with: the configuration, the adapters, the time, its counters."""

    config: Config
    states: DetectStates
    notifier: Notifier
    now: float
    counts: Counter[str] = field(default_factory=Counter)

    @classmethod
    def open(cls, now: float) -> _Invocation:
        current = config()
        return cls(current, DetectStates(current.state_table_name), Notifier(current.alert_topic_arn), now)

    @property
    def profiles(self) -> DetectProfiles:
        return self.config.profiles


class _Intake:
    """The record handler of the batch processor: a record's datapoints, each value checked against
    its metric's value kind in every profile with a behavior on that metric, grouped by (profile,
    thing). A record that is not a datapoint (or whose value its metric cannot take) raises, and
    fails alone."""

    def __init__(self, profiles: DetectProfiles) -> None:
        self.profiles = profiles
        self.grouped: dict[tuple[str, str], list[ParsedRecord]] = defaultdict(list)  # (profile, thing) -> records
        self._kinds: dict[tuple[str, str], ValueKind] = {}

    def __call__(self, record: KinesisStreamRecord) -> None:
        try:
            accepted = [
                (profile, self._checked(profile, parsed))
                for parsed in parse_record(record)
                for profile in self.profiles.profiles_by_metric.get(parsed.metric, ())
            ]
        except ValueError as error:
            logger.warning("rejected record", extra={"reason": str(error)})
            metrics.add_metric(name="RejectedRecords", unit=MetricUnit.Count, value=1)
            raise
        for profile, parsed in accepted:
            self.grouped[(profile, parsed.thing)].append(parsed)

    def _checked(self, profile: str, parsed: ParsedRecord) -> ParsedRecord:
        try:
            value = datapoint_value(self._kind(profile, parsed.metric), parsed.datapoint.value)
        except ValueError as error:
            raise ValueError(f"record {parsed.sequence} has no valid {parsed.metric} value: {error}") from error
        if value is parsed.datapoint.value:
            return parsed
        return replace(parsed, datapoint=replace(parsed.datapoint, value=value))

    def _kind(self, profile: str, metric: str) -> ValueKind:
        key = (profile, metric)
        if key not in self._kinds:
            behaviors = self.profiles.by_profile[profile]
            self._kinds[key] = next(b.spec.value_kind for b in behaviors if b.definition.metric == metric)
        return self._kinds[key]


# Powertools' BatchProcessor takes the records in one by one and reports those whose record handler
# raised in batchItemFailures. Only the intake runs per record: a thing's datapoints are judged
# together across the batch (windows, streaks, redelivery marks) and its state is written once per
# batch, so the judging runs after the processor, over the grouped datapoints, where an error
# (SNS, DynamoDB) fails the whole batch and Kinesis retries it with nothing lost. A batch of bad
# records only is reported record by record, not raised (raise_on_entire_batch_failure=False).
processor = BatchProcessor(event_type=EventType.KinesisDataStreams, raise_on_entire_batch_failure=False)


@tracer.capture_method
def evaluate_batch(records: list[dict[str, Any]], now: float) -> dict[str, Any]:
    run = _Invocation.open(now)
    intake = _Intake(run.profiles)
    response: dict[str, Any] = {"batchItemFailures": []}
    if records:
        response = dict(process_partial_response({"Records": records}, intake, processor))
    watched = _watched(run, intake.grouped)
    stored = run.states.get_many([state_key(profile, thing) for profile, thing in watched])
    percentiles = _percentiles(run.states.fleet_thresholds(_statistical_keys(run.profiles, watched)))
    for profile, thing in watched:
        before = stored.get(state_key(profile, thing), ThingState())
        _judge_thing(run, profile, thing, before, intake.grouped[(profile, thing)], percentiles)
    _add_batch_metrics(run.counts)
    return response


def _watched(run: _Invocation, grouped: Mapping[tuple[str, str], list[ParsedRecord]]) -> list[tuple[str, str]]:
    """The (profile, thing) pairs whose profile targets the thing."""
    max_age = run.config.membership_cache_seconds
    watched = [
        (profile, thing)
        for profile, thing in grouped
        if _watches(run.profiles.by_profile[profile][0].targets, thing, run.now, max_age)
    ]
    if len(watched) < len(grouped):
        metrics.add_metric(name="UnwatchedThings", unit=MetricUnit.Count, value=len(grouped) - len(watched))
    return watched


def _statistical_keys(profiles: DetectProfiles, watched: list[tuple[str, str]]) -> list[str]:
    """The fleet keys of the statistical behaviors of the watched profiles."""
    return list({_fleet_key(b) for profile, _ in watched for b in profiles.by_profile[profile] if _is_statistical(b)})


def _fresh_datapoints(
    records: list[ParsedRecord], before: ThingState, counts: Counter[str]
) -> tuple[dict[str, list[Datapoint]], dict[str, int]]:
    """The datapoints not counted before, by metric, and the shard marks once they are counted."""
    marks = dict(before.marks)
    fresh: dict[str, list[Datapoint]] = defaultdict(list)
    for parsed in records:
        if parsed.sequence <= before.marks.get(parsed.shard, -1):
            counts["redelivered"] += 1
            continue
        fresh[parsed.metric].append(parsed.datapoint)
        marks[parsed.shard] = max(marks.get(parsed.shard, -1), parsed.sequence)
    return fresh, marks


def _judge_thing(
    run: _Invocation,
    profile: str,
    thing: str,
    before: ThingState,
    records: list[ParsedRecord],
    percentiles: dict[str, dict[float, float]],
) -> None:
    """Every behavior of the profile over the thing's fresh datapoints; violations published, then the
    state written once if anything changed."""
    fresh, marks = _fresh_datapoints(records, before, run.counts)
    skew = run.config.max_clock_skew_seconds
    after, changed = dict(before.behaviors), False
    for behavior in run.profiles.by_profile[profile]:
        name = behavior.definition.name
        datapoints = fresh.get(behavior.definition.metric, [])
        result = evaluate(
            thing,
            behavior.definition,
            behavior.spec,
            before.of(name),
            datapoints,
            # A behavior with no datapoint here closes a due window only after the clock skew, as the sweep
            # does: its own datapoints may come from another source (another shard) a little later.
            now=run.now if datapoints else run.now - skew,
            max_clock_skew=skew,
            fleet=percentiles.get(_fleet_key(behavior)),
        )
        _publish(run.notifier, behavior, thing, result)
        after[name], changed = result.state, changed or result.changed
        _count_dropped(run.counts, result)
    if changed:
        run.states.put(state_key(profile, thing), after, before.version, marks)
        run.counts["writes"] += 1


def _count_dropped(counts: Counter[str], result: Evaluation) -> None:
    """The engine's counters: datapoints dropped (late, from the future, seen before) and windows closed
    without a fleet threshold."""
    counts["late"] += result.late
    counts["future"] += result.future
    counts["redelivered"] += result.duplicates
    counts["unjudged"] += result.unjudged


# Metric name, counter; StateWrites is published every batch, the others when not zero.
_BATCH_METRICS = (
    ("RedeliveredDatapoints", "redelivered"),
    ("LateDatapoints", "late"),
    ("FutureDatapoints", "future"),
    ("WindowsWithoutFleetThreshold", "unjudged"),
)


def _add_batch_metrics(counts: Counter[str]) -> None:
    metrics.add_metric(name="StateWrites", unit=MetricUnit.Count, value=counts["writes"])
    for name, counter in _BATCH_METRICS:
        if counts[counter]:
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=counts[counter])


def _watches(targets: ProfileTargets, thing: str, now: float, max_age: float) -> bool:
    return targets.everything or targets.watches(membership(thing, now, max_age))


def _names(behaviors: tuple[ProfileBehavior, ...]) -> frozenset[str]:
    return frozenset(b.definition.name for b in behaviors)


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


def _is_statistical(behavior: ProfileBehavior) -> bool:
    return behavior.definition.kind is BehaviorKind.STATISTICAL


def _fleet_key(behavior: ProfileBehavior) -> str:
    return fleet_key(behavior.profile, behavior.definition.name)


def _percentiles(fleet: dict[str, dict[float, tuple[float, int]]]) -> dict[str, dict[float, float]]:
    """Fleet key -> window start -> percentile, once per invocation (the engine takes no counts)."""
    return {key: {start: value for start, (value, _) in windows.items()} for key, windows in fleet.items()}


def _publish(notifier: Notifier, behavior: ProfileBehavior, thing: str, result: Evaluation) -> None:
    for transition in result.transitions:
        metrics.add_metric(name="Transitions", unit=MetricUnit.Count, value=1)
        if behavior.definition.suppress_alerts:
            continue
        notifier.publish(
            f"Device Defender {transition.event_type}: {thing} ({behavior.definition.name})",
            violation_message(behavior, thing, transition),
        )


@tracer.capture_method
def sweep(now: float) -> dict[str, Any]:
    """What needs no datapoint, over every thing's state:

    - a window that ended more than ``MAX_CLOCK_SKEW_SECONDS`` ago is judged, so a thing that goes
      quiet after a burst still raises its alarm;
    - an alarm of a thing silent for ``SILENCE_SECONDS`` is invalidated;
    - each statistical behavior's fleet percentiles are computed from the things' closed windows;
    - the state of a behavior (or profile) no longer configured is dropped, and its alarm gets
      ``alarm-invalidated``, as managed Detect does when a behavior is deleted.

    A state the evaluator changed meanwhile is left for the next sweep.
    """
    run = _Invocation.open(now)
    statistical = [b for b in run.profiles.behaviors if _is_statistical(b)]
    fleet = run.states.fleet_thresholds([_fleet_key(b) for b in statistical])
    percentiles = _percentiles(fleet)
    closed: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for key, stored in run.states.scan():
        after = _sweep_thing(run, key, stored, percentiles)
        if after is None:
            continue  # left for the next sweep
        for behavior in run.profiles.by_profile.get(parse_state_key(key)[0], ()):
            if _is_statistical(behavior):
                closed[_fleet_key(behavior)].extend(after[behavior.definition.name].closed)
    _store_fleet_thresholds(run, statistical, closed, fleet)
    return {name: run.counts[name] for name in ("invalidated", "windows_judged", "conflicts", "retired")}


def _sweep_thing(
    run: _Invocation, key: str, stored: ThingState, percentiles: dict[str, dict[float, float]]
) -> dict[str, BehaviorState] | None:
    """One thing's state after the sweep, written (with its violations published) if it changed;
    None when the evaluator changed it meanwhile."""
    profile, thing = parse_state_key(key)
    configured = run.profiles.by_profile.get(profile, ())
    names = _names(configured)
    retired = {name: state for name, state in stored.behaviors.items() if name not in names}
    after = {name: state for name, state in stored.behaviors.items() if name in names}
    changed, results = bool(retired), []
    for behavior in configured:
        result = _sweep_behavior(run, thing, behavior, stored.of(behavior.definition.name), percentiles)
        after[behavior.definition.name], changed = result.state, changed or result.changed
        results.append((behavior, result))
    if not changed:
        return after
    for behavior, result in results:
        _publish(run.notifier, behavior, thing, result)
    _publish_retired(run, profile, thing, retired)
    return after if _write_swept(run, key, stored, after) else None


def _sweep_behavior(
    run: _Invocation,
    thing: str,
    behavior: ProfileBehavior,
    state: BehaviorState,
    percentiles: dict[str, dict[float, float]],
) -> Evaluation:
    """The silence check, else the judgement of a window that ended (``now - skew``: the window closes
    once datapoints still in flight have had time to arrive)."""
    config_ = run.config
    result = check_silence(thing, behavior.definition, state, now=run.now, silence_seconds=config_.silence_seconds)
    if result.transitions:
        run.counts["invalidated"] += 1
        return result
    if state.window_start is None:
        return result
    result = evaluate(
        thing,
        behavior.definition,
        behavior.spec,
        state,
        [],
        now=run.now - config_.max_clock_skew_seconds,
        fleet=percentiles.get(_fleet_key(behavior)),
    )
    run.counts["windows_judged"] += result.judged + result.unjudged
    return result


def _publish_retired(run: _Invocation, profile: str, thing: str, retired: Mapping[str, BehaviorState]) -> None:
    """``alarm-invalidated`` for each alarm of a behavior no longer configured."""
    for name, state in retired.items():
        run.counts["retired"] += 1
        if state.in_alarm and state.violation_id:
            run.notifier.publish(
                f"Device Defender alarm-invalidated: {thing} ({name}, no longer configured)",
                retired_violation(profile, name, thing, state.violation_id, run.now),
            )


def _write_swept(run: _Invocation, key: str, stored: ThingState, after: dict[str, BehaviorState]) -> bool:
    """Write (or delete, when no behavior is left) the swept state; False if another writer was first."""
    try:
        if after:
            run.states.put(key, after, stored.version, stored.marks)
        else:
            run.states.delete(key, stored.version)
    except StateConflictError:
        # The evaluator judged this thing meanwhile, from the same windows: it publishes the same
        # violations (same violationId) unless datapoints older than the clock skew arrived.
        run.counts["conflicts"] += 1
        return False
    return True


def _store_fleet_thresholds(
    run: _Invocation,
    statistical: list[ProfileBehavior],
    closed: Mapping[str, list[tuple[float, float]]],
    fleet: Mapping[str, dict[float, tuple[float, int]]],
) -> None:
    """Each statistical behavior's fleet percentiles of the settled windows, written when they changed."""
    for behavior in statistical:
        assert behavior.definition.statistic is not None and behavior.definition.duration_seconds is not None
        thresholds = fleet_thresholds(
            closed.get(_fleet_key(behavior), []),
            behavior.definition.statistic,
            duration_seconds=behavior.definition.duration_seconds,
            now=run.now,
            settle_seconds=run.config.max_clock_skew_seconds,
        )
        if thresholds and thresholds != fleet.get(_fleet_key(behavior)):
            run.states.put_fleet_thresholds(_fleet_key(behavior), thresholds)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("sweep") is True:
        return sweep(time.time())
    return evaluate_batch(event.get("Records") or [], time.time())
