"""AWS IoT logs (the ``AWSIotLogsV2`` log group) as ``aws:num-authorization-failures`` datapoints.

A CloudWatch Logs subscription filter sends the entries whose ``reason`` is
``AUTHORIZATION_FAILURE`` to the datapoint stream; CloudWatch Logs writes each Kinesis record as a
gzip-compressed JSON envelope (``messageType``, ``logEvents``). Each log event whose message is an
authorization failure of a client becomes one datapoint for that client id, stamped with the log
event's time. Format: AWS IoT Core developer guide, "CloudWatch Logs AWS IoT log entries", and
CloudWatch Logs, "Subscription filters with Amazon Kinesis Data Streams".
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping

METRIC = "aws:num-authorization-failures"
AUTHORIZATION_FAILURE = "AUTHORIZATION_FAILURE"
_GZIP_MAGIC = b"\x1f\x8b"


def is_log_envelope(data: bytes) -> bool:
    return data[:2] == _GZIP_MAGIC


def authorization_failures(data: bytes) -> list[tuple[str, str, float]]:
    """``(client id, log event id, epoch seconds)`` per authorization failure in one envelope.

    A ``CONTROL_MESSAGE`` (CloudWatch Logs checking that it can write) gives none. Raises
    ``ValueError`` when the record is not a CloudWatch Logs envelope.
    """
    try:
        envelope = json.loads(gzip.decompress(data))
    except (OSError, EOFError, ValueError) as error:
        raise ValueError(f"not a CloudWatch Logs record: {error!r}") from error
    if not isinstance(envelope, Mapping) or "messageType" not in envelope:
        raise ValueError("not a CloudWatch Logs record: no messageType")
    if envelope["messageType"] != "DATA_MESSAGE":
        return []
    found = []
    for event in envelope.get("logEvents") or []:
        try:
            entry = json.loads(event["message"])
        except (KeyError, TypeError, ValueError):
            continue  # not a JSON log entry: IoT writes JSON, so it is not ours to count
        if not isinstance(entry, Mapping) or entry.get("reason") != AUTHORIZATION_FAILURE:
            continue
        client = entry.get("clientId")
        if not isinstance(client, str) or not client:
            continue  # a failure before the client named itself: no thing to count it against
        found.append((client, str(event.get("id", "")), float(event["timestamp"]) / 1000))
    return found
