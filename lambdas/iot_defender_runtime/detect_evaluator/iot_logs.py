"""AWS IoT logs (the ``AWSIotLogsV2`` log group) as datapoints:

- an entry whose ``reason`` is ``AUTHORIZATION_FAILURE``: one ``aws:num-authorization-failures``
  datapoint for its client;
- a successful ``Publish-Out`` entry (logged at INFO level: the broker delivered a message to a
  client): one ``aws:num-messages-received`` datapoint for that client.

Each datapoint carries its entry's ``topicName`` when it has one (publish and subscribe entries do).
A CloudWatch Logs subscription filter sends only those entries to the datapoint stream; CloudWatch
Logs writes each Kinesis record as a gzip-compressed JSON envelope (``messageType``,
``logEvents``). Each datapoint is stamped with its log event's time (epoch milliseconds). Formats:
AWS IoT Core developer guide, "CloudWatch Logs AWS IoT log entries", and CloudWatch Logs,
"Subscription filters with Amazon Kinesis Data Streams". The envelope is inflated here, to at most
``MAX_ENVELOPE_BYTES`` (a record that inflates further is refused, not inflated into the function's
memory), and read with Powertools' CloudWatch Logs data class (``message_type``, ``log_events``).
An entry that is not JSON, or names no client, is not counted; everything else about the record
(the client id, the time, the topic) is checked by ``records``.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.data_classes.cloud_watch_logs_event import (
    CloudWatchLogsDecodedData,
    CloudWatchLogsLogEvent,
)

AUTHORIZATION_FAILURES = "aws:num-authorization-failures"
MESSAGES_RECEIVED = "aws:num-messages-received"
AUTHORIZATION_FAILURE = "AUTHORIZATION_FAILURE"
PUBLISH_OUT = "Publish-Out"
_GZIP_MAGIC = b"\x1f\x8b"
# A Kinesis record holds at most 1 MiB; CloudWatch Logs batches at most 1 MiB of log events, which the
# JSON envelope (ids, times, escaping) can about double. 16 MiB leaves room and bounds a gzip bomb.
MAX_ENVELOPE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class LogDatapoint:
    client: str
    metric: str
    timestamp: Any  # the log event's time, epoch milliseconds, as the envelope gives it
    topic: Any = None  # the entry's topicName, when it has one


def is_log_envelope(data: bytes) -> bool:
    return data[:2] == _GZIP_MAGIC


def log_datapoints(data: bytes) -> list[LogDatapoint]:
    """One ``LogDatapoint`` per counted log entry in the record's envelope.

    A ``CONTROL_MESSAGE`` (CloudWatch Logs checking that it can write) gives none. Raises
    ``ValueError`` when the record is not a CloudWatch Logs envelope.
    """
    envelope = CloudWatchLogsDecodedData(_inflated_json(data))
    if not isinstance(envelope.raw_event, Mapping) or "messageType" not in envelope.raw_event:
        raise ValueError("not a CloudWatch Logs record: no messageType")
    if envelope.message_type != "DATA_MESSAGE":
        return []
    events = envelope.raw_event.get("logEvents") or []
    if not isinstance(events, list) or not all(isinstance(event, Mapping) for event in events):
        raise ValueError("not a CloudWatch Logs record: logEvents is not a list of log events")
    found = []
    for event in envelope.log_events:
        counted = _counted(event)
        if counted is not None:
            found.append(counted)
    return found


def _inflated_json(data: bytes) -> Any:
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip header
    try:
        inflated = inflater.decompress(data, MAX_ENVELOPE_BYTES + 1)
    except zlib.error as error:
        raise ValueError(f"not a CloudWatch Logs record: {error}") from error
    if len(inflated) > MAX_ENVELOPE_BYTES or inflater.unconsumed_tail:
        raise ValueError(f"not a CloudWatch Logs record: inflates to more than {MAX_ENVELOPE_BYTES} bytes")
    if not inflater.eof:
        raise ValueError("not a CloudWatch Logs record: the gzip stream is truncated")
    return json.loads(inflated)


def _counted(event: CloudWatchLogsLogEvent) -> LogDatapoint | None:
    """The datapoint of a log entry that counts as one."""
    message = event.get("message")
    if not isinstance(message, str):
        return None
    try:
        entry = json.loads(message)
    except ValueError:
        return None  # not a JSON log entry: IoT writes JSON, so it is not ours to count
    metric = _metric(entry)
    client = entry.get("clientId") if metric else None
    if not isinstance(client, str) or not client:
        return None  # a failure before the client named itself: no thing to count it against
    return LogDatapoint(client, metric, event.get("timestamp"), entry.get("topicName"))


def _metric(entry: Any) -> str:
    if not isinstance(entry, Mapping):
        return ""
    if entry.get("reason") == AUTHORIZATION_FAILURE:
        return AUTHORIZATION_FAILURES
    if entry.get("eventType") == PUBLISH_OUT and entry.get("status") == "Success":
        return MESSAGES_RECEIVED
    return ""
