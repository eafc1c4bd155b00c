"""Kinesis records of the datapoint stream as datapoints.

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
  datapoint per authorization failure, one ``aws:num-messages-received`` per message delivered
  (``iot_logs``).

``timestamp`` is epoch milliseconds (or seconds), finite and not negative; ``thingName`` (or the
client id of a log entry) has 1 to 128 characters, as IoT client ids and violation events do.
Each state keeps, per shard, the sequence number of the last record it counted, and a shard
delivers its records in order, so a redelivered record is never counted twice, however many a
batch holds. A record that is not a datapoint (or whose value its metric cannot take, checked by
the handler) is reported in ``batchItemFailures`` (Kinesis then retries from it, bisects, and
sends what still fails to the on-failure destination).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import KinesisStreamRecord

from lambdas.detect_evaluator import iot_logs
from lambdas.detect_evaluator.agent_report import is_report, report_datapoints
from lambdas.evaluation.engine import Datapoint


@dataclass(frozen=True)
class ParsedRecord:
    thing: str
    metric: str
    datapoint: Datapoint
    shard: str = ""
    sequence: int = 0


MAX_THING_NAME = 128  # IoT client ids and ViolationEvent.thingName


def _position(record: KinesisStreamRecord) -> tuple[str, int]:
    """The record's shard (from ``eventID``, ``shardId-...:<sequence>``) and sequence number."""
    sequence = int(record.kinesis.sequence_number)
    event_id = record.get("eventID", "")
    return (event_id.split(":", 1)[0] if ":" in event_id else ""), sequence


def parse_record(record: KinesisStreamRecord | dict[str, Any]) -> list[ParsedRecord]:
    """A datapoint record, a Device Defender agent report (one datapoint per metric it carries), or a
    CloudWatch Logs record of IoT log entries (Powertools' Kinesis data class; a plain dict is wrapped)."""
    if not isinstance(record, KinesisStreamRecord):
        record = KinesisStreamRecord(record)
    sequence = record.kinesis.get("sequenceNumber")
    try:
        parsed = _parse(record)
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError) as error:
        raise ValueError(f"record {sequence} is not a datapoint: {error!r}") from error
    for found in parsed:
        problem = _problem(found.thing, found.metric, found.datapoint.timestamp)
        if problem:
            raise ValueError(f"record {sequence} is not a datapoint: {problem}")
    return parsed


def _number(value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError("a time is a number, not a boolean")
    return float(value)


def _problem(thing: Any, metric: Any, timestamp: float) -> str:
    if not isinstance(thing, str) or not 0 < len(thing) <= MAX_THING_NAME:
        return f"thingName must be a string of 1 to {MAX_THING_NAME} characters"
    if not isinstance(metric, str):
        return "metric must be a string"
    if not (math.isfinite(timestamp) and timestamp >= 0):
        return "timestamp must be a finite epoch time"
    return ""


def _parse(record: KinesisStreamRecord) -> list[ParsedRecord]:
    shard, number = _position(record)
    data = record.kinesis.data_as_bytes()
    if iot_logs.is_log_envelope(data):
        return [
            ParsedRecord(client, metric, Datapoint(seconds, 1), shard, number)
            for client, metric, seconds in iot_logs.log_datapoints(record)
        ]
    body = json.loads(data)
    thing = body["thingName"]
    arrival = record.kinesis.get("approximateArrivalTimestamp", 0)
    if is_report(body):
        pairs = report_datapoints(body)
        timestamp = _number(body.get("receivedAt", arrival))
    else:
        pairs = message_datapoints(body) if body.get("kind") == "message" else [(body["metric"], body["value"])]
        timestamp = _number(body.get("timestamp", arrival))
    seconds = timestamp / 1000 if timestamp >= 1e11 else timestamp
    problem = _problem(thing, "", seconds)  # also for a report that carries no metric
    if problem:
        raise ValueError(problem)
    return [ParsedRecord(thing, metric, Datapoint(seconds, value), shard, number) for metric, value in pairs]


def message_datapoints(body: dict[str, Any]) -> list[tuple[str, Any]]:
    """A telemetry message: one message sent, and its size when the rule measured it.

    IoT SQL has no payload-size function, so the rule sends the length of ``encode(*, 'base64')``
    and whether it ends in ``=`` or ``==``; base64 turns 3 bytes into 4 characters and pads the
    last group, which gives the exact byte count back.
    """
    pairs: list[tuple[str, Any]] = [("aws:num-messages-sent", 1)]
    if "base64Length" in body:
        if isinstance(body["base64Length"], bool):
            raise TypeError("base64Length is a number, not a boolean")
        length = int(body["base64Length"])
        if length < 0 or length % 4:
            raise ValueError(f"base64Length {length} is not a base64 length")
        padding = 2 if body.get("padded2") is True else 1 if body.get("padded1") is True else 0
        pairs.append(("aws:message-byte-size", max(0, length // 4 * 3 - padding)))
    return pairs
