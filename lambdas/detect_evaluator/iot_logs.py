"""AWS IoT logs (the ``AWSIotLogsV2`` log group) as datapoints:

- an entry whose ``reason`` is ``AUTHORIZATION_FAILURE``: one ``aws:num-authorization-failures``
  datapoint for its client;
- a successful ``Publish-Out`` entry (logged at INFO level: the broker delivered a message to a
  client): one ``aws:num-messages-received`` datapoint for that client.

A CloudWatch Logs subscription filter sends only those entries to the datapoint stream; CloudWatch
Logs writes each Kinesis record as a gzip-compressed JSON envelope (``messageType``,
``logEvents``). Each datapoint is stamped with its log event's time. Formats: AWS IoT Core
developer guide, "CloudWatch Logs AWS IoT log entries", and CloudWatch Logs, "Subscription filters
with Amazon Kinesis Data Streams". The envelope is read with Powertools' CloudWatch Logs data class
(``extract_cloudwatch_logs_from_record``: decompress, parse, ``message_type``, ``log_events``).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.data_classes.cloud_watch_logs_event import CloudWatchLogsLogEvent
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import (
    KinesisStreamRecord,
    extract_cloudwatch_logs_from_record,
)

AUTHORIZATION_FAILURES = "aws:num-authorization-failures"
MESSAGES_RECEIVED = "aws:num-messages-received"
AUTHORIZATION_FAILURE = "AUTHORIZATION_FAILURE"
PUBLISH_OUT = "Publish-Out"
_GZIP_MAGIC = b"\x1f\x8b"


def is_log_envelope(data: bytes) -> bool:
    return data[:2] == _GZIP_MAGIC


def log_datapoints(record: KinesisStreamRecord) -> list[tuple[str, str, float]]:
    """``(client id, metric, epoch seconds)`` per counted log entry in the record's envelope.

    A ``CONTROL_MESSAGE`` (CloudWatch Logs checking that it can write) gives none. Raises
    ``ValueError`` when the record is not a CloudWatch Logs envelope.
    """
    try:
        envelope = extract_cloudwatch_logs_from_record(record)
    except (zlib.error, ValueError) as error:
        raise ValueError(f"not a CloudWatch Logs record: {error!r}") from error
    if not isinstance(envelope.raw_event, Mapping) or "messageType" not in envelope.raw_event:
        raise ValueError("not a CloudWatch Logs record: no messageType")
    if envelope.message_type != "DATA_MESSAGE":
        return []
    found = []
    for event in envelope.log_events if envelope.get("logEvents") else ():
        counted = _counted(event)
        if counted is not None:
            found.append((*counted, _seconds(event.timestamp)))
    return found


def _seconds(milliseconds: Any) -> float:
    if isinstance(milliseconds, bool):
        raise TypeError("a log event's timestamp is a number, not a boolean")
    return float(milliseconds) / 1000


def _counted(event: CloudWatchLogsLogEvent) -> tuple[str, str] | None:
    """``(client id, metric)`` when the log entry counts as a datapoint."""
    try:
        entry = json.loads(event.message)
    except (KeyError, TypeError, ValueError):
        return None  # not a JSON log entry: IoT writes JSON, so it is not ours to count
    metric = _metric(entry)
    client = entry.get("clientId") if metric else None
    if not isinstance(client, str) or not client:
        return None  # a failure before the client named itself: no thing to count it against
    return client, metric


def _metric(entry: Any) -> str:
    if not isinstance(entry, Mapping):
        return ""
    if entry.get("reason") == AUTHORIZATION_FAILURE:
        return AUTHORIZATION_FAILURES
    if entry.get("eventType") == PUBLISH_OUT and entry.get("status") == "Success":
        return MESSAGES_RECEIVED
    return ""
