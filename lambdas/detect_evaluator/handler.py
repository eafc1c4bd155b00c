"""Self-hosted Detect evaluator: Kinesis batches of datapoints in, Device Defender violation JSON
out on the alert topic, per-thing alarm state in the state table.

Record data (JSON, written by the ingestion topic rules; the stream is partitioned by thing, so
one thing's datapoints arrive in order), one of:

- a datapoint: ``{"thingName": "meter-7", "metric": "aws:num-connection-attempts", "value": 1,
  "timestamp": 1700000000123}``;
- a message on a telemetry topic: ``{"thingName": ..., "kind": "message", "timestamp": ...}``, one
  ``aws:num-messages-sent`` datapoint, plus an ``aws:message-byte-size`` datapoint when the rule
  adds the payload's base64 length and padding (``base64Length``, ``padded1``, ``padded2``);
- a Device Defender agent metrics report (with ``thingName`` and ``receivedAt`` added by the topic
  rule): one datapoint per device-side or custom metric it carries;
- a CloudWatch Logs record of AWS IoT log entries (gzip): one ``aws:num-authorization-failures``
  datapoint per authorization failure (``iot_logs``).

``timestamp`` is epoch milliseconds (or seconds). Each state keeps, per shard, the sequence number
of the last record it counted, and a shard delivers its records in order, so a redelivered record
is never counted twice, however many a batch holds. A record that is not a datapoint is reported
in ``batchItemFailures`` (Kinesis then retries from it, bisects, and sends what still fails to the
on-failure destination).

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

import base64
import json
import os
import time
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.detect_evaluator import iot_logs
from lambdas.detect_evaluator.agent_report import is_report, report_datapoints
from lambdas.evaluation.engine import Datapoint, Evaluation, Transition, check_silence, evaluate
from lambdas.evaluation.fleet import fleet_thresholds
from lambdas.shared.behavior_definition import BehaviorKind
from lambdas.shared.detect_profiles import DetectProfiles, ProfileBehavior
from lambdas.shared.detect_state import DetectStates, StateConflictError, StoredState, fleet_key, state_key
from lambdas.shared.iot_registry import IotRegistry
from lambdas.shared.notifications import Notifier
from lambdas.shared.remediation_policy import PolicyError

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
        cached = (now, registry().membership(thing))
        _memberships[thing] = cached
    return cached[1]


@dataclass(frozen=True)
class ParsedRecord:
    thing: str
    metric: str
    datapoint: Datapoint
    shard: str = ""
    sequence: int = 0


def _position(record: dict[str, Any]) -> tuple[str, int]:
    """The record's shard (from ``eventID``, ``shardId-...:<sequence>``) and sequence number."""
    sequence = int(record["kinesis"]["sequenceNumber"])
    event_id = record.get("eventID", "")
    return (event_id.split(":", 1)[0] if ":" in event_id else ""), sequence


def parse_record(record: dict[str, Any]) -> list[ParsedRecord]:
    """A datapoint record, or a Device Defender agent report (one datapoint per metric it carries)."""
    kinesis = record["kinesis"]
    sequence = kinesis.get("sequenceNumber")
    try:
        shard, number = _position(record)
        data = base64.b64decode(kinesis["data"])
        if iot_logs.is_log_envelope(data):
            return [
                ParsedRecord(client, iot_logs.METRIC, Datapoint(seconds, 1), shard, number)
                for client, _, seconds in iot_logs.authorization_failures(data)
            ]
        body = json.loads(data)
        thing = body["thingName"]
        if is_report(body):
            pairs = report_datapoints(body)
            timestamp = float(body.get("receivedAt", kinesis.get("approximateArrivalTimestamp", 0)))
        else:
            pairs = message_datapoints(body) if body.get("kind") == "message" else [(body["metric"], body["value"])]
            timestamp = float(body.get("timestamp", kinesis.get("approximateArrivalTimestamp", 0)))
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"record {sequence} is not a datapoint: {error!r}") from error
    if not isinstance(thing, str) or not thing or not all(isinstance(metric, str) for metric, _ in pairs):
        raise ValueError(f"record {sequence} is not a datapoint: thingName and metric are required")
    seconds = timestamp / 1000 if timestamp >= 1e11 else timestamp
    return [ParsedRecord(thing, metric, Datapoint(seconds, value), shard, number) for metric, value in pairs]


def message_datapoints(body: dict[str, Any]) -> list[tuple[str, Any]]:
    """A telemetry message: one message sent, and its size when the rule measured it.

    IoT SQL has no payload-size function, so the rule sends the length of ``encode(*, 'base64')``
    and whether it ends in ``=`` or ``==``; base64 turns 3 bytes into 4 characters and pads the
    last group, which gives the exact byte count back.
    """
    pairs: list[tuple[str, Any]] = [("aws:num-messages-sent", 1)]
    if "base64Length" in body:
        length = int(body["base64Length"])
        if length < 0 or length % 4:
            raise ValueError(f"base64Length {length} is not a base64 length")
        padding = 2 if body.get("padded2") is True else 1 if body.get("padded1") is True else 0
        pairs.append(("aws:message-byte-size", max(0, length // 4 * 3 - padding)))
    return pairs


def violation_message(behavior: ProfileBehavior, thing: str, transition: Transition) -> dict[str, Any]:
    """The managed Detect alert shape, so every subscriber works unchanged."""
    message: dict[str, Any] = {
        "violationId": transition.violation_id,
        "thingName": thing,
        "securityProfileName": behavior.profile,
        "behavior": behavior.definition.to_api(),
        "violationEventType": transition.event_type,
        "violationEventTime": int(transition.at * 1000),
    }
    if transition.metric_value:
        message["metricValue"] = transition.metric_value
    return message


@tracer.capture_method
def evaluate_batch(records: list[dict[str, Any]], now: float) -> dict[str, Any]:
    current = config()
    states = DetectStates(current.state_table_name)
    notifier = Notifier(current.alert_topic_arn)
    failures: list[dict[str, str]] = []
    grouped: dict[tuple[int, str], list[ParsedRecord]] = defaultdict(list)
    for record in records:
        try:
            parsed_records = parse_record(record)
        except ValueError as error:
            logger.warning("rejected record", extra={"reason": str(error)})
            metrics.add_metric(name="RejectedRecords", unit=MetricUnit.Count, value=1)
            failures.append({"itemIdentifier": record["kinesis"]["sequenceNumber"]})
            continue
        for parsed in parsed_records:
            for index, behavior in enumerate(current.profiles.behaviors):
                if behavior.definition.metric == parsed.metric:
                    grouped[(index, parsed.thing)].append(parsed)
    watched = [
        group
        for group in grouped
        if behaviors_watch(current.profiles.behaviors[group[0]], group[1], now, current.membership_cache_seconds)
    ]
    if len(watched) < len(grouped):
        metrics.add_metric(name="UnwatchedThings", unit=MetricUnit.Count, value=len(grouped) - len(watched))
    grouped = {group: grouped[group] for group in watched}
    behaviors = current.profiles.behaviors
    keys = {
        group: state_key(behaviors[group[0]].profile, behaviors[group[0]].definition.name, group[1])
        for group in grouped
    }
    stored = states.get_many(list(keys.values()))
    fleet = states.fleet_thresholds(
        list({_fleet_key(behaviors[index]) for index, _ in grouped if _is_statistical(behaviors[index])})
    )
    writes = unjudged = duplicates = 0
    for group, parsed_records in grouped.items():
        behavior = behaviors[group[0]]
        before = stored.get(keys[group], StoredState())
        marks = dict(before.marks)
        datapoints = []
        for parsed in parsed_records:
            if parsed.sequence <= before.marks.get(parsed.shard, -1):
                duplicates += 1
                continue
            datapoints.append(parsed.datapoint)
            marks[parsed.shard] = max(marks.get(parsed.shard, -1), parsed.sequence)
        result = evaluate(
            group[1],
            behavior.definition,
            behavior.spec,
            before.state,
            datapoints,
            now=now,
            max_clock_skew=current.max_clock_skew_seconds,
            fleet=_thresholds(fleet, behavior),
        )
        _publish(notifier, behavior, group[1], result)
        if result.changed:
            states.put(keys[group], result.state, before.version, marks)
            writes += 1
        unjudged += result.unjudged
    metrics.add_metric(name="StateWrites", unit=MetricUnit.Count, value=writes)
    if duplicates:
        metrics.add_metric(name="RedeliveredDatapoints", unit=MetricUnit.Count, value=duplicates)
    if unjudged:
        metrics.add_metric(name="WindowsWithoutFleetThreshold", unit=MetricUnit.Count, value=unjudged)
    return {"batchItemFailures": failures}


def behaviors_watch(behavior: ProfileBehavior, thing: str, now: float, max_age: float) -> bool:
    if behavior.targets.everything:
        return True
    return behavior.targets.watches(membership(thing, now, max_age))


def _is_statistical(behavior: ProfileBehavior) -> bool:
    return behavior.definition.kind is BehaviorKind.STATISTICAL


def _fleet_key(behavior: ProfileBehavior) -> str:
    return fleet_key(behavior.profile, behavior.definition.name)


def _thresholds(fleet: dict[str, dict[float, tuple[float, int]]], behavior: ProfileBehavior) -> dict[float, float]:
    return {start: value for start, (value, _) in fleet.get(_fleet_key(behavior), {}).items()}


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
    - each statistical behavior's fleet percentiles are computed from the things' closed windows.

    A state the evaluator changed meanwhile is left for the next sweep.
    """
    current = config()
    states = DetectStates(current.state_table_name)
    notifier = Notifier(current.alert_topic_arn)
    skew = current.max_clock_skew_seconds
    by_prefix = {state_key(b.profile, b.definition.name, ""): b for b in current.profiles.behaviors}
    statistical = [b for b in current.profiles.behaviors if _is_statistical(b)]
    fleet = states.fleet_thresholds([_fleet_key(b) for b in statistical])
    counts = {"invalidated": 0, "windows_judged": 0, "conflicts": 0}
    closed: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for key, stored in states.scan():
        state = stored.state
        prefix, thing = key.rsplit("#", 1)
        behavior = by_prefix.get(prefix + "#")
        if behavior is None:
            continue
        result = check_silence(thing, behavior.definition, state, now=now, silence_seconds=current.silence_seconds)
        if result.transitions:
            counts["invalidated"] += 1
        elif state.window_start is not None:
            # ``now - skew``: the window closes only once datapoints still in flight have had time to arrive.
            result = evaluate(
                thing, behavior.definition, behavior.spec, state, [], now=now - skew, fleet=_thresholds(fleet, behavior)
            )
            counts["windows_judged"] += result.judged + result.unjudged
        if result.changed:
            _publish(notifier, behavior, thing, result)
            try:
                states.put(key, result.state, stored.version, stored.marks)
            except StateConflictError:
                # The evaluator judged this thing meanwhile, from the same window: it publishes the same
                # violation (same violationId) unless datapoints older than the clock skew arrived.
                counts["conflicts"] += 1
                continue
        closed[_fleet_key(behavior)].extend(result.state.closed)
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
