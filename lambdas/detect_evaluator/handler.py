"""Self-hosted Detect evaluator: Kinesis batches of datapoints in, Device Defender violation JSON
out on the alert topic, per-thing alarm state in the state table.

Record data (JSON, written by the ingestion topic rules; the stream is partitioned by thing, so
one thing's datapoints arrive in order)::

    {"thingName": "meter-7", "metric": "aws:num-messages-sent", "value": 1, "timestamp": 1700000000123}

``timestamp`` is epoch milliseconds (or seconds). A record may also be a Device Defender agent
metrics report (with ``thingName`` and ``receivedAt`` added by the topic rule), which gives one
datapoint per device-side or custom metric it carries. The Kinesis sequence number identifies the
datapoint, so a redelivered record is not counted twice. A record that is not a datapoint is
reported in ``batchItemFailures`` (Kinesis then retries from it, bisects, and sends what still
fails to the on-failure destination). A scheduled ``{"sweep": true}`` event invalidates alarms of
things that stopped reporting.
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

from lambdas.detect_evaluator.agent_report import is_report, report_datapoints
from lambdas.evaluation.engine import BehaviorState, Datapoint, Transition, check_silence, evaluate
from lambdas.shared.detect_profiles import DetectProfiles, ProfileBehavior
from lambdas.shared.detect_state import DetectStates, state_key
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
    for name, default in (("SILENCE_SECONDS", "3600"), ("MAX_CLOCK_SKEW_SECONDS", "60")):
        raw = os.environ.get(name, default)
        if not raw.isdigit():
            problems.append(f"{name} '{raw}' must be a whole number of seconds")
        numbers[name] = float(raw) if raw.isdigit() else float(default)
    if problems:
        raise ConfigurationError("invalid evaluator configuration: " + "; ".join(problems))
    return Config(table, topic, profiles, numbers["SILENCE_SECONDS"], numbers["MAX_CLOCK_SKEW_SECONDS"])


@dataclass(frozen=True)
class ParsedRecord:
    thing: str
    metric: str
    datapoint: Datapoint


def parse_record(record: dict[str, Any]) -> list[ParsedRecord]:
    """A datapoint record, or a Device Defender agent report (one datapoint per metric it carries)."""
    kinesis = record["kinesis"]
    sequence = kinesis.get("sequenceNumber")
    try:
        body = json.loads(base64.b64decode(kinesis["data"]))
        thing = body["thingName"]
        if is_report(body):
            pairs = report_datapoints(body)
            timestamp = float(body.get("receivedAt", kinesis.get("approximateArrivalTimestamp", 0)))
        else:
            pairs = [(body["metric"], body["value"])]
            timestamp = float(body.get("timestamp", kinesis.get("approximateArrivalTimestamp", 0)))
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"record {sequence} is not a datapoint: {error!r}") from error
    if not isinstance(thing, str) or not thing or not all(isinstance(metric, str) for metric, _ in pairs):
        raise ValueError(f"record {sequence} is not a datapoint: thingName and metric are required")
    seconds = timestamp / 1000 if timestamp >= 1e11 else timestamp
    # One report carries several metrics: each datapoint id names its metric.
    return [ParsedRecord(thing, metric, Datapoint(seconds, value, f"{sequence}/{metric}")) for metric, value in pairs]


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
    grouped: dict[tuple[int, str], list[Datapoint]] = defaultdict(list)
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
                    grouped[(index, parsed.thing)].append(parsed.datapoint)
    keys = {
        group: state_key(
            current.profiles.behaviors[group[0]].profile, current.profiles.behaviors[group[0]].definition.name, group[1]
        )
        for group in grouped
    }
    stored = states.get_many(list(keys.values()))
    writes = 0
    for group, datapoints in grouped.items():
        behavior = current.profiles.behaviors[group[0]]
        state, version = stored.get(keys[group], (BehaviorState(), 0))
        result = evaluate(
            group[1],
            behavior.definition,
            behavior.spec,
            state,
            datapoints,
            now=now,
            max_clock_skew=current.max_clock_skew_seconds,
        )
        if result.changed:
            states.put(keys[group], result.state, version)
            writes += 1
        for transition in result.transitions:
            notifier.publish(
                f"Device Defender {transition.event_type}: {group[1]} ({behavior.definition.name})",
                violation_message(behavior, group[1], transition),
            )
            metrics.add_metric(name="Transitions", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="StateWrites", unit=MetricUnit.Count, value=writes)
    return {"batchItemFailures": failures}


@tracer.capture_method
def sweep(now: float) -> dict[str, Any]:
    """Invalidate the alarms of things that stopped reporting for ``SILENCE_SECONDS``."""
    current = config()
    states = DetectStates(current.state_table_name)
    notifier = Notifier(current.alert_topic_arn)
    by_key = {state_key(b.profile, b.definition.name, ""): b for b in current.profiles.behaviors}
    invalidated = 0
    for key, state, version in states.in_alarm():
        prefix, thing = key.rsplit("#", 1)
        behavior = by_key.get(prefix + "#")
        if behavior is None:
            continue
        result = check_silence(thing, behavior.definition, state, now=now, silence_seconds=current.silence_seconds)
        if result.transitions:
            states.put(key, result.state, version)
            for transition in result.transitions:
                notifier.publish(
                    f"Device Defender {transition.event_type}: {thing} ({behavior.definition.name})",
                    violation_message(behavior, thing, transition),
                )
                invalidated += 1
    return {"invalidated": invalidated}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("sweep") is True:
        return sweep(time.time())
    return evaluate_batch(event.get("Records") or [], time.time())
