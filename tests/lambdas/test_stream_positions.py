"""How far the evaluator has read each shard, as the sweep finds it: a shard with a record still waiting
is at that record's arrival, a shard with none left is caught up at ``now``, a shard that cannot be
read keeps its recorded position, and a shard whose last counted record is past retention is read
from the records the event source may still deliver."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from iot_defender_runtime.adapters.stream_positions import (
    UNKNOWN_SHARD_LOOKBACK_SECONDS,
    ShardPosition,
    ShardProbe,
    StreamPositions,
    probe_stream,
)

NOW = 1_800_000_000.0


class FakeKinesis:
    def __init__(self, waiting: dict[str, float | None], fail: dict[str, str] | None = None, behind: float = 0) -> None:
        self.waiting, self.fail, self.iterators, self.behind = waiting, fail or {}, [], behind

    def get_shard_iterator(self, *, StreamARN: str, ShardId: str, **where: Any) -> dict[str, str]:  # noqa: N803
        self.iterators.append((ShardId, where))
        code = self.fail.get(ShardId)
        if (code and where["ShardIteratorType"] == "AFTER_SEQUENCE_NUMBER") or code == "ThrottlingException":
            raise ClientError({"Error": {"Code": code, "Message": "x"}}, "GetShardIterator")
        return {"ShardIterator": ShardId}

    def get_records(self, *, StreamARN: str, ShardIterator: str, Limit: int) -> dict[str, Any]:  # noqa: N803
        arrival = self.waiting[ShardIterator]
        records = [] if arrival is None else [{"ApproximateArrivalTimestamp": datetime.fromtimestamp(arrival, UTC)}]
        return {"Records": records, "MillisBehindLatest": int(self.behind * 1000)}


def probe(kinesis: FakeKinesis) -> ShardProbe:
    return ShardProbe("arn:aws:kinesis:us-east-1:123456789012:stream/datapoints", kinesis)


KNOWN = StreamPositions(
    ("a", "b"), {"a": ShardPosition("41", NOW - 500, 0.0), "b": ShardPosition("7", NOW - 900, NOW - 100)}
)


@pytest.mark.parametrize(
    ("waiting", "fail", "position", "caught_up"),
    [
        ({"a": None, "b": None}, {}, NOW, {"a": NOW, "b": NOW}),  # nothing left anywhere
        ({"a": NOW - 300, "b": None}, {}, NOW - 300, {"a": None, "b": NOW}),  # a backlog on shard a
        ({"a": None, "b": None}, {"b": "ThrottlingException"}, NOW - 100, {"a": NOW, "b": NOW - 100}),
    ],
)
def test_the_stream_is_as_far_as_its_slowest_shard(waiting, fail, position, caught_up):
    assert probe_stream(probe(FakeKinesis(waiting, fail)), KNOWN, NOW) == (position, caught_up)


def test_a_shard_whose_last_counted_record_is_past_retention_is_read_from_the_lookback():
    kinesis = FakeKinesis({"a": None, "b": None}, {"a": "InvalidArgumentException"})
    assert probe_stream(probe(kinesis), KNOWN, NOW)[0] == NOW
    assert ("a", {"ShardIteratorType": "AT_TIMESTAMP", "Timestamp": NOW - UNKNOWN_SHARD_LOOKBACK_SECONDS}) in (
        kinesis.iterators
    )


def test_a_shard_never_recorded_is_read_from_the_lookback():
    known = StreamPositions(("c",), {})
    kinesis = FakeKinesis({"c": NOW - 30})
    assert probe_stream(probe(kinesis), known, NOW) == (NOW - 30, {"c": None})


def test_an_empty_page_behind_the_latest_record_is_not_caught_up():
    kinesis = FakeKinesis({"a": None, "b": None}, behind=120)
    assert probe_stream(probe(kinesis), KNOWN, NOW) == (NOW - 120, {"a": None, "b": NOW - 100})


def test_closed_shards_are_listed_too():
    class Listing(FakeKinesis):
        def list_shards(self, **_: Any) -> dict[str, Any]:
            ranges = [{"StartingSequenceNumber": "1", "EndingSequenceNumber": "9"}, {"StartingSequenceNumber": "10"}]
            return {
                "Shards": [
                    {"ShardId": s, "SequenceNumberRange": r} for s, r in zip(("parent", "child"), ranges, strict=True)
                ]
            }

    assert probe(Listing({})).open_shards() == ["parent", "child"]
