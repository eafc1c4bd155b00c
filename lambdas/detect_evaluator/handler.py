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
import time
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
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
from lambdas.evaluation.engine import ALARM_INVALIDATED, Datapoint, Evaluation, Transition, check_silence, evaluate
from lambdas.evaluation.fleet import fleet_thresholds
from lambdas.model.behavior_definition import BehaviorKind
from lambdas.model.detect_profiles import DetectProfiles, ProfileBehavior, ProfileTargets
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


def membership(thing: str, now: float, max_age: float) -> frozenset[str] | None:
    """The thing's groups (None: not a registered thing), looked up at most once per ``max_age`` seconds."""
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


@tracer.capture_method
def evaluate_batch(records: list[dict[str, Any]], now: float) -> dict[str, Any]:
    current = config()
    states = DetectStates(current.state_table_name)
    notifier = Notifier(current.alert_topic_arn)
    failures: list[dict[str, str]] = []
    grouped: dict[tuple[str, str], list[ParsedRecord]] = defaultdict(list)  # (profile, thing) -> records
    for record in records:
        try:
            parsed_records = parse_record(record)
        except ValueError as error:
            logger.warning("rejected record", extra={"reason": str(error)})
            metrics.add_metric(name="RejectedRecords", unit=MetricUnit.Count, value=1)
            failures.append({"itemIdentifier": record["kinesis"]["sequenceNumber"]})
            continue
        for parsed in parsed_records:
            for profile in current.profiles.profiles_by_metric.get(parsed.metric, ()):
                grouped[(profile, parsed.thing)].append(parsed)
    watched = [
        (profile, thing)
        for profile, thing in grouped
        if _watches(current.profiles.by_profile[profile][0].targets, thing, now, current.membership_cache_seconds)
    ]
    if len(watched) < len(grouped):
        metrics.add_metric(name="UnwatchedThings", unit=MetricUnit.Count, value=len(grouped) - len(watched))
    stored = states.get_many([state_key(profile, thing) for profile, thing in watched])
    fleet = states.fleet_thresholds(
        list(
            {
                _fleet_key(b)
                for profile, _ in watched
                for b in current.profiles.by_profile[profile]
                if _is_statistical(b)
            }
        )
    )
    percentiles = _percentiles(fleet)
    counts = {"writes": 0, "unjudged": 0, "duplicates": 0}
    for profile, thing in watched:
        key = state_key(profile, thing)
        before = stored.get(key, ThingState())
        marks = dict(before.marks)
        fresh: dict[str, list[Datapoint]] = defaultdict(list)  # metric -> datapoints not counted before
        for parsed in grouped[(profile, thing)]:
            if parsed.sequence <= before.marks.get(parsed.shard, -1):
                counts["duplicates"] += 1
                continue
            fresh[parsed.metric].append(parsed.datapoint)
            marks[parsed.shard] = max(marks.get(parsed.shard, -1), parsed.sequence)
        after, changed = dict(before.behaviors), False
        for behavior in current.profiles.by_profile[profile]:
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
                now=now if datapoints else now - current.max_clock_skew_seconds,
                max_clock_skew=current.max_clock_skew_seconds,
                fleet=percentiles.get(_fleet_key(behavior)),
            )
            _publish(notifier, behavior, thing, result)
            after[name], changed = result.state, changed or result.changed
            counts["unjudged"] += result.unjudged
        if changed:
            states.put(key, after, before.version, marks)
            counts["writes"] += 1
    metrics.add_metric(name="StateWrites", unit=MetricUnit.Count, value=counts["writes"])
    if counts["duplicates"]:
        metrics.add_metric(name="RedeliveredDatapoints", unit=MetricUnit.Count, value=counts["duplicates"])
    if counts["unjudged"]:
        metrics.add_metric(name="WindowsWithoutFleetThreshold", unit=MetricUnit.Count, value=counts["unjudged"])
    return {"batchItemFailures": failures}


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
    current = config()
    states = DetectStates(current.state_table_name)
    notifier = Notifier(current.alert_topic_arn)
    skew = current.max_clock_skew_seconds
    statistical = [b for b in current.profiles.behaviors if _is_statistical(b)]
    fleet = states.fleet_thresholds([_fleet_key(b) for b in statistical])
    percentiles = _percentiles(fleet)
    counts = {"invalidated": 0, "windows_judged": 0, "conflicts": 0, "retired": 0}
    closed: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for key, stored in states.scan():
        profile, thing = parse_state_key(key)
        after, changed, transitions = dict(stored.behaviors), False, []
        configured = current.profiles.by_profile.get(profile, ())
        retired = {name: state for name, state in stored.behaviors.items() if name not in _names(configured)}
        for name in retired:
            del after[name]
            changed = True
        for behavior in configured:
            state = stored.of(behavior.definition.name)
            result = check_silence(thing, behavior.definition, state, now=now, silence_seconds=current.silence_seconds)
            if result.transitions:
                counts["invalidated"] += 1
            elif state.window_start is not None:
                # ``now - skew``: the window closes once datapoints still in flight have had time to arrive.
                result = evaluate(
                    thing,
                    behavior.definition,
                    behavior.spec,
                    state,
                    [],
                    now=now - skew,
                    fleet=percentiles.get(_fleet_key(behavior)),
                )
                counts["windows_judged"] += result.judged + result.unjudged
            after[behavior.definition.name], changed = result.state, changed or result.changed
            transitions.append((behavior, result))
        if changed:
            for behavior, result in transitions:
                _publish(notifier, behavior, thing, result)
            for name, state in retired.items():
                counts["retired"] += 1
                if state.in_alarm and state.violation_id:
                    notifier.publish(
                        f"Device Defender alarm-invalidated: {thing} ({name}, no longer configured)",
                        retired_violation(profile, name, thing, state.violation_id, now),
                    )
            try:
                if after:
                    states.put(key, after, stored.version, stored.marks)
                else:
                    states.delete(key, stored.version)
            except StateConflictError:
                # The evaluator judged this thing meanwhile, from the same windows: it publishes the same
                # violations (same violationId) unless datapoints older than the clock skew arrived.
                counts["conflicts"] += 1
                continue
        for behavior in current.profiles.by_profile.get(profile, ()):
            if _is_statistical(behavior):
                closed[_fleet_key(behavior)].extend(after[behavior.definition.name].closed)
    for behavior in statistical:
        assert behavior.definition.statistic is not None and behavior.definition.duration_seconds is not None
        thresholds = fleet_thresholds(
            closed[_fleet_key(behavior)],
            behavior.definition.statistic,
            duration_seconds=behavior.definition.duration_seconds,
            now=now,
            settle_seconds=skew,
        )
        if thresholds and thresholds != fleet.get(_fleet_key(behavior)):
            states.put_fleet_thresholds(_fleet_key(behavior), thresholds)
    return counts


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("sweep") is True:
        return sweep(time.time())
    return evaluate_batch(event.get("Records") or [], time.time())
