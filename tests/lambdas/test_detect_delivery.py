"""No alarm lost or invented by delivery: the datapoints of one window, split over batches, retried by
Kinesis, held in a backlog, or delivered twice in one batch, raise exactly the alarms they raise in one
batch. Driven through the handler on moto (the sweep reads a moto Kinesis stream)."""

from __future__ import annotations

import base64
import gzip
import json
import math
import time
from typing import Any

import boto3
import pytest

from iot_defender_runtime.adapters.sns_notifier import Notifier
from iot_defender_runtime.detect_evaluator import handler
from tests.lambdas.conftest import REGION
from tests.lambdas.test_detect_evaluator import T0, at_most, iot_log_event, kinesis_record, with_profile

LIMIT = at_most("Probing", "aws:num-authorization-failures", 5)  # at most 5 failures per 5 minutes
END = T0 + 300  # the window [T0, T0 + 300)
SHARD = "shardId-000000000000"


def failures(sequence: str, things: list[str], stamps: list[float], arrival: float) -> dict[str, Any]:
    """A CloudWatch Logs record of authorization failures (one per thing and stamp) that reached the
    stream at ``arrival``."""
    events = [iot_log_event(f"{sequence}-{t}-{i}", t, s - T0) for t in things for i, s in enumerate(stamps)]
    envelope = {"messageType": "DATA_MESSAGE", "logGroup": "AWSIotLogsV2", "logEvents": events}
    record = kinesis_record(sequence, gzip.compress(json.dumps(envelope).encode()), arrival=arrival)
    return {**record, "eventID": f"{SHARD}:{sequence}"}


THINGS = [f"probe-{i}" for i in range(100)]
FIRST_HALF = [END - 20, END - 15, END - 10, END - 5]  # 4 failures each
SECOND_HALF = [END - 4, END - 3, END - 2, END - 1]  # 4 more: 8 > 5


def alarms(world) -> list[str]:
    return sorted(m["thingName"] for m in world.notifications() if m["violationEventType"] == "in-alarm")


@pytest.fixture
def probing(world, monkeypatch):
    with_profile(monkeypatch, LIMIT)
    return world


def test_one_batch_raises_one_alarm_per_thing(probing):
    batch = [failures("1", THINGS, FIRST_HALF + SECOND_HALF, arrival=END + 8)]
    handler.evaluate_batch(batch, now=END + 8)
    handler.sweep(now=END + 61)
    assert alarms(probing) == sorted(THINGS)


def test_split_batches_five_and_eight_seconds_after_the_window_end_raise_the_same_alarms(probing):
    handler.evaluate_batch([failures("1", THINGS, FIRST_HALF, arrival=END + 5)], now=END + 5)
    handler.evaluate_batch([failures("2", THINGS, SECOND_HALF, arrival=END + 8)], now=END + 8)
    assert alarms(probing) == []  # not settled yet: datapoints may still be in flight
    handler.sweep(now=END + 61)
    published = probing.notifications()
    assert sorted(m["thingName"] for m in published) == sorted(THINGS)  # one each
    assert {json.dumps(m["metricValue"]) for m in published} == {'{"count": 8}'}
    handler.sweep(now=END + 400)  # the next window settled empty: no failure is normal again
    assert {m["violationEventType"] for m in probing.notifications()} == {"alarm-cleared"}


def test_a_batch_retried_after_a_publish_failure_raises_each_alarm_once(probing, monkeypatch):
    handler.evaluate_batch([failures("1", THINGS, FIRST_HALF, arrival=END + 5)], now=END + 5)
    # The second half arrives late enough to settle the window, and SNS fails after 35 alarms
    second = [failures("2", THINGS, SECOND_HALF, arrival=END + 65)]
    publish, calls = Notifier.publish, {"n": 0}

    def failing_after_35(self, subject, message):
        calls["n"] += 1
        if calls["n"] > 35:
            raise RuntimeError("SNS throttled")
        publish(self, subject, message)

    monkeypatch.setattr(Notifier, "publish", failing_after_35)
    with pytest.raises(RuntimeError):
        handler.evaluate_batch(second, now=END + 65)
    monkeypatch.setattr(Notifier, "publish", publish)
    handler.evaluate_batch(second, now=END + 70)  # Kinesis retries the batch 5 s later
    handler.sweep(now=END + 400)
    assert alarms(probing) == sorted(THINGS)  # 35 before the failure, 65 on retry


def test_a_record_delivered_twice_in_one_batch_counts_once(probing):
    record = failures("1", ["probe-0"], [END - 30, END - 20, END - 10], arrival=END + 5)
    handler.evaluate_batch([record, record], now=END + 5)  # 3 failures, not 6
    handler.sweep(now=END + 61)
    assert alarms(probing) == []


def _stream_records(kinesis, stream_arn: str) -> list[dict[str, Any]]:
    """The stream's records as the Lambda event source delivers them."""
    iterator = kinesis.get_shard_iterator(StreamARN=stream_arn, ShardId=SHARD, ShardIteratorType="TRIM_HORIZON")
    found = kinesis.get_records(StreamARN=stream_arn, ShardIterator=iterator["ShardIterator"])["Records"]
    return [
        {
            "kinesis": {
                "partitionKey": r["PartitionKey"],
                "sequenceNumber": r["SequenceNumber"],
                "data": base64.b64encode(r["Data"]).decode(),
                "approximateArrivalTimestamp": r["ApproximateArrivalTimestamp"].timestamp(),
            },
            "eventID": f"{SHARD}:{r['SequenceNumber']}",
            "eventSource": "aws:kinesis",
        }
        for r in found
    ]


def test_after_a_30_minute_backlog_the_sweep_waits_for_the_records_still_in_the_stream(world, monkeypatch):
    # 100 things, 4 + 3 failures each against a limit of 5, in two records read 30 minutes late
    # The records reach a (moto) stream now; the evaluator reads them 30 minutes later
    with_profile(monkeypatch, LIMIT)
    kinesis = boto3.client("kinesis", region_name=REGION)
    kinesis.create_stream(StreamName="datapoints", ShardCount=1)
    stream_arn = kinesis.describe_stream_summary(StreamName="datapoints")["StreamDescriptionSummary"]["StreamARN"]
    monkeypatch.setenv("STREAM_ARN", stream_arn)
    handler.clear_caches()
    # Failures stamped in the current window, just before they reach the stream (real time, as moto
    # stamps arrivals); the window ends within 5 minutes, the evaluator reads them 30 minutes later.
    now = time.time()
    end = math.floor(now / 300) * 300 + 300
    base = max(end - 299, now - 20)
    stamped = [base + i for i in range(7)]
    for sequence, stamps in (("1", stamped[:4]), ("2", stamped[4:])):
        events = [iot_log_event(f"{sequence}-{t}-{i}", t, s - T0) for t in THINGS for i, s in enumerate(stamps)]
        envelope = {"messageType": "DATA_MESSAGE", "logGroup": "AWSIotLogsV2", "logEvents": events}
        kinesis.put_record(
            StreamName="datapoints", Data=gzip.compress(json.dumps(envelope).encode()), PartitionKey=sequence
        )
    first, second = _stream_records(kinesis, stream_arn)
    backlog = end + 1800
    handler.evaluate_batch([first], now=backlog)
    handler.sweep(now=backlog + 1)  # the second record is still in the stream: the window is not settled
    assert alarms(world) == []
    handler.evaluate_batch([second], now=backlog + 2)
    handler.sweep(now=backlog + 3)  # nothing left to read: judged with all 7 failures of each thing
    published = world.notifications()  # and the empty windows since then clear each alarm
    alarmed = [m for m in published if m["violationEventType"] == "in-alarm"]
    assert sorted(m["thingName"] for m in alarmed) == sorted(THINGS)
    assert {(json.dumps(m["metricValue"]), m["violationEventTime"]) for m in alarmed} == {('{"count": 7}', end * 1000)}
    cleared = {m["violationId"] for m in published if m["violationEventType"] == "alarm-cleared"}
    assert cleared == {m["violationId"] for m in alarmed}
