"""A thing's windows are judged by its own shard's position only in a batch of its own shard: a batch
that carries the thing through AWS IoT log entries alone (CloudWatch Logs records land on any shard)
judges them by the earliest open shard's position, so a lagging own shard does not make its
datapoints late (found by the Detect lab: a BytesOut datapoint dropped as late in a replay)."""

from __future__ import annotations

from iot_defender_runtime.detect_evaluator.batch import _for_thing
from iot_defender_runtime.detect_evaluator.records import ParsedRecord
from iot_defender_runtime.detect_evaluator.stream_time import Settled
from iot_defender_runtime.evaluation.engine import Datapoint

SETTLED = Settled(thing=1_000.0, stream=400.0)


def _record(metric: str) -> ParsedRecord:
    return ParsedRecord("meter-7", metric, Datapoint(1.0, 1), "shardId-000000000001", 1)


def test_a_thing_on_its_own_shard_keeps_the_batchs_position() -> None:
    records = [_record("aws:num-messages-sent"), _record("aws:num-authorization-failures")]
    assert _for_thing(SETTLED, records) == SETTLED


def test_a_thing_seen_through_iot_logs_alone_is_judged_by_the_stream() -> None:
    records = [_record("aws:num-authorization-failures"), _record("aws:num-messages-received")]
    assert _for_thing(SETTLED, records) == Settled(thing=400.0, stream=400.0)
