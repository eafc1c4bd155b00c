"""Kinesis records of the datapoint stream as datapoints.

Record data (JSON, written by the ingestion topic rules; the stream is partitioned by thing, so
one thing's datapoints arrive in order), one of:

- a datapoint: ``{"thingName": "meter-7", "metric": "aws:num-connection-attempts", "value": 1,
  "timestamp": 1700000000123}``, for a metric of the catalog (custom metrics come in agent reports);
- a message on a telemetry topic: ``{"thingName": ..., "kind": "message", "timestamp": ...}``, one
  ``aws:num-messages-sent`` datapoint, plus an ``aws:message-byte-size`` datapoint when the rule
  adds the payload's base64 length and padding (``base64Length``, ``padded1``, ``padded2``);
- a lifecycle event (``iot_defender_runtime.model.lifecycle``: ``{"thingName", "kind": "lifecycle", "eventType",
  "timestamp", ...}``): one datapoint whose value is the ``LifecycleEvent``, which the batch turns
  into ``aws:disconnect-duration`` datapoints (``connection``);
- a Device Defender agent metrics report (with ``thingName`` and ``receivedAt`` added by the topic
  rule): one datapoint per device-side or custom metric it carries (``agent_report``);
- a CloudWatch Logs record of AWS IoT log entries (gzip): one ``aws:num-authorization-failures``
  datapoint per authorization failure, one ``aws:num-messages-received`` per message delivered
  (``iot_logs``).

Every record is checked whole before any of it is counted, and a bad one is refused with a
``ValueError`` that says what is wrong:

- a JSON record is an object of at most ``MAX_JSON_BYTES`` (AWS IoT's 128 KB message limit, plus
  room for the fields the rule adds); every value is checked by its metric's kind
  (``iot_defender_runtime.evaluation.values``), whether or not a behavior watches it;
- ``thingName`` (or a log entry's client id) is a string of 1 to 128 bytes of UTF-8 with no control
  character: Device Defender rejects messages of devices whose thing name is longer or contains one
  (developer guide, "Detect"; the API's ``ViolationEvent.thingName`` is 1-128 long);
- ``timestamp`` (``receivedAt`` for a report, the log event's time for a log entry; the record's
  Kinesis arrival time when absent) is epoch milliseconds (or seconds, below 10**11), finite, from
  2000-01-01 to 3000-01-01; a datapoint stamped in the future beyond the clock skew is dropped and
  counted later, by the engine;
- ``topic`` (message bodies; the rule adds ``topic() AS topic``) and a log entry's ``topicName`` are
  optional: a string of 1 to 256 bytes of UTF-8 (AWS IoT's topic size limit).

Each state keeps, per shard, the sequence number of the last record it counted, and a shard
delivers its records in order, so a redelivered record is never counted twice, however many a
batch holds. A refused record is reported in ``batchItemFailures`` (Kinesis then retries from it,
bisects, and sends what still fails to the on-failure destination).
"""

from __future__ import annotations

import binascii
import json
import math
import re
import zlib
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import KinesisStreamRecord

from iot_defender_runtime.detect_evaluator import iot_logs
from iot_defender_runtime.detect_evaluator.agent_report import is_report, report_datapoints
from iot_defender_runtime.evaluation.disconnect_duration import DISCONNECT_DURATION_METRIC
from iot_defender_runtime.evaluation.engine import Datapoint
from iot_defender_runtime.evaluation.values import count, datapoint_value, text
from iot_defender_runtime.model.lifecycle import LIFECYCLE_KIND, LifecycleEvent
from iot_defender_runtime.model.metric_catalog import METRICS


@dataclass(frozen=True)
class ParsedRecord:
    thing: str
    metric: str
    datapoint: Datapoint
    shard: str = ""
    sequence: int = 0
    topic: str | None = None  # the MQTT topic the datapoint came from, when the record names it


MAX_THING_NAME_BYTES = 128  # UTF-8 bytes: Device Defender rejects longer thing names
MAX_TOPIC_BYTES = 256  # AWS IoT Core: topic size, UTF-8 bytes
MAX_JSON_BYTES = 128 * 1024 + 4 * 1024  # an IoT message (128 KB) and the fields the rule adds
EARLIEST_SECONDS = 946_684_800  # 2000-01-01T00:00:00Z: before any AWS IoT device reported
LATEST_SECONDS = 32_503_680_000  # 3000-01-01T00:00:00Z: a clock this wrong is not a time
_MILLISECONDS_FROM = 1e11  # epoch values from here up are milliseconds (1e11 seconds is the year 5138)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# What a hostile record can make the standard library raise while it is read
_UNREADABLE = (
    ValueError,  # json, int/float conversions, ipaddress, UnicodeDecodeError, binascii.Error
    TypeError,
    KeyError,
    AttributeError,
    OverflowError,
    RecursionError,  # deeply nested JSON
    zlib.error,
    binascii.Error,
    EOFError,
)


def _position(record: KinesisStreamRecord) -> tuple[str, int]:
    """The record's shard (from ``eventID``, ``shardId-...:<sequence>``) and sequence number."""
    sequence = int(record.kinesis.sequence_number)
    event_id = record.get("eventID", "")
    return (event_id.split(":", 1)[0] if ":" in event_id else ""), sequence


def parse_record(record: KinesisStreamRecord | dict[str, Any]) -> list[ParsedRecord]:
    """A datapoint record, a Device Defender agent report (one datapoint per metric it carries), or a
    CloudWatch Logs record of IoT log entries (Powertools' Kinesis data class; a plain dict is wrapped).
    Raises ``ValueError`` (only) for a record that is not one of them, saying why."""
    if not isinstance(record, KinesisStreamRecord):
        record = KinesisStreamRecord(record)
    sequence = record.kinesis.get("sequenceNumber")
    try:
        return _parse(record)
    except _UNREADABLE as error:
        raise ValueError(f"record {sequence} is not a datapoint: {_reason(error)}") from error


def _reason(error: BaseException) -> str:
    reason = str(error) if isinstance(error, ValueError) else f"{type(error).__name__}: {error}"
    return reason if len(reason) <= 300 else reason[:300] + "..."


def thing_name(value: Any) -> str:
    """A thing name (or client id) as Device Defender takes it."""
    name = text(value) if isinstance(value, str) else None
    if name is None or not 0 < len(name.encode("utf-8")) <= MAX_THING_NAME_BYTES or _CONTROL.search(name):
        raise ValueError(
            f"thingName must be a string of 1 to {MAX_THING_NAME_BYTES} bytes of UTF-8 without control characters"
        )
    return name


def topic_name(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(text(value).encode("utf-8")) <= MAX_TOPIC_BYTES:
        raise ValueError(f"topic must be a string of 1 to {MAX_TOPIC_BYTES} bytes of UTF-8")
    return value


def epoch_seconds(value: Any) -> float:
    """Epoch milliseconds (or seconds) as seconds, from 2000-01-01 to 3000-01-01."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"timestamp must be a number, got {type(value).__name__}")
    seconds = float(value)
    if math.isfinite(seconds) and seconds >= _MILLISECONDS_FROM:
        seconds /= 1000
    if not (math.isfinite(seconds) and EARLIEST_SECONDS <= seconds < LATEST_SECONDS):
        raise ValueError("timestamp must be an epoch time from 2000-01-01 to 3000-01-01")
    return seconds


def _parse(record: KinesisStreamRecord) -> list[ParsedRecord]:
    shard, number = _position(record)
    data = record.kinesis.data_as_bytes()
    if iot_logs.is_log_envelope(data):
        return [
            ParsedRecord(
                thing_name(found.client),
                found.metric,
                Datapoint(epoch_seconds(found.timestamp), 1),
                shard,
                number,
                topic_name(found.topic),
            )
            for found in iot_logs.log_datapoints(data)
        ]
    if len(data) > MAX_JSON_BYTES:
        raise ValueError(f"the record has {len(data)} bytes, more than an IoT message ({MAX_JSON_BYTES})")
    body = json.loads(data)
    if not isinstance(body, dict):
        raise ValueError(f"a record is a JSON object, got {type(body).__name__}")
    thing, topic = thing_name(body.get("thingName")), topic_name(body.get("topic"))
    if body.get("kind") == LIFECYCLE_KIND:
        event = LifecycleEvent.from_record(body)
        epoch_seconds(body.get("timestamp"))  # a plausible time, as every datapoint's
        return [ParsedRecord(thing, DISCONNECT_DURATION_METRIC, Datapoint(event.timestamp, event), shard, number)]
    arrival = record.kinesis.get("approximateArrivalTimestamp")
    if is_report(body):
        pairs = report_datapoints(body)
        seconds = epoch_seconds(body.get("receivedAt", arrival))
    else:
        pairs = message_datapoints(body) if body.get("kind") == "message" else [_datapoint_pair(body)]
        seconds = epoch_seconds(body.get("timestamp", arrival))
    return [ParsedRecord(thing, metric, Datapoint(seconds, value), shard, number, topic) for metric, value in pairs]


def _datapoint_pair(body: dict[str, Any]) -> tuple[str, Any]:
    """A datapoint record's metric (one of the catalog's) and its value, checked by the metric's kind."""
    metric = body.get("metric")
    spec = METRICS.get(metric) if isinstance(metric, str) else None
    if spec is None:
        shown = repr(metric)[:140]
        raise ValueError(f"metric {shown} is not a metric of the catalog (custom metrics come in agent reports)")
    if "value" not in body:
        raise ValueError(f"a datapoint of {metric} has no value")
    try:
        return metric, datapoint_value(spec.value_kind, body["value"])
    except ValueError as error:
        raise ValueError(f"{metric}: {error}") from error


def message_datapoints(body: dict[str, Any]) -> list[tuple[str, Any]]:
    """A telemetry message: one message sent, and its size when the rule measured it.

    IoT SQL has no payload-size function, so the rule sends the length of ``encode(*, 'base64')``
    and whether it ends in ``=`` or ``==``; base64 turns 3 bytes into 4 characters and pads the
    last group, which gives the exact byte count back.
    """
    pairs: list[tuple[str, Any]] = [("aws:num-messages-sent", 1)]
    if "base64Length" in body:
        length = count(body["base64Length"])
        if length % 4:
            raise ValueError(f"base64Length {length} is not a base64 length")
        padding = 2 if body.get("padded2") is True else 1 if body.get("padded1") is True else 0
        pairs.append(("aws:message-byte-size", max(0, length // 4 * 3 - padding)))
    return pairs
