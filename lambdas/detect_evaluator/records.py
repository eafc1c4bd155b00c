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

``timestamp`` is epoch milliseconds (or seconds). Each state keeps, per shard, the sequence number
of the last record it counted, and a shard delivers its records in order, so a redelivered record
is never counted twice, however many a batch holds. A record that is not a datapoint is reported
in ``batchItemFailures`` (Kinesis then retries from it, bisects, and sends what still fails to the
on-failure destination).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

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
                ParsedRecord(client, metric, Datapoint(seconds, 1), shard, number)
                for client, metric, seconds in iot_logs.log_datapoints(data)
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
