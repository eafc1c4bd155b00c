"""When a window may be judged: by stream time, not by the clock of whoever judges it.

A datapoint reaches the stream at most ``MAX_CLOCK_SKEW_SECONDS`` after its own time (the promise
the clock skew allowance makes). So once every record that reached the stream before ``T`` has been
counted, every datapoint stamped before ``T - skew`` has been counted too, and windows that ended by
then are settled: judging them later could not change them.

- A batch has counted its shard up to its last record (the ``approximateArrivalTimestamp`` of the
  last record before any failed one). The topic rules partition the stream by thing, so for metrics
  from topic rules (telemetry, lifecycle events, agent reports) that is the thing's stream time.
- AWS IoT log entries reach the stream through CloudWatch Logs, which does not partition by client:
  a thing's authorization failures may come on any shard, so their stream time is the earliest
  position of all open shards (``iot_defender_runtime.adapters.stream_positions``).
- The sweep reads each shard to find how far the evaluator has got; during a backlog that is the
  arrival time of the first record still waiting, so a backlog delays judgements, never loses them.

Neither is later than the clock: ``now`` bounds both.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from iot_defender_runtime.model.detect_profiles import ProfileBehavior
from iot_defender_runtime.model.metric_catalog import MetricSource, ValueKind
from iot_defender_runtime.model.self_hosted_metrics import IOT_LOG_METRICS


@dataclass(frozen=True)
class BatchPosition:
    """The last record a batch counted on its shard."""

    shard: str
    sequence: str
    arrival: float


@dataclass(frozen=True)
class Settled:
    """Windows ending by these times are judged: ``thing`` for metrics from topic rules, ``stream``
    for metrics from AWS IoT logs."""

    thing: float
    stream: float

    def for_behavior(self, behavior: ProfileBehavior) -> float:
        return self.stream if behavior.definition.metric in IOT_LOG_METRICS else self.thing


def fills_empty(behavior: ProfileBehavior) -> bool:
    """Cloud-side counts: AWS IoT sees every message, connection and failure, so a window with no
    datapoint had none, and is judged as 0. A device-side metric without a report has no value."""
    spec = behavior.spec
    return spec.source is MetricSource.CLOUD and spec.value_kind is ValueKind.COUNT


def needs_stream_position(behaviors: Sequence[ProfileBehavior]) -> bool:
    return any(b.definition.metric in IOT_LOG_METRICS for b in behaviors)


def batch_position(records: Sequence[Mapping[str, Any]]) -> BatchPosition | None:
    """The batch's last record with an arrival time (a shard delivers in order): every record that
    reached the shard before it has been read. A record that failed counts too: it can never add a
    datapoint, however often Kinesis retries it."""
    last = None
    for record in records:
        kinesis = record.get("kinesis") if isinstance(record, Mapping) else None
        if not isinstance(kinesis, Mapping):
            continue
        sequence, arrival = kinesis.get("sequenceNumber"), kinesis.get("approximateArrivalTimestamp")
        if not isinstance(sequence, str) or isinstance(arrival, bool) or not isinstance(arrival, int | float):
            continue
        if math.isfinite(arrival) and (last is None or arrival >= last.arrival):
            event_id = record.get("eventID", "")
            shard = event_id.split(":", 1)[0] if isinstance(event_id, str) and ":" in event_id else ""
            last = BatchPosition(shard, sequence, float(arrival))
    return last


def unique_records(records: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The batch without a record delivered twice in it (same shard and sequence number): counted once."""
    seen: set[Any] = set()
    kept = []
    for record in records:
        kinesis = record.get("kinesis") if isinstance(record, Mapping) else None
        key = (record.get("eventID"), kinesis.get("sequenceNumber")) if isinstance(kinesis, Mapping) else None
        if key is not None and key[1] is not None:
            if key in seen:
                continue
            seen.add(key)
        kept.append(record)
    return kept
