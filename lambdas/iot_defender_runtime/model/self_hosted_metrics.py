"""Where self-hosted Detect gets each metric, and what each costs: the one table that the
``SelfHostedDetect`` construct checks behaviors against and the README prints
(``python -m iot_defender_runtime.model.self_hosted_metrics``). Plain data: no aws_cdk.

Costs are named by what drives them, not priced: prices vary by region and change; see the AWS IoT
Core, Kinesis Data Streams, Lambda, DynamoDB and CloudWatch Logs pricing pages.
"""

from __future__ import annotations

from dataclasses import dataclass

from iot_defender_runtime.model.metric_catalog import AWS_METRICS, DurationRule, MetricSource

TELEMETRY_METRIC = "aws:num-messages-sent"
MESSAGE_SIZE_METRIC = "aws:message-byte-size"
AUTHORIZATION_FAILURES_METRIC = "aws:num-authorization-failures"
MESSAGES_RECEIVED_METRIC = "aws:num-messages-received"
IOT_LOG_METRICS = (AUTHORIZATION_FAILURES_METRIC, MESSAGES_RECEIVED_METRIC)
LIFECYCLE_METRICS = {
    "aws:num-connection-attempts": ("$aws/events/presence/connected/+", "1"),
    "aws:num-disconnects": ("$aws/events/presence/disconnected/+", "1"),
    "aws:source-ip-address": ("$aws/events/presence/connected/+", "ipAddress"),
}
DISCONNECT_DURATION_METRIC = "aws:disconnect-duration"
"""From lifecycle records (``iot_defender_runtime/model/lifecycle.py``), not datapoint records: the
evaluator keeps each thing's connection state and takes the datapoint
(``iot_defender_runtime/evaluation/disconnect_duration.py``)."""
TOPIC_METRICS = (TELEMETRY_METRIC, MESSAGE_SIZE_METRIC, MESSAGES_RECEIVED_METRIC, AUTHORIZATION_FAILURES_METRIC)
"""The metrics whose datapoints carry their MQTT topic (the telemetry rules' ``topic()``, the IoT log
entries' ``topicName``), so a TOPIC_FILTER dimension can scope them: every metric that takes a dimension."""
DEVICE_METRICS = tuple(spec.name for spec in AWS_METRICS if spec.source is MetricSource.DEVICE)

_RULE_PER_MESSAGE = "1 topic rule action and 1 Kinesis record per message"
_AGENT_REPORT = "1 agent report (a message, 1 rule action, 1 Kinesis record) per report interval, all metrics in it"


@dataclass(frozen=True)
class Ingestion:
    metric: str
    source: str
    cost: str


_DIMENSION = "; a dimension (TOPIC_FILTER) matches each datapoint's topic ({})"
INGESTION: tuple[Ingestion, ...] = (
    Ingestion(
        TELEMETRY_METRIC,
        "telemetry topic rules (`telemetry_topic_filters`)"
        + _DIMENSION.format("`topic()`; only topics under `telemetry_topic_filters` are seen"),
        _RULE_PER_MESSAGE,
    ),
    Ingestion(
        MESSAGE_SIZE_METRIC,
        "the same telemetry rules, with the payload's base64 length" + _DIMENSION.format("`topic()`"),
        "nothing more than messages sent when both are used, else the same",
    ),
    Ingestion(
        "aws:num-connection-attempts",
        "lifecycle events: successful connects only (failed attempts publish no event)",
        "1 rule action and 1 Kinesis record per connect",
    ),
    Ingestion("aws:num-disconnects", "lifecycle events", "1 rule action and 1 Kinesis record per disconnect"),
    Ingestion(
        DISCONNECT_DURATION_METRIC,
        "lifecycle events (connect and disconnect, ordered by `versionNumber`, `sessionIdentifier` and `timestamp`): "
        "0 while connected, whole minutes since the disconnect while disconnected, at each event and each sweep",
        "1 rule action and 1 Kinesis record per connect and per disconnect",
    ),
    Ingestion(
        "aws:source-ip-address", "lifecycle events (the connect's `ipAddress`)", "shares the connect rule's record"
    ),
    Ingestion(
        MESSAGES_RECEIVED_METRIC,
        "AWS IoT logs: successful `Publish-Out` entries, which AWS IoT writes at `INFO` level only, through a "
        "CloudWatch Logs subscription filter" + _DIMENSION.format("the entry's `topicName`"),
        "CloudWatch Logs ingestion of an INFO log entry per message delivered (INFO logging logs much more than "
        "this), and 1 Kinesis record per delivered log batch",
    ),
    Ingestion(
        AUTHORIZATION_FAILURES_METRIC,
        "AWS IoT logs (v2, `ERROR` or more verbose) through a CloudWatch Logs subscription filter"
        + _DIMENSION.format("the entry's `topicName`; a failure without one, such as a connect's, is in no scope"),
        "CloudWatch Logs ingestion of the IoT log entries, and 1 Kinesis record per delivered log batch",
    ),
    *(Ingestion(metric, "Device Defender agent reports", _AGENT_REPORT) for metric in DEVICE_METRICS),
)
SUPPORTED_METRICS = tuple(i.metric for i in INGESTION)
CLOUD_METRICS = tuple(i.metric for i in INGESTION if i.metric not in DEVICE_METRICS)
_SPECS = {spec.name: spec for spec in AWS_METRICS}


def state_writes(metric: str) -> str:
    """State writes for a thing that stays normal: none for a metric judged per datapoint; the open
    window's total for a windowed one, once per batch that carries the thing's datapoints; the
    connection state for disconnect duration, once per connect and per disconnect."""
    if metric == DISCONNECT_DURATION_METRIC:
        return "1 per connect and 1 per disconnect (the connection state)"
    if _SPECS[metric].duration is DurationRule.NONE or _SPECS[metric].value_kind.value != "count":
        return "none"
    return "1 per batch with its datapoints (one item holds all the thing's behaviors)"


def support_markdown() -> str:
    lines = [
        "| metric | managed Detect | self-hosted: where it comes from | self-hosted: what each datapoint costs "
        "| state writes, steady normal thing |",
        "|---|---|---|---|---|",
    ]
    for spec in AWS_METRICS:
        found = next((i for i in INGESTION if i.metric == spec.name), None)
        if found is None:
            lines.append(f"| `{spec.name}` | yes | not ingested | | |")
            continue
        lines.append(f"| `{spec.name}` | yes | {found.source} | {found.cost} | {state_writes(spec.name)} |")
    lines.append(
        f"| custom metrics | yes | Device Defender agent reports (`custom_metrics`) | {_AGENT_REPORT} | none |"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    print(support_markdown())
