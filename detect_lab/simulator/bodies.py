"""The data of each Kinesis record, byte for byte as the ingestion path writes it.

- Topic rules (``constructs_lib/detect/self_hosted_detect.py``, ``_topic_rules``) put the JSON their
  SQL selects, in the order it selects it; AWS IoT writes it without spaces. Thing names here are
  ``[a-z0-9-]``, so the templates need no JSON escaping.
- Agent reports: the rule's ``SELECT *, topic(3) AS thingName, timestamp() AS receivedAt`` is the
  report with those two fields added. The report follows the Device Defender developer guide's
  "Device metrics document specification" (long and short names, as in
  ``tests/fixtures/agent_reports/guide_*.json``):
  https://docs.aws.amazon.com/iot-device-defender/latest/devguide/detect-device-side-metrics.html
- Lifecycle events: https://docs.aws.amazon.com/iot/latest/developerguide/life-cycle-events.html
- AWS IoT log entries (https://docs.aws.amazon.com/iot/latest/developerguide/cwl-format.html) reach
  the stream as CloudWatch Logs subscription records: a gzip-compressed JSON envelope
  (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/SubscriptionFilters.html#DestinationKinesisExample).
"""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Sequence

from iot_defender_runtime.model.lifecycle import LIFECYCLE_KIND

ACCOUNT = "123456789012"
IOT_LOG_GROUP = "AWSIotLogsV2"
SUBSCRIPTION_FILTER = "DetectIotLogEntries"


def message(thing: str, topic: str, payload_bytes: int, millis: int) -> bytes:
    """A telemetry message as the messages rule selects it: the payload's base64 length and padding
    (``length(encode(*, 'base64'))``, ``endswith(..., '=')``, ``endswith(..., '==')``)."""
    remainder = payload_bytes % 3
    length = (payload_bytes + 2) // 3 * 4
    padded1 = "true" if remainder else "false"
    padded2 = "true" if remainder == 1 else "false"
    return (
        f'{{"thingName":"{thing}","kind":"message","topic":"{topic}","base64Length":{length},'
        f'"padded1":{padded1},"padded2":{padded2},"timestamp":{millis}}}'
    ).encode()


def datapoint(thing: str, metric: str, value: str, millis: int) -> bytes:
    """A lifecycle datapoint rule's record; ``value`` is JSON text (``1``, ``"100.64.0.7"``)."""
    return f'{{"thingName":"{thing}","metric":"{metric}","value":{value},"timestamp":{millis}}}'.encode()


def lifecycle(thing: str, event_type: str, millis: int, version: int, session: str, reason: str | None) -> bytes:
    """The lifecycle rule's record (``model/lifecycle.py``); IoT SQL leaves out ``disconnectReason``
    on a connect, which has none."""
    tail = f',"disconnectReason":"{reason}"' if reason is not None else ""
    return (
        f'{{"thingName":"{thing}","kind":"{LIFECYCLE_KIND}","eventType":"{event_type}","timestamp":{millis},'
        f'"versionNumber":{version},"sessionIdentifier":"{session}"{tail}}}'
    ).encode()


class ReportTemplate:
    """A thing's agent reports in one name form: the parts that do not change between reports are
    rendered once (ports and connections change only when an attack changes them)."""

    def __init__(self, thing: str, *, short: bool) -> None:
        self.short = short
        self._tail = f',"thingName":"{thing}","receivedAt":'
        if short:
            self._head = '{"hed":{"rid":%d,"v":"1.0"},"met":{'
            self._ns = '"ns":{"bi":%d,"bo":%d,"pi":%d,"po":%d},'
        else:
            self._head = '{"header":{"report_id":%d,"version":"1.0"},"metrics":{'
            self._ns = '"network_stats":{"bytes_in":%d,"bytes_out":%d,"packets_in":%d,"packets_out":%d},'
        self._listening = ""
        self._connections = ""

    def set_listening(self, tcp: Sequence[int], udp: Sequence[int], interface: str = "eth0") -> None:
        self._listening = self._ports("tp", "listening_tcp_ports", tcp, interface) + self._ports(
            "up", "listening_udp_ports", udp, interface
        )

    def set_connections(self, connections: Sequence[tuple[int, str]], interface: str = "eth0") -> None:
        """``(local_port, "ip:port")`` of each established TCP connection."""
        if self.short:
            entries = ",".join(f'{{"li":"{interface}","lp":{lp},"rad":"{remote}"}}' for lp, remote in connections)
            self._connections = f'"tc":{{"ec":{{"cs":[{entries}],"t":{len(connections)}}}}}'
        else:
            entries = ",".join(
                f'{{"local_interface":"{interface}","local_port":{lp},"remote_addr":"{remote}"}}'
                for lp, remote in connections
            )
            self._connections = (
                f'"tcp_connections":{{"established_connections":{{"connections":[{entries}],'
                f'"total":{len(connections)}}}}}'
            )

    def _ports(self, short: str, long: str, ports: Sequence[int], interface: str) -> str:
        if self.short:
            entries = ",".join(f'{{"if":"{interface}","pt":{p}}}' for p in ports)
            return f'"{short}":{{"pts":[{entries}],"t":{len(ports)}}},'
        entries = ",".join(f'{{"interface":"{interface}","port":{p}}}' for p in ports)
        return f'"{long}":{{"ports":[{entries}],"total":{len(ports)}}},'

    def render(self, report_id: int, received_millis: int, stats: tuple[int, int, int, int]) -> bytes:
        """The report with network stats ``(bytes_in, bytes_out, packets_in, packets_out)``."""
        return (
            (self._head % report_id)
            + self._listening
            + (self._ns % stats)
            + self._connections
            + "}"
            + self._tail
            + str(received_millis)
            + "}"
        ).encode()


def log_time(millis: int) -> str:
    """An IoT log entry's ``timestamp``: ``2017-08-10 15:37:23.476`` (UTC)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(millis // 1000)) + f".{millis % 1000:03d}"


def publish_out(thing: str, topic: str, millis: int, trace: str, source_ip: str, port: int) -> str:
    """A ``Publish-Out`` entry (INFO): the broker delivered a message to ``thing``."""
    return (
        f'{{"timestamp":"{log_time(millis)}","logLevel":"INFO","traceId":"{trace}","accountId":"{ACCOUNT}",'
        f'"status":"Success","eventType":"Publish-Out","protocol":"MQTT","topicName":"{topic}",'
        f'"clientId":"{thing}","principalId":"{_principal(thing)}","sourceIp":"{source_ip}","sourcePort":{port}}}'
    )


def authorization_failure(
    thing: str, event_type: str, topic: str, millis: int, trace: str, source_ip: str, port: int
) -> str:
    """A ``Publish-In`` or ``Subscribe`` entry (ERROR) the thing's policy denied."""
    return (
        f'{{"timestamp":"{log_time(millis)}","logLevel":"ERROR","traceId":"{trace}","accountId":"{ACCOUNT}",'
        f'"status":"Failure","eventType":"{event_type}","protocol":"MQTT","topicName":"{topic}",'
        f'"clientId":"{thing}","principalId":"{_principal(thing)}","sourceIp":"{source_ip}","sourcePort":{port},'
        f'"reason":"AUTHORIZATION_FAILURE","details":"Authorization Failure"}}'
    )


def _principal(thing: str) -> str:
    """A stable stand-in for the certificate id (64 hex) of the thing's principal."""
    return (thing.encode().hex() * 8)[:64].ljust(64, "0")


def log_envelope(log_stream: str, events: Sequence[tuple[str, int, str]]) -> bytes:
    """A CloudWatch Logs subscription record: ``(event id, epoch ms, message)`` of each log event,
    gzip-compressed (with a zero mtime, so the bytes depend on the events only)."""
    envelope = {
        "messageType": "DATA_MESSAGE",
        "owner": ACCOUNT,
        "logGroup": IOT_LOG_GROUP,
        "logStream": log_stream,
        "subscriptionFilters": [SUBSCRIPTION_FILTER],
        "logEvents": [{"id": event_id, "timestamp": millis, "message": text} for event_id, millis, text in events],
    }
    return gzip.compress(json.dumps(envelope, separators=(",", ":")).encode(), compresslevel=6, mtime=0)
